//! The in-memory reference store passes the conformance suite.

#[test]
fn memory_storage_conforms() {
    petrel_memcache_conformance::run_all(petrel_memcache_service::MemoryStorage::new);
}
