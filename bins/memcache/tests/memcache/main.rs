//! petrel-memcache as a user meets it: the real binary, real sockets, a real
//! RocksDB directory. One test binary, its tests by topic.

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use petrel_testkit::{Client, ServerProcess, admin_stats, stat, wait_for_stat};

mod binary;
mod blobs;
mod checkpoint;
mod dump;
mod durability;
mod eviction;
mod large_replies;
mod limits;
mod operations;
mod protocol;
mod stall;
mod tls;
mod watch;

const BINARY: &str = env!("CARGO_BIN_EXE_petrel-memcache");

/// Small RocksDB buffers: tests start many servers on a small machine.
const CONFIG: &str = "[workers]\nthreads = 2\n[storage]\nitem_cache_size = 8388608\nblock_cache_size = 8388608\nwrite_buffer_size = 4194304\n";

fn server() -> ServerProcess {
    ServerProcess::start(BINARY, CONFIG)
}

/// Stops `server` with SIGTERM (asserting a clean exit) and starts it again
/// on the same data directory.
fn restart(mut server: ServerProcess, config: &str) -> ServerProcess {
    let (status, _) = server.stop_with(libc::SIGTERM);
    assert!(status.success(), "{status:?}: {}", server.stderr_text());
    ServerProcess::start_in(BINARY, config, server.into_dir())
}

fn set(client: &mut Client, key: &str, flags: u32, value: &str) {
    let request = format!("set {key} {flags} 0 {}\r\n{value}\r\n", value.len());
    assert_eq!(client.call(request.as_bytes(), 8), b"STORED\r\n");
}

/// This package's directory, as cargo gives it when running the test: the
/// compile-time value may name another checkout sharing the target directory.
fn manifest_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"))
}
