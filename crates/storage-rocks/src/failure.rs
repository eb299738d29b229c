//! The store's failures as the protocol answers them (`SERVER_ERROR ...`).

use metriken::{Counter, metric};
use petrel_memcache_service::StorageError;

#[metric(
    name = "write_stalls",
    description = "writes refused with SERVER_ERROR 307 busy because RocksDB stalled writes (flushes or merges behind)"
)]
static WRITE_STALLS: Counter = Counter::new();

pub(crate) fn failure(detail: String) -> StorageError {
    StorageError { reply: "storage failure", detail }
}

pub(crate) fn read_failure(error: rocksdb::Error) -> StorageError {
    StorageError { reply: "storage read failed", detail: error.to_string() }
}

/// A failed write. One refused because RocksDB is stalling writes (its
/// memtables or files wait for flushes and merges; only with
/// `write_stall = "busy"`) is answered the way mcrouter reads as busy, so
/// that a router can fail over.
pub(crate) fn write_failure(error: rocksdb::Error) -> StorageError {
    match error.kind() {
        rocksdb::ErrorKind::Incomplete => busy(),
        _ => StorageError { reply: "storage write failed", detail: error.to_string() },
    }
}

/// A write refused because RocksDB stalls writes.
pub(crate) fn busy() -> StorageError {
    WRITE_STALLS.increment();
    StorageError { reply: "307 busy", detail: "RocksDB is stalling writes".into() }
}
