//! Key dumps (`lru_crawler metadump`) on a store far larger than any
//! buffer: the dump comes as the client reads, from the store as it was
//! when it began, while the worker goes on serving its other connections.

use super::*;

/// One worker, so the dump and the other client share it.
const ONE_WORKER: &str = "[workers]\nthreads = 1\n[storage]\nitem_cache_size = 8388608\nblock_cache_size = 8388608\nwrite_buffer_size = 4194304\n";

/// Items in the store: about 24 MB of dump lines, several times what the
/// kernel's socket buffers and the session's write buffer hold together.
const ITEMS: usize = 300_000;

fn load(client: &mut Client) {
    let mut batch = Vec::new();
    for chunk in (0..ITEMS).collect::<Vec<_>>().chunks(5_000) {
        batch.clear();
        for i in chunk {
            batch.extend_from_slice(
                format!("set dump:key:{i:08} {i} 0 10 noreply\r\n0123456789\r\n").as_bytes(),
            );
        }
        batch.extend_from_slice(b"mn\r\n");
        assert_eq!(client.call(&batch, 4), b"MN\r\n");
    }
}

#[test]
fn a_dump_streams_from_a_snapshot_while_the_worker_serves_other_clients() {
    let server = ServerProcess::start(BINARY, ONE_WORKER);
    let mut other = server.connect();
    load(&mut other);

    let mut dumper = server.connect();
    // A request pipelined after the dump is answered after its END.
    dumper.send(b"lru_crawler metadump all\r\nversion\r\n");
    std::thread::sleep(Duration::from_millis(300));

    // The dump is stalled on its unread socket; the worker is not.
    let started = Instant::now();
    set(&mut other, "written:after:the:dump:began", 0, "late");
    assert_eq!(
        other.call(b"get dump:key:00000007\r\n", 47),
        b"VALUE dump:key:00000007 7 10\r\n0123456789\r\nEND\r\n"
    );
    assert!(started.elapsed() < Duration::from_secs(1), "served in {:?}", started.elapsed());
    assert_eq!(other.call(b"delete dump:key:00000009\r\n", 9), b"DELETED\r\n");
    let stats = admin_stats(&server);
    let held = stat(&stats, "buffer_bytes").expect("buffer_bytes");
    assert!(held < 4 << 20, "the stalled dump holds {held} bytes of buffers");

    let dump = dumper.read_until_line("END\r\n");
    let lines: Vec<&str> = dump.lines().collect();
    assert_eq!(lines.len(), ITEMS + 1, "one line per item, then END");
    assert!(
        lines[..ITEMS]
            .iter()
            .all(|line| line.starts_with("key=dump%3Akey%3A") && line.contains(" cls=1 size="))
    );
    assert!(!dump.contains("written"), "a key written after the dump began is not in it");
    assert!(dump.contains("key=dump%3Akey%3A00000009 "), "nor is a delete that came after");
    assert!(dumper.read_line().starts_with("VERSION "));

    let again = {
        dumper.send(b"lru_crawler metadump all\r\n");
        dumper.read_until_line("END\r\n")
    };
    assert_eq!(again.lines().count(), ITEMS + 1, "the next dump sees the write and the delete");
    assert!(again.contains("key=written%3Aafter%3Athe%3Adump%3Abegan exp=-1 "));
    assert!(!again.contains("00000009 "));
}

#[test]
fn a_dump_skips_expired_and_flushed_items_and_survives_a_restart() {
    let server = server();
    let mut client = server.connect();
    set(&mut client, "kept", 3, "value");
    client.send(b"set expired 0 1 1\r\nx\r\nmg kept T3600\r\n");
    assert_eq!(client.read_until_line("HD\r\n"), "STORED\r\nHD\r\n");
    std::thread::sleep(Duration::from_millis(2_100));
    let server = restart(server, CONFIG);
    let mut client = server.connect();
    client.send(b"lru_crawler metadump hash\r\n");
    let dump = client.read_until_line("END\r\n");
    assert_eq!(dump.lines().count(), 2, "{dump}");
    assert!(dump.starts_with("key=kept exp="), "{dump}");
    assert!(!dump.contains("exp=-1"), "the touch's expiry is kept: {dump}");
    client.send(b"lru_crawler mgdump all\r\n");
    assert_eq!(client.read_until_line("EN\r\n"), "mg kept\r\nEN\r\n");
    assert_eq!(client.call(b"flush_all\r\n", 4), b"OK\r\n");
    assert_eq!(client.call(b"lru_crawler metadump all\r\n", 5), b"END\r\n");
}

