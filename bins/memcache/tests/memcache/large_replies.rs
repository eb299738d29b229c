//! Replies far larger than the buffers: one request asking for the same
//! large item hundreds of times over (a multiget line, a pipeline of `mg`,
//! a run of binary GetKQ) holds one part of its reply at a time, however
//! slowly its client reads, and other clients are served meanwhile.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::*;

const VALUE_LEN: usize = 1_000_000;
const REPEATS: usize = 300;

/// A reply's items arrive whole and equal to `value`; the client reads
/// slowly for the first items, then as fast as it can.
fn read_items(reader: &mut impl BufRead, header: &[u8], value: &[u8], count: usize, trailer: &[u8]) {
    let mut item = vec![0u8; header.len() + value.len() + trailer.len()];
    for i in 0..count {
        if i < 20 {
            std::thread::sleep(Duration::from_millis(20));
        }
        reader.read_exact(&mut item).unwrap_or_else(|error| panic!("item {i}: {error}"));
        assert_eq!(&item[..header.len()], header, "item {i}");
        assert!(item[header.len()..header.len() + value.len()] == *value, "item {i}'s value");
        assert_eq!(&item[header.len() + value.len()..], trailer, "item {i}");
    }
}

fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kib| kib.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

#[test]
fn a_request_for_a_large_item_hundreds_of_times_holds_one_part_of_its_reply_at_a_time() {
    let server = server();
    let value = petrel_testkit::incompressible_value(7, VALUE_LEN);
    let mut client = server.connect();
    client.send(format!("set big 0 0 {VALUE_LEN}\r\n").as_bytes());
    client.send(&value);
    client.send(b"\r\n");
    assert_eq!(client.read_line(), "STORED\r\n");
    // Read it once, so that the item cache and RocksDB hold it already.
    client.send(b"get big\r\n");
    client.read_exact("VALUE big 0 1000000\r\n".len() + VALUE_LEN + "\r\nEND\r\n".len());
    let before = server.rss_bytes();

    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done, pid) = (peak.clone(), done.clone(), server.pid());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_of(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let text_line = format!("get{}\r\n", " big".repeat(REPEATS));
    let mut readers = Vec::new();
    for connection in 0..4 {
        let mut stream = std::net::TcpStream::connect(server.data_addr()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let value = value.clone();
        let request: Vec<u8> = match connection {
            0 | 1 => text_line.clone().into_bytes(),
            2 => "mg big v\r\n".repeat(REPEATS).into_bytes(),
            _ => {
                let mut packets = Vec::new();
                for _ in 0..REPEATS {
                    // GetKQ (0x0d) of "big", then a Noop (0x0a) ends the run.
                    packets.extend_from_slice(&[0x80, 0x0d, 0, 3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0]);
                    packets.extend_from_slice(&[0; 8]);
                    packets.extend_from_slice(b"big");
                }
                packets.extend_from_slice(&[0x80, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
                packets.extend_from_slice(&[0; 8]);
                packets
            }
        };
        stream.write_all(&request).unwrap();
        readers.push(std::thread::spawn(move || {
            let mut reader = BufReader::with_capacity(1 << 16, stream);
            match connection {
                0 | 1 => {
                    let header = format!("VALUE big 0 {VALUE_LEN}\r\n");
                    read_items(&mut reader, header.as_bytes(), &value, REPEATS, b"\r\n");
                    let mut end = [0u8; 5];
                    reader.read_exact(&mut end).unwrap();
                    assert_eq!(&end, b"END\r\n");
                }
                2 => read_items(
                    &mut reader,
                    format!("VA {VALUE_LEN}\r\n").as_bytes(),
                    &value,
                    REPEATS,
                    b"\r\n",
                ),
                _ => {
                    // Each hit: the header (total body 4 + 3 + value), the
                    // flags, the key; the CAS differs from none to none.
                    let mut item = vec![0u8; 24 + 4 + 3 + VALUE_LEN];
                    for i in 0..REPEATS {
                        if i < 20 {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        reader.read_exact(&mut item).unwrap();
                        assert_eq!(&item[..2], &[0x81, 0x0d], "item {i}");
                        assert_eq!(&item[8..12], &((4 + 3 + VALUE_LEN) as u32).to_be_bytes(), "item {i}");
                        assert_eq!(&item[28..31], b"big");
                        assert!(item[31..] == *value, "item {i}'s value");
                    }
                    let mut noop = [0u8; 24];
                    reader.read_exact(&mut noop).unwrap();
                    assert_eq!(&noop[..2], &[0x81, 0x0a]);
                }
            }
        }));
    }
    // Another client is served while the four replies stream.
    let mut other = server.connect();
    let (mut slowest, mut other_gets) = (Duration::ZERO, 0);
    set(&mut other, "small", 0, "fine");
    while readers.iter().any(|reader| !reader.is_finished()) {
        other_gets += 1;
        let started = Instant::now();
        other.send(b"get small\r\n");
        assert_eq!(other.read_until_line("END\r\n"), "VALUE small 0 4\r\nfine\r\nEND\r\n");
        slowest = slowest.max(started.elapsed());
        std::thread::sleep(Duration::from_millis(10));
    }
    for reader in readers {
        reader.join().expect("every reply complete and correct");
    }
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = peak.load(Ordering::Relaxed);
    let stats = admin_stats(&server);
    eprintln!(
        "4 connections x {REPEATS} x 1 MB: RSS {} MiB before, peak {} MiB; slowest other get {slowest:?}",
        before >> 20,
        peak >> 20
    );
    assert_eq!(stat(&stats, "get_hits"), Some(1 + 4 * REPEATS as i64 + other_gets), "{stats}");
    // Four write buffers (2 MiB each) with one part past them, and a
    // worker's scratch of one part: far below one reply (300 MB).
    assert!(peak < before + (64 << 20), "peak RSS {} MiB, before {} MiB", peak >> 20, before >> 20);
    assert!(slowest < Duration::from_secs(2), "another client waited {slowest:?}");
}
