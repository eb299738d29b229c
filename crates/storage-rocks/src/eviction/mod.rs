//! Eviction: bounded disk, hot items kept.
//!
//! RocksDB's FIFO compaction drops the oldest table file whole once the
//! files exceed the capacity. Around that, this module runs S3-FIFO's
//! policy over files:
//!
//! - [`policy`]: the policy's memory, per key hash: reads since written,
//!   past probation or not, and a ghost of newcomers dropped unread. The
//!   request path tells it `on_read` and `on_write`; merges and retirement
//!   ask it what to keep.
//! - [`journal`]: which keys were written when, in records written with
//!   the items, so that the keys of a file about to go can be read.
//! - `retirement`: the eviction thread. Before the oldest files go it
//!   settles their items, writing again those read since written
//!   (`reinsertion`) and counting the rest as evicted; it also tells the
//!   policy when the store is nearly full.
//! - `merging`: the merge thread, which merges each flushed file once,
//!   shortly after it was flushed, when enough of it would go
//!   (`drop_estimate`); `filter` is the compaction filter a merge runs
//!   every item through: it drops expired and flushed items, and unread
//!   newcomers while the store is nearly full (probation).
//! - `ledger`: what eviction did, counted once per store, and each evicted
//!   item named to the store's eviction log (`watch evictions`).
//! - `versions`: whether RocksDB's files changed, so that the threads work
//!   only when they did.
//!
//! The request path uses the policy and the journal; nothing here uses the
//! request path (`storage.rs`, `read.rs`, `write.rs`, `pending.rs`,
//! `dump.rs`). What both use lives beside them: the stripes, the item
//! cache, the flush horizon, the key hash, and `Shared`
//! that holds them. So the policy, the merges and the thresholds can change
//! without touching the request path; docs/storage.md gives the design and
//! its invariants.

mod drop_estimate;
mod filter;
pub(crate) mod journal;
mod ledger;
pub(crate) mod merging;
pub(crate) mod policy;
mod reinsertion;
mod retirement;
mod versions;

pub(crate) use filter::drop_dead_items;
pub(crate) use journal::Journal;
pub(crate) use ledger::Ledger;
pub(crate) use merging::Merger;
pub(crate) use policy::Policy;
pub(crate) use retirement::Retirement;
