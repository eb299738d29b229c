//! Soak: mixed load with expiring keys and evictions for a while, watching
//! the server's memory, file descriptors and disk. They must level off, and
//! no reply may be an error. PETREL_SOAK_SECONDS sets the length (20 s by
//! default; docs/reliability.md records the 10-minute run).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use petrel_testkit::{Client, ServerProcess, admin_stats, stat};

const BINARY: &str = env!("CARGO_BIN_EXE_petrel-memcache");

/// A small capacity, so that the load evicts within seconds.
const CAPACITY: u64 = 64 << 20;
const MEMTABLE: u64 = 1 << 20;
/// Memtables of 1 MiB (`MEMTABLE`): at least 32 fit in the capacity, so
/// flushed files are merged (and expired items dropped) as with the
/// defaults.
const CONFIG: &str = "[workers]\nthreads = 2\n[storage]\nitem_cache_size = 16777216\nblock_cache_size = 16777216\nwrite_buffer_size = 1048576\ncapacity = 67108864\n";

/// One client's endless mix: sets with and without expiry, gets, deletes,
/// counters. Every reply is checked against what the request allows.
fn mixed_load(server: std::net::SocketAddr, client_id: u64, stop: Arc<AtomicBool>, done: Arc<AtomicU64>) {
    let mut client = Client::connect(server);
    let mut state = client_id.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // Values are slices of random letters, so compression cannot hide them.
    let noise: Vec<u8> = (0..8192).map(|_| b'a' + (next() % 26) as u8).collect();
    let mut batch = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let key = next() % 200_000;
        let roll = next() % 100;
        batch.clear();
        let expected: &[&str] = match roll {
            0..=29 => {
                // Short-lived items, expiring while the soak runs.
                let size = 100 + next() % 4000;
                write!(batch, "set k{key} 0 {} {size}\r\n", 1 + next() % 5).unwrap();
                let at = (next() % 4000) as usize;
                batch.extend_from_slice(&noise[at..at + size as usize]);
                batch.extend_from_slice(b"\r\n");
                &["STORED"]
            }
            30..=44 => {
                let size = 100 + next() % 4000;
                write!(batch, "set k{key} 0 0 {size}\r\n").unwrap();
                let at = (next() % 4000) as usize;
                batch.extend_from_slice(&noise[at..at + size as usize]);
                batch.extend_from_slice(b"\r\n");
                &["STORED"]
            }
            45..=89 => {
                write!(batch, "get k{key}\r\n").unwrap();
                &["END", "VALUE"]
            }
            90..=94 => {
                write!(batch, "delete k{key}\r\n").unwrap();
                &["DELETED", "NOT_FOUND"]
            }
            _ => {
                write!(batch, "incr c{} 1\r\n", key % 100).unwrap();
                &["NOT_FOUND", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
            }
        };
        client.send(&batch);
        let reply =
            if (45..=89).contains(&roll) { client.read_until_line("END\r\n") } else { client.read_line() };
        assert!(expected.iter().any(|start| reply.starts_with(start)), "{:.80}", reply);
        if roll >= 95 && reply.starts_with("NOT_FOUND") {
            client.send(format!("add c{} 0 0 1\r\n0\r\n", key % 100).as_bytes());
            let added = client.read_line();
            assert!(added == "STORED\r\n" || added == "NOT_STORED\r\n", "{added}");
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn mixed_load_with_expiry_and_eviction_levels_off() {
    let seconds: u64 = std::env::var("PETREL_SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let server = ServerProcess::start(BINARY, CONFIG);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..8)
        .map(|id| {
            let (stop, done, address) = (stop.clone(), done.clone(), server.data_addr());
            std::thread::spawn(move || mixed_load(address, id, stop, done))
        })
        .collect();
    // (seconds in, RSS, open files, disk)
    let mut samples = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(1));
        samples.push((
            started.elapsed().as_secs(),
            server.rss_bytes(),
            server.open_files(),
            server.disk_use("data"),
        ));
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("a client saw a reply it did not expect");
    }
    let stats = admin_stats(&server);
    let requests = done.load(Ordering::Relaxed);
    let (first, second) = samples.split_at(samples.len() / 2);
    let peak = |part: &[(u64, u64, usize, u64)], pick: fn(&(u64, u64, usize, u64)) -> u64| {
        part.iter().map(pick).max().unwrap_or(0)
    };
    let (rss_early, rss_late) = (peak(first, |s| s.1), peak(second, |s| s.1));
    let (files_early, files_late) = (peak(first, |s| s.2 as u64), peak(second, |s| s.2 as u64));
    let disk_peak = peak(&samples, |s| s.3);
    eprintln!(
        "soak {seconds} s: {requests} requests; RSS peak {} MiB in the first half, {} MiB in the second; \
         open files {files_early} / {files_late}; disk peak {} MiB for a {} MiB capacity; \
         evictions {}, reclaimed {}, get_expired {}, request_errors {}",
        rss_early >> 20,
        rss_late >> 20,
        disk_peak >> 20,
        CAPACITY >> 20,
        stat(&stats, "evictions").unwrap(),
        stat(&stats, "reclaimed").unwrap(),
        stat(&stats, "get_expired").unwrap(),
        stat(&stats, "request_errors").unwrap(),
    );
    for (second, rss, files, disk) in &samples {
        eprintln!(
            "  t={second:>4} s  rss {:>4} MiB  files {files:>4}  disk {:>4} MiB",
            rss >> 20,
            disk >> 20
        );
    }
    assert_eq!(stat(&stats, "request_errors"), Some(0), "{stats}");
    assert_eq!(stat(&stats, "store_errors"), Some(0), "{stats}");
    // Memory and files level off: the second half grows little past the first.
    assert!(rss_late <= rss_early + rss_early / 5 + (16 << 20), "RSS {rss_early} then {rss_late}");
    // Table files are bounded by the capacity: at most one per memtable of
    // it (64 here), the count a store nearly full reaches once merges that
    // would drop little are left undone (`merging.rs`); it may still be
    // climbing to that bound in the second half.
    let table_file_bound = CAPACITY / MEMTABLE;
    assert!(files_late <= files_early + table_file_bound + 16, "open files {files_early} then {files_late}");
    // Disk stays near the capacity: tables, plus the write-ahead log
    // (2 x 2 x 1 MiB) and the spent log files kept for reuse (4, each about
    // a memtable), RocksDB's text logs (4 x 1 MiB) and the manifest.
    assert!(disk_peak <= CAPACITY + 4 * MEMTABLE + (16 << 20), "disk {disk_peak}");
    // And it levels off: no file that grows for ever. A merge writes its
    // output (up to an eighth of the capacity) before it deletes its inputs,
    // so one sample can catch that much more than another.
    let disk_early = peak(first, |s| s.3);
    let disk_late = peak(second, |s| s.3);
    assert!(disk_late <= disk_early + CAPACITY / 8, "disk {disk_early} then {disk_late}");
    if seconds >= 20 {
        assert!(stat(&stats, "evictions").unwrap() > 0, "the soak never evicted: {stats}");
        assert!(stat(&stats, "reclaimed").unwrap() > 0, "no expired item was dropped: {stats}");
    }
}
