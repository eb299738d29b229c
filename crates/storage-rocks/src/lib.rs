//! RocksDB storage for Petrel's memcache server.
//!
//! The store itself arrives with the persistent memcache server; for now this
//! crate proves the RocksDB build and link (see `scripts/setup`).

#[cfg(test)]
mod tests {
    #[test]
    fn rocksdb_round_trips_a_value_through_a_real_directory() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = rocksdb::DB::open_default(dir.path()).unwrap();
            db.put(b"key", b"value").unwrap();
        }
        let db = rocksdb::DB::open_default(dir.path()).unwrap();
        assert_eq!(db.get(b"key").unwrap().as_deref(), Some(&b"value"[..]));
    }
}
