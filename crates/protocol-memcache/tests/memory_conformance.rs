//! The in-memory reference store passes the conformance suite.

#[test]
fn memory_storage_conforms() {
    petrel_protocol_memcache::conformance::run_all(petrel_protocol_memcache::MemoryStorage::new);
}