/// Sums the table and blob files of the server's data directory.
fn table_bytes(server: &ServerProcess) -> u64 {
    std::fs::read_dir(server.dir().join("data"))
        .unwrap()
        .filter_map(|entry| entry.ok())
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".sst") || name.ends_with(".blob")
        })
        .filter_map(|entry| entry.metadata().ok())
        .map(|metadata| metadata.len())
        .sum()
}

/// A million expired items, all still in the memtable: the dump skips them
/// a bounded slice per turn, so the worker it shares with another client
/// keeps answering that client's gets at once.
#[test]
fn a_dump_of_a_million_expired_items_does_not_hold_up_its_worker() {
    const EXPIRED: usize = 1_000_000;
    let server = ServerProcess::start(
        BINARY,
        &ONE_WORKER.replace("write_buffer_size = 4194304", "write_buffer_size = 268435456"),
    );
    let mut loader = server.connect();
    let mut batch = Vec::new();
    for chunk in (0..EXPIRED).collect::<Vec<_>>().chunks(20_000) {
        batch.clear();
        for i in chunk {
            batch.extend_from_slice(format!("set gone:{i:08} 0 1 2 noreply\r\nxx\r\n").as_bytes());
        }
        batch.extend_from_slice(b"mn\r\n");
        assert_eq!(loader.call(&batch, 4), b"MN\r\n");
    }
    set(&mut loader, "zz:live", 0, "here");
    std::thread::sleep(Duration::from_millis(2_100));

    let mut dumper = server.connect();
    let reader = std::thread::spawn(move || {
        dumper.send(b"lru_crawler metadump all\r\n");
        dumper.read_until_line("END\r\n")
    });
    let mut other = server.connect();
    let mut slowest = Duration::ZERO;
    let mut gets = 0;
    while !reader.is_finished() {
        let started = Instant::now();
        assert_eq!(other.call(b"get zz:live\r\n", 30), b"VALUE zz:live 0 4\r\nhere\r\nEND\r\n");
        slowest = slowest.max(started.elapsed());
        gets += 1;
    }
    let dump = reader.join().unwrap();
    eprintln!("dump of {EXPIRED} expired items: {gets} gets meanwhile, the slowest {slowest:?}");
    assert!(dump.starts_with("key=zz%3Alive exp=-1 "), "{dump}");
    assert_eq!(dump.lines().count(), 2, "one live item, then END");
    assert!(slowest < Duration::from_millis(100), "a get waited {slowest:?} behind the dump");
}

/// A dump whose client stops reading holds no table file: the files that
/// eviction drops while it waits are deleted, and disk stays within the
/// capacity under a write stream four times the capacity.
#[test]
fn an_abandoned_dump_does_not_keep_disk_above_the_capacity() {
    const CAPACITY: u64 = 4 << 20;
    let server = ServerProcess::start(
        BINARY,
        "[workers]\nthreads = 1\n[storage]\ncapacity = 4194304\nwrite_buffer_size = 1048576\nitem_cache_size = 0\nblock_cache_size = 8388608\n",
    );
    let mut writer = server.connect();
    let mut write = |from: usize, count: usize| {
        for batch in (from..from + count).collect::<Vec<_>>().chunks(100) {
            let mut requests = Vec::new();
            for i in batch {
                write!(requests, "set {:0>180}-{i:08} 0 0 64 noreply\r\n", "k").unwrap();
                requests.extend_from_slice(&petrel_testkit::incompressible_value(*i as u64, 64));
                requests.extend_from_slice(b"\r\n");
            }
            requests.extend_from_slice(b"mn\r\n");
            assert_eq!(writer.call(&requests, 4), b"MN\r\n");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    // Twice the capacity: the store is full when the dump begins.
    write(0, 32_000);
    let mut dumper = server.connect();
    dumper.send(b"lru_crawler metadump all\r\n");
    std::thread::sleep(Duration::from_millis(300));
    // Four times the capacity more, while the dump waits unread.
    write(32_000, 64_000);
    std::thread::sleep(Duration::from_millis(500));
    let tables = table_bytes(&server);
    eprintln!("tables {} KiB for a {} KiB capacity with a dump unread", tables >> 10, CAPACITY >> 10);
    // A merge writes its output before it deletes its inputs: some slack.
    assert!(tables <= CAPACITY + CAPACITY / 4, "tables {tables} for a capacity of {CAPACITY}");
    // The dump goes on when read, and ends.
    let dump = dumper.read_until_line("END\r\n");
    assert!(dump.lines().count() > 1, "{}", dump.len());
}
