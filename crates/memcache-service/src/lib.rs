//! Executing memcache requests against a store: what a memcache server
//! does between the wire (`petrel-protocol-memcache`) and its storage.
//!
//! - [`Storage`] is what a backend provides (fetch, store, delete,
//!   arithmetic, flush), each atomic per key, with every type of the seam
//!   in `store.rs`; a store reports its figures and evictions through
//!   `report.rs`. [`rules`] holds memcached's item rules, which every
//!   backend applies rather than restating; [`MemoryStorage`] is the
//!   in-memory reference backend.
//! - [`MemcacheService`] executes requests against any [`Storage`] (text,
//!   meta and binary through the same fetch and store paths) and counts
//!   them under memcached's stats names.
//! - [`Watchers`] are a server's `watch` streams: created once by the
//!   server, handed to every worker's service and to the store.
//!
//! ```
//! use std::sync::Arc;
//! use petrel_metrics::ServerInfo;
//! use petrel_memcache_service::{MemcacheService, MemoryStorage, Watchers};
//! use petrel_protocol::{Protocol, Service};
//! use petrel_protocol_memcache::{ConnectionState, Limits, Memcache};
//!
//! let protocol = Memcache::default();
//! let mut state = ConnectionState::default();
//! let storage = Arc::new(MemoryStorage::new());
//! let info = Arc::new(ServerInfo::new("example 1.0", 1));
//! let mut service = MemcacheService::new(storage, Limits::default(), info, &Watchers::new());
//! let mut out = Vec::new();
//! for input in [&b"set greeting 5 0 5\r\nhello\r\n"[..], b"get greeting\r\n"] {
//!     let parsed = protocol.parse(&mut state, input).unwrap();
//!     let executed = service.execute(parsed.message);
//!     protocol.compose(&executed.response, &mut out);
//! }
//! assert_eq!(out, b"STORED\r\nVALUE greeting 5 5\r\nhello\r\nEND\r\n");
//! ```

mod expiry;
mod key_dump;
mod memory;
mod report;
pub mod rules;
mod service;
mod store;
mod watchers;

pub use expiry::{Clock, Expiry, MAX_RELATIVE_EXPTIME, unix_now};
pub use key_dump::KeyDump;
pub use memory::MemoryStorage;
pub use report::{Eviction, EvictionLog, NoEvictionLog, StorageStats};
pub use service::{MemcacheService, RESPONSE_PART};
pub use store::{
    ArithmeticRequest, Counted, DeleteRequest, Deleted, FetchRequest, Fetched, Found, ItemCursor, ItemInfo,
    ItemMeta, Storage, StorageError, StoreMode, StoreRequest, Stored, Walk,
};
pub use watchers::{MAX_WATCHERS, Watchers};
