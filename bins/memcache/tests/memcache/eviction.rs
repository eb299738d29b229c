//! Eviction on the real server: a key read all the while outlives a write
//! stream several times the capacity, keys nobody reads go, and `watch
//! evictions` names them.

use super::*;

/// One worker, 4 MiB of disk, no item cache: every read is of the store.
const SMALL: &str = "[workers]\nthreads = 1\n[storage]\ncapacity = 4194304\nwrite_buffer_size = 1048576\nitem_cache_size = 0\nblock_cache_size = 8388608\n";

/// The sets of the stream's batch `batch`: 100 items of 1 KiB nobody reads.
fn stream_batch(batch: usize) -> Vec<u8> {
    let mut requests = Vec::new();
    for i in batch * 100..(batch + 1) * 100 {
        write!(requests, "set stream-{i:06} 0 0 1024 noreply\r\n").unwrap();
        requests.extend_from_slice(&petrel_testkit::incompressible_value(i as u64, 1024));
        requests.extend_from_slice(b"\r\n");
    }
    requests
}

#[test]
fn a_key_read_all_the_while_outlives_the_writes_and_watch_names_the_keys_evicted() {
    let server = ServerProcess::start(BINARY, SMALL);
    let mut watcher = server.connect();
    assert_eq!(watcher.call(b"watch evictions\r\n", 4), b"OK\r\n");
    let mut client = server.connect();
    set(&mut client, "hot", 0, "read all the while");
    set(&mut client, "cold", 0, "never read");
    // 16 MiB of new items, four times the capacity, in batches of 100 at
    // about 5 MB/s (the store's background work keeps up with a client
    // that writes a memtable between two of its passes), reading `hot`
    // after each batch.
    for batch in 0..160 {
        let mut requests = stream_batch(batch);
        requests.extend_from_slice(b"get hot\r\n");
        client.send(&requests);
        let reply = client.read_until_line("END\r\n");
        assert!(reply.contains("read all the while"), "hot was evicted after batch {batch}: {reply}");
        std::thread::sleep(Duration::from_millis(20));
    }
    client.send(b"get cold stream-000100\r\n");
    assert_eq!(client.read_line(), "END\r\n", "unread keys written with and after the hot one are gone");
    let stats = admin_stats(&server);
    assert!(stat(&stats, "evictions").unwrap() > 8000, "{stats}");
    assert!(stat(&stats, "reinserted").unwrap() > 0, "{stats}");
    assert!(stat(&stats, "reinserted_bytes").unwrap() > 0, "{stats}");
    // What 4 MiB hold, give or take versions not merged away yet (the
    // tombstones probation leaves must not make it look empty).
    let items = stat(&stats, "curr_items").unwrap();
    assert!((2000..6000).contains(&items), "curr_items {items}: {stats}");
    // The watcher was sent a line per eviction (as many as its queue held):
    // keys nobody read, now gone.
    let mut evicted = Vec::new();
    while evicted.len() < 200 {
        let line = watcher.read_line();
        assert!(line.ends_with('\n') && !line.ends_with("\r\n"), "{line:?}");
        if line.starts_with("skipped=") {
            continue;
        }
        assert!(line.contains(" type=eviction key="), "{line:?}");
        assert!(line.contains(" fetch=no ttl=-1 la="), "{line:?}");
        let key = line.split(" key=").nth(1).unwrap().split(' ').next().unwrap().to_string();
        let size = if key == "cold" { 10 } else { 1024 };
        assert!(line.ends_with(&format!(" clsid=1 size={size}\n")), "{line:?}");
        assert_ne!(key, "hot");
        evicted.push(key);
    }
    for key in evicted.iter().step_by(20) {
        client.send(format!("get {key}\r\n").as_bytes());
        assert_eq!(client.read_line(), "END\r\n", "{key} was logged as evicted");
    }
}

/// With an item cache larger than the capacity, an item counted as evicted
/// (and named by `watch evictions`) is not served from memory once its
/// file is gone: `evictions`, the watch and `get` agree.
#[test]
fn an_evicted_item_is_not_served_from_the_item_cache() {
    let server =
        ServerProcess::start(BINARY, &SMALL.replace("item_cache_size = 0", "item_cache_size = 33554432"));
    let mut watcher = server.connect();
    assert_eq!(watcher.call(b"watch evictions\r\n", 4), b"OK\r\n");
    let mut client = server.connect();
    // 16 MiB of items nobody reads, four times the capacity: all of them
    // fit in the item cache.
    for batch in 0..160 {
        let mut requests = stream_batch(batch);
        requests.extend_from_slice(b"mn\r\n");
        assert_eq!(client.call(&requests, 4), b"MN\r\n");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The first evictions: their files went long before the stream ended.
    let mut evicted = Vec::new();
    while evicted.len() < 300 {
        let line = watcher.read_line();
        if let Some(key) = line.split(" key=").nth(1) {
            evicted.push(key.split(' ').next().unwrap().to_string());
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut served = Vec::new();
    for key in &evicted {
        client.send(format!("mg {key} s\r\n").as_bytes());
        if client.read_line() != "EN\r\n" {
            served.push(key.clone());
        }
    }
    let stats = admin_stats(&server);
    assert!(stat(&stats, "evictions").unwrap() > 8000, "{stats}");
    assert!(
        served.is_empty(),
        "{} of {} keys named as evicted were served: {served:?}",
        served.len(),
        evicted.len()
    );
}

/// `stats reset` zeroes `evictions` as memcached's does, although the store
/// counts evictions itself and the counter follows it only when stats are
/// read: the reset takes the store's count as of the reset, not as of the
/// last `stats`.
#[test]
fn stats_reset_starts_the_eviction_count_from_the_store_s_own() {
    let server = ServerProcess::start(BINARY, SMALL);
    let mut client = server.connect();
    // 16 MiB of items into 4 MiB: thousands evicted, with no `stats` read
    // meanwhile.
    for batch in 0..160 {
        client.send(&stream_batch(batch));
        std::thread::sleep(Duration::from_millis(20));
    }
    client.send(b"get stream-000000\r\n");
    assert_eq!(client.read_line(), "END\r\n", "the first items were evicted");
    // Let the store's background work settle.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(client.call(b"stats reset\r\n", 7), b"RESET\r\n");
    client.send(b"stats\r\n");
    let stats = client.read_until_line("END\r\n");
    let since_reset = stat(&stats, "evictions").unwrap();
    assert!(since_reset < 1000, "evictions {since_reset} after the reset: {stats}");
}
