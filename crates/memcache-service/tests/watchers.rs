//! The watchers belong to the server that made them: two servers in one
//! process (two `Watchers`) never see each other's events, and every
//! service given the same `Watchers` publishes to the same watchers.

use std::sync::Arc;

use petrel_memcache_service::{Eviction, EvictionLog, MemcacheService, MemoryStorage, Watchers};
use petrel_metrics::ServerInfo;
use petrel_protocol::{Protocol, ResponseStream, Service, Streamed};
use petrel_protocol_memcache::{ConnectionState, Limits, Memcache};

fn service(watchers: &Watchers) -> MemcacheService<MemoryStorage> {
    let info = Arc::new(ServerInfo::new("test", 1));
    MemcacheService::new(Arc::new(MemoryStorage::new()), Limits::default(), info, watchers)
}

/// Executes one request; returns the stream it began, if any.
fn execute(service: &mut MemcacheService<MemoryStorage>, request: &[u8]) -> Option<Box<dyn ResponseStream>> {
    let protocol = Memcache::default();
    let parsed = protocol.parse(&mut ConnectionState::default(), request).unwrap();
    service.execute(parsed.message).stream
}

/// What the watcher has been sent so far.
fn lines(stream: &mut Box<dyn ResponseStream>) -> String {
    let mut out = Vec::new();
    while stream.compose_next(&mut out) == Streamed::More {}
    String::from_utf8(out).unwrap()
}

#[test]
fn a_servers_watchers_see_its_own_events_only() {
    let (first, second) = (Watchers::new(), Watchers::new());
    let (mut watching, mut sibling, mut other) = (service(&first), service(&first), service(&second));
    let mut watcher = execute(&mut watching, b"watch mutations evictions\r\n").expect("a watch stream");

    execute(&mut other, b"set elsewhere 0 0 1\r\nx\r\n");
    second.evicted(&Eviction { key: b"gone-elsewhere", fetched: false, ttl: None, idle: 0, size: 1 });
    assert!(first.wanted() && !second.wanted(), "only the first server has a watcher of evictions");
    assert_eq!(lines(&mut watcher), "", "another server's events");

    execute(&mut sibling, b"set here 0 0 1\r\nx\r\n");
    first.evicted(&Eviction { key: b"gone-here", fetched: false, ttl: None, idle: 0, size: 1 });
    let seen = lines(&mut watcher);
    assert!(seen.contains("type=item_store key=here status=stored cmd=set"), "{seen}");
    assert!(seen.contains("type=eviction key=gone-here fetch=no ttl=-1"), "{seen}");
    assert_eq!(seen.lines().count(), 2, "{seen}");
}
