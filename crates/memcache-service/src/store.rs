//! The storage seam: what a memcache backend provides.
//!
//! Every operation is one atomic step on one key: a backend must not let two
//! workers interleave inside `store`, `fetch` (with touch or vivify),
//! `delete` or `arithmetic` on the same key. The classic commands are special
//! cases of these operations (`gat` is a fetch with touch, `cas` a store
//! with a CAS to compare), as in memcached itself.
//!
//! Each operation takes a request ([`FetchRequest`], [`StoreRequest`],
//! [`DeleteRequest`], [`ArithmeticRequest`]) and says what happened
//! ([`Fetched`], [`Stored`], [`Deleted`], [`Counted`]); any of them can fail
//! with a [`StorageError`]. What to decide for an item lives in
//! the service's `rules` module, so a backend only reads, locks, writes and
//! deletes.
//!
//! Time is passed in (`now`, seconds since the Unix epoch), so that a
//! backend is deterministic and can be tested without waiting. What a
//! store reports (its figures, the items it evicts) is in `report.rs`.

pub use petrel_protocol_memcache::StoreMode;

use crate::expiry::Expiry;
use crate::report::StorageStats;

/// What a store keeps about an item besides its key and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemInfo {
    /// Client flags.
    pub flags: u32,
    /// CAS value: unique, and increasing over the store's life.
    pub cas: u64,
    /// When it expires.
    pub expiry: Expiry,
    /// Length of the value.
    pub size: u64,
}

/// What a store keeps about an item besides its key and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemMeta {
    /// Client flags.
    pub flags: u32,
    /// When it expires.
    pub expiry: Expiry,
    /// CAS value.
    pub cas: u64,
    /// When the value was last written (decides `flush_all` with a delay).
    pub stored_at: u64,
    /// When it was last read (meta `l`), kept to a minute
    /// (`rules::ACCESS_UPDATE_INTERVAL`).
    pub last_access: u64,
    /// Marked stale by an invalidating delete (meta `X`).
    pub stale: bool,
    /// The right to recache it has been given out (meta `W`, then `Z`).
    pub win_sent: bool,
    /// Read since it was written (meta `h`).
    pub fetched: bool,
}

impl ItemMeta {
    /// A fresh item's metadata, its CAS still to be filled in.
    pub fn new(flags: u32, expiry: Expiry, now: u64) -> Self {
        Self {
            flags,
            expiry,
            cas: 0,
            stored_at: now,
            last_access: now,
            stale: false,
            win_sent: false,
            fetched: false,
        }
    }

    /// What the protocol sees, for a value of `size` bytes.
    pub fn info(&self, size: usize) -> ItemInfo {
        ItemInfo { flags: self.flags, cas: self.cas, expiry: self.expiry, size: size as u64 }
    }

    /// The answer to a fetch that found it.
    pub fn found(&self, size: usize, won: bool, already_won: bool, now: u64) -> Found {
        Found {
            info: self.info(size),
            stale: self.stale,
            won,
            already_won,
            fetched_before: self.fetched,
            idle_seconds: now.saturating_sub(self.last_access),
        }
    }
}

/// Live items of a store, a part at a time, from a view fixed when the
/// cursor was made: what a dump reads.
pub trait ItemCursor: Send {
    /// Calls `visit` with the items live at `now` (key, metadata, value
    /// length), in order, until `visit` answers false (the part is full:
    /// the next part goes on after that item) or no item is left
    /// ([`Walk::End`]). A cursor may also end a part early, after looking
    /// at a bounded number of entries that are no live item (expired,
    /// flushed), so that its worker serves others meanwhile. Between parts a
    /// cursor holds nothing that pins the store's files (no open iterator):
    /// a dump whose client stops reading holds no disk.
    fn next_part(&mut self, now: u64, visit: &mut dyn FnMut(&[u8], &ItemMeta, usize) -> bool) -> Walk;
}

/// Whether a cursor has items left after a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// Ask for the next part.
    More,
    /// No item left.
    End,
}

