//! The memcache protocol over real sockets: pipelining, noreply, stats names,
//! concurrent writers to one key.

use super::*;

#[test]
fn set_get_and_pipelining_over_a_real_socket() {
    let server = server();
    let mut client = server.connect();
    set(&mut client, "a", 1, "alpha");
    client.send(b"set b 2 0 4\r\nbeta\r\nget a b missing\r\ngets a\r\ndelete a\r\nget a\r\n");
    assert_eq!(client.read_line(), "STORED\r\n");
    assert_eq!(client.read_until_line("END\r\n"), "VALUE a 1 5\r\nalpha\r\nVALUE b 2 4\r\nbeta\r\nEND\r\n");
    let gets = client.read_until_line("END\r\n");
    assert!(gets.starts_with("VALUE a 1 5 "), "{gets}");
    assert_eq!(client.read_line(), "DELETED\r\n");
    assert_eq!(client.read_line(), "END\r\n");
}

#[test]
fn noreply_suppresses_replies_in_a_pipeline() {
    let server = server();
    let mut client = server.connect();
    client.send(
        b"set k 0 0 1 noreply\r\na\r\nappend k 0 0 1 noreply\r\nb\r\nincr missing 1 noreply\r\nget k\r\n",
    );
    assert_eq!(client.read_until_line("END\r\n"), "VALUE k 0 2\r\nab\r\nEND\r\n");
}

#[test]
fn data_port_stats_use_memcached_names() {
    let server = server();
    let mut client = server.connect();
    set(&mut client, "k", 0, "v");
    client.call(b"get k\r\nget nope\r\n", 0);
    client.read_until_line("END\r\n");
    client.read_until_line("END\r\n");
    client.send(b"stats\r\n");
    let stats = client.read_until_line("END\r\n");
    for name in [
        "pid",
        "uptime",
        "time",
        "version",
        "threads",
        "curr_connections",
        "total_connections",
        "cmd_get",
        "cmd_set",
        "cmd_flush",
        "cmd_touch",
        "get_hits",
        "get_misses",
        "get_expired",
        "delete_hits",
        "delete_misses",
        "incr_hits",
        "incr_misses",
        "decr_hits",
        "decr_misses",
        "cas_hits",
        "cas_misses",
        "cas_badval",
        "touch_hits",
        "touch_misses",
        "bytes_read",
        "bytes_written",
        "curr_items",
        "bytes",
        "evictions",
        "reclaimed",
    ] {
        assert!(
            stat(&stats, name).is_some() || stats.contains(&format!("STAT {name} ")),
            "no {name}:\n{stats}"
        );
    }
    assert_eq!(stat(&stats, "get_hits"), Some(1));
    assert_eq!(stat(&stats, "get_misses"), Some(1));
    assert_eq!(stat(&stats, "cmd_set"), Some(1));
    // Each worker times its requests in a histogram of its own; stats sum
    // the workers' histograms, whichever worker served the connection.
    for name in ["get_latency_max", "set_latency_max"] {
        assert!(
            stat(&stats, name) > Some(0),
            "{name}:
{stats}"
        );
    }
    // The first get filled the item cache (a set alone does not); this
    // one is served by it.
    client.call(b"get k\r\n", 0);
    client.read_until_line("END\r\n");
    let admin = admin_stats(&server);
    for name in [
        "rocksdb_block_cache_usage",
        "rocksdb_memtable_bytes",
        "rocksdb_live_sst_bytes",
        "rocksdb_live_blob_bytes",
        "rocksdb_pending_compaction_bytes",
        "rocksdb_wal_written_bytes",
        "rocksdb_flush_written_bytes",
        "rocksdb_compaction_written_bytes",
        "item_cache_hits",
        "item_cache_misses",
        "item_cache_bytes",
    ] {
        assert!(stat(&admin, name).is_some(), "no {name} on the admin port:\n{admin}");
    }
    // The set reached the write-ahead log.
    assert!(stat(&admin, "rocksdb_wal_written_bytes") > Some(0), "{admin}");
    assert!(stat(&admin, "item_cache_hits") >= Some(1), "{admin}");
    assert!(stat(&admin, "item_cache_bytes") > Some(0), "{admin}");
}

#[test]
fn eight_clients_incrementing_one_key_lose_no_update() {
    let server = server();
    set(&mut server.connect(), "counter", 0, "0");
    let address = server.data_addr();
    let clients: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let mut client = Client::connect(address);
                for _ in 0..1000 {
                    client.send(b"incr counter 1\r\n");
                    client.read_line();
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    let mut client = server.connect();
    client.send(b"get counter\r\n");
    assert_eq!(client.read_until_line("END\r\n"), "VALUE counter 0 4\r\n8000\r\nEND\r\n");
}

#[test]
fn concurrent_cas_lets_exactly_one_writer_win_each_round() {
    let server = server();
    set(&mut server.connect(), "contended", 0, "start");
    let address = server.data_addr();
    for round in 0..20 {
        let mut client = server.connect();
        client.send(b"gets contended\r\n");
        let reply = client.read_until_line("END\r\n");
        let cas: u64 = reply.split_whitespace().nth(4).unwrap().parse().unwrap();
        let racers: Vec<_> = (0..4)
            .map(|racer| {
                std::thread::spawn(move || {
                    let mut client = Client::connect(address);
                    let value = format!("r{round}-{racer}");
                    client.send(format!("cas contended 0 0 {} {cas}\r\n{value}\r\n", value.len()).as_bytes());
                    client.read_line()
                })
            })
            .collect();
        let replies: Vec<String> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        assert_eq!(replies.iter().filter(|r| *r == "STORED\r\n").count(), 1, "round {round}: {replies:?}");
        assert_eq!(replies.iter().filter(|r| *r == "EXISTS\r\n").count(), 3, "round {round}: {replies:?}");
    }
}

#[test]
fn curr_connections_counts_clients() {
    let server = server();
    let clients: Vec<Client> = (0..3).map(|_| server.connect()).collect();
    let mut probe = server.connect();
    probe.call(b"version\r\n", 0);
    // memcached's form, which libmemcached parses.
    let version = format!("VERSION 1.6.18-petrel-{}\r\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(probe.read_line(), version);
    wait_for_stat(&server, "curr_connections", 4);
    drop(clients);
    wait_for_stat(&server, "curr_connections", 1);
}

/// A browser's POST to the data port, with memcache commands in its body,
/// closes the connection at the request line: nothing in the body runs,
/// and the close is counted.
#[test]
fn an_http_post_to_the_data_port_closes_it_and_is_counted() {
    let server = server();
    let mut browser = server.connect();
    browser.send(b"POST / HTTP/1.1\r\nHost: cache\r\nContent-Length: 16\r\n\r\nset k 0 0 1\r\nx\r\n");
    assert_eq!(browser.read_to_close(), b"");
    let mut client = server.connect();
    client.send(b"get k\r\n");
    assert_eq!(client.read_until_line("END\r\n"), "END\r\n");
    let stats = admin_stats(&server);
    assert_eq!(stat(&stats, "http_request_closes"), Some(1), "{stats}");
    assert_eq!(stat(&stats, "cmd_set"), Some(0), "{stats}");
}
