//! petrel-bench against real servers (started in this process from the
//! servers' libraries, on free ports): it drives load, and it catches wrong
//! answers.

use std::io::{Read, Write};
use std::process::Command;

use petrel_config::{AdminConfig, CoreConfig, ListenerConfig, WorkersConfig};

const BENCH: &str = env!("CARGO_BIN_EXE_petrel-bench");

fn one_worker_on_free_ports() -> CoreConfig {
    let free = || "127.0.0.1:0".parse().unwrap();
    CoreConfig {
        listener: ListenerConfig::on(free()),
        admin: AdminConfig { address: free() },
        workers: WorkersConfig { threads: 1, ..WorkersConfig::default() },
        ..CoreConfig::default()
    }
}

fn ping() -> petrel_server::RunningServer {
    petrel_ping::start(&one_worker_on_free_ports()).unwrap()
}

fn memcache(dir: &std::path::Path) -> petrel_server::RunningServer {
    let mut config =
        petrel_memcache::MemcacheConfig { core: one_worker_on_free_ports(), ..Default::default() };
    config.storage.path = dir.join("data");
    config.storage.block_cache_size = 8 << 20;
    config.storage.item_cache_size = 8 << 20;
    config.storage.write_buffer_size = 4 << 20;
    petrel_memcache::start(&config).unwrap()
}

/// Runs petrel-bench against `server` with `args` (split on spaces); its
/// JSON report, and whether it exited successfully.
fn bench(server: &petrel_server::RunningServer, args: &str) -> (serde_json::Value, bool) {
    let output = Command::new(BENCH)
        .args(["--target", &server.local_addr().to_string()])
        .args(args.split_whitespace())
        .args(["--json", "--warmup", "0.2"])
        .output()
        .unwrap();
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (report, output.status.success())
}

#[test]
fn drives_a_ping_server() {
    let server = ping();
    let (report, ok) = bench(&server, "--protocol ping --duration 1 --connections 4 --pipeline 8");
    assert!(ok, "{report}");
    assert!(report["requests"].as_u64().unwrap() > 1000, "{report}");
    assert_eq!(report["errors"], 0);
    server.shutdown();
    server.wait();
}

#[test]
fn prefilled_gets_all_hit_with_the_right_values() {
    let dir = tempfile::tempdir().unwrap();
    let server = memcache(dir.path());
    let (report, ok) = bench(&server, "--keys 2000 --prefill --duration 1 --multiget 3");
    assert!(ok, "{report}");
    assert_eq!(report["hit_rate"], 1.0, "{report}");
    assert_eq!(report["wrong_values"], 0, "{report}");
    assert!(report["sets"].as_u64().unwrap() > 0, "{report}");
    server.shutdown();
    server.wait();
}

#[test]
fn incompressible_values_are_written_and_checked_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let server = memcache(dir.path());
    let (report, ok) = bench(&server, "--keys 500 --prefill --incompressible --get-ratio 1 --duration 0.5");
    assert!(ok, "{report}");
    assert_eq!(report["hit_rate"], 1.0, "{report}");
    assert_eq!(report["wrong_values"], 0, "{report}");
    // The same keys checked as filler values are wrong: each run checks
    // the values it would have written.
    let (report, ok) = bench(&server, "--keys 500 --get-ratio 1 --duration 0.5 --connections 1");
    assert!(!ok, "{report}");
    assert!(report["wrong_values"].as_u64().unwrap() > 0, "{report}");
    server.shutdown();
    server.wait();
}

/// Requests due at arbitrary moments leave on time, not when the next
/// whole millisecond of an `epoll_wait` timeout has passed: at a low rate
/// over staggered connections, late sending would put the median latency
/// near half a millisecond, while a ping server answers in tens of
/// microseconds.
#[test]
fn open_loop_sends_each_request_when_it_is_due() {
    let server = ping();
    let (report, ok) = bench(&server, "--protocol ping --rate 700 --duration 2 --connections 7");
    assert!(ok, "{report}");
    let p50 = report["latency_us"]
        .as_array()
        .unwrap()
        .iter()
        .find(|pair| pair[0] == "p50")
        .and_then(|pair| pair[1].as_f64())
        .unwrap();
    assert!(p50 < 300.0, "median latency {p50} µs: requests left late\n{report}");
    server.shutdown();
    server.wait();
}

#[test]
fn open_loop_holds_the_offered_rate() {
    let dir = tempfile::tempdir().unwrap();
    let server = memcache(dir.path());
    let (report, ok) = bench(&server, "--keys 100 --rate 2000 --duration 2 --connections 4");
    assert!(ok, "{report}");
    let throughput = report["throughput"].as_f64().unwrap();
    assert!((1800.0..=2200.0).contains(&throughput), "{report}");
    server.shutdown();
    server.wait();
}

#[test]
fn a_wrong_value_is_reported_and_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = memcache(dir.path());
    // Key 0 as petrel-bench names it ("k" + 15 digits), holding the wrong bytes.
    let mut client = std::net::TcpStream::connect(server.local_addr()).unwrap();
    client.write_all(b"set k000000000000000 0 0 4\r\nbad!\r\n").unwrap();
    let mut reply = [0u8; 8];
    client.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"STORED\r\n");
    let (report, ok) = bench(&server, "--keys 1 --get-ratio 1 --duration 0.5 --connections 1");
    assert!(!ok, "a wrong value must fail the run: {report}");
    assert!(report["wrong_values"].as_u64().unwrap() > 0, "{report}");
    server.shutdown();
    server.wait();
}