/// A fetch, with the item changes the meta get flags ask for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchRequest {
    /// Set the expiry on a hit (`gat`, `touch`, meta `T`).
    pub touch: Option<Expiry>,
    /// On a miss, create an empty item with this expiry, and win (meta `N`).
    pub vivify: Option<Expiry>,
    /// Win the recache when fewer seconds than this remain (meta `R`).
    pub recache_below: Option<i64>,
    /// The CAS value to give the item if this fetch modifies it (meta `E`).
    pub new_cas: Option<u64>,
    /// Leave access time and "fetched" untouched (meta `u`).
    pub no_bump: bool,
}

/// An item found by a fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// Its metadata, after the fetch's changes.
    pub info: ItemInfo,
    /// Marked stale by an invalidating delete (meta `X`).
    pub stale: bool,
    /// This fetch won the right to recache it (meta `W`).
    pub won: bool,
    /// Another fetch already won (meta `Z`).
    pub already_won: bool,
    /// Fetched before this fetch (meta `h`).
    pub fetched_before: bool,
    /// Seconds since the previous access (meta `l`).
    pub idle_seconds: u64,
}

/// The result of a fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// Found (the value was appended to the buffer given).
    Hit(Found),
    /// Not there: never stored, deleted, evicted, flushed or expired.
    Miss {
        /// It was there but had expired.
        expired: bool,
    },
}

/// A store request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreRequest {
    /// How to treat an existing item.
    pub mode: StoreMode,
    /// Client flags.
    pub flags: u32,
    /// Expiry of the new item.
    pub expiry: Expiry,
    /// Store only if the item's CAS equals this (`cas`, meta `C`).
    pub compare_cas: Option<u64>,
    /// With `compare_cas`: accept an older CAS and mark the item stale (meta `I`).
    pub invalidate: bool,
    /// Give the item this CAS value (meta `E`).
    pub new_cas: Option<u64>,
    /// Append/prepend on a miss creates the item with this expiry (meta `N`).
    pub vivify: Option<Expiry>,
    /// Largest value the result may have; a larger result is `TooLarge`.
    pub max_size: usize,
}

impl StoreRequest {
    /// A plain `set`: store whatever is there, with these flags and expiry.
    pub fn set(flags: u32, expiry: Expiry, max_size: usize) -> Self {
        StoreRequest {
            mode: StoreMode::Set,
            flags,
            expiry,
            compare_cas: None,
            invalidate: false,
            new_cas: None,
            vivify: None,
            max_size,
        }
    }
}

/// The result of a store request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Stored, with this CAS value and value size.
    Stored {
        /// The new CAS value.
        cas: u64,
        /// The stored value's size.
        size: u64,
    },
    /// The mode's condition did not hold (add of a present key, ...).
    NotStored,
    /// The CAS did not match.
    Exists,
    /// A CAS was given and there is no item.
    NotFound,
    /// The result would exceed `max_size` (append, prepend).
    TooLarge,
}

/// A delete request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeleteRequest {
    /// Delete only if the item's CAS equals this (meta `C`).
    pub compare_cas: Option<u64>,
    /// Instead of deleting, mark stale and give a new CAS (meta `I`).
    pub invalidate: bool,
    /// With `invalidate`: the new expiry (meta `T`).
    pub touch: Option<Expiry>,
    /// Empty the value but keep the item (meta `x`).
    pub remove_value: bool,
    /// The CAS to give an item that is kept (meta `E`).
    pub new_cas: Option<u64>,
}

/// The result of a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Deleted (or invalidated, or emptied).
    Deleted,
    /// No such item.
    NotFound,
    /// The CAS did not match.
    Exists,
}

/// An `incr`/`decr` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArithmeticRequest {
    /// Add (wrapping at 2^64) or subtract (stopping at 0).
    pub increment: bool,
    /// The amount.
    pub delta: u64,
    /// Only if the item's CAS equals this (meta `C`).
    pub compare_cas: Option<u64>,
    /// The CAS to give the item (meta `E`).
    pub new_cas: Option<u64>,
    /// On a miss, create the item with this initial value and expiry (meta `N`, `J`).
    pub vivify: Option<(u64, Expiry)>,
    /// On success, set this expiry (meta `T`).
    pub touch: Option<Expiry>,
}

/// The result of `incr`/`decr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// The new value and the item's metadata.
    Value(u64, ItemInfo),
    /// No such item.
    NotFound,
    /// The CAS did not match.
    Exists,
    /// The value is not a decimal 64-bit unsigned number.
    NonNumeric,
}

/// Any storage operation's failure (a read's too): the reply says
/// `SERVER_ERROR <reply>`; `detail` is for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError {
    /// The text after `SERVER_ERROR `.
    pub reply: &'static str,
    /// What happened, for the log.
    pub detail: String,
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reply, self.detail)
    }
}

impl std::error::Error for StorageError {}

/// A memcache backend. Shared by all workers; each operation is atomic per key.
///
/// What belongs to one worker (an encode buffer, the writes of its round not
/// yet made durable) lives in a [`Storage::Worker`], which the worker's
/// service creates once and passes to every operation: per-worker state is
/// owned, never hidden in thread-locals.
///
/// A store may hold a worker's writes until its [`commit`](Storage::commit):
/// the worker's own operations see them at once, other workers may see them
/// only from the commit on, and a worker dropped before its commit may lose
/// them (they were never acknowledged).
pub trait Storage: Send + Sync + 'static {
    /// One worker's state in its use of the store.
    type Worker: Send + 'static;

    /// A worker's state, created once per worker.
    fn worker(&self) -> Self::Worker;

    /// Runs `op` as a round of its own: with a new worker, committed before
    /// it returns. For callers outside a worker's loop: tools and tests.
    fn one_off<R>(
        &self,
        op: impl FnOnce(&Self, &mut Self::Worker) -> Result<R, StorageError>,
    ) -> Result<R, StorageError>
    where
        Self: Sized,
    {
        let mut worker = self.worker();
        let outcome = op(self, &mut worker);
        self.commit(&mut worker)?;
        outcome
    }

    /// Looks up `key`; on a hit appends the value to `value` (if given) and
    /// applies the fetch's changes.
    fn fetch(
        &self,
        worker: &mut Self::Worker,
        key: &[u8],
        fetch: FetchRequest,
        value: Option<&mut Vec<u8>>,
        now: u64,
    ) -> Result<Fetched, StorageError>;

    /// Stores `value` under `key` as `request` says.
    fn store(
        &self,
        worker: &mut Self::Worker,
        key: &[u8],
        value: &[u8],
        request: StoreRequest,
        now: u64,
    ) -> Result<Stored, StorageError>;

    /// Deletes (or invalidates) `key`.
    fn delete(
        &self,
        worker: &mut Self::Worker,
        key: &[u8],
        request: DeleteRequest,
        now: u64,
    ) -> Result<Deleted, StorageError>;

    /// Increments or decrements the number stored under `key`.
    fn arithmetic(
        &self,
        worker: &mut Self::Worker,
        key: &[u8],
        request: ArithmeticRequest,
        now: u64,
    ) -> Result<Counted, StorageError>;

    /// Invalidates every item stored before `at` (a Unix time; `at <= now`
    /// means at once), keeping what is stored afterwards.
    fn flush_all(&self, worker: &mut Self::Worker, at: u64, now: u64) -> Result<(), StorageError>;

    /// Every item, from a view of the store fixed now, for a key dump
    /// (`lru_crawler metadump`): the cursor skips items that are not live
    /// when it reaches them, and must not hold up writers while it lives.
    fn items(&self) -> Box<dyn ItemCursor>;

    /// The store's figures now. Called before stats are read, so a backend
    /// may also bring its own metrics up to date here.
    fn stats(&self) -> StorageStats;

    /// Makes durable the writes `worker` made since its last commit, before
    /// their replies leave (see `petrel_protocol::Service::commit`). A store
    /// that makes each write durable as it happens has nothing to do.
    fn commit(&self, worker: &mut Self::Worker) -> Result<(), StorageError> {
        let _ = worker;
        Ok(())
    }

    /// How many of `worker`'s writes so far were left for a commit to make
    /// durable. The service compares it before and after a request to tell
    /// whether a failed commit must withdraw the request's reply. A store
    /// whose writes are durable as they happen (its commit has nothing to
    /// do, so cannot fail) counts none.
    fn writes(&self, worker: &Self::Worker) -> u64 {
        let _ = worker;
        0
    }
}
