//! Hostile resource use: a full disk, connections that hoard buffers, values
//! announced too large, idle connections.

use super::*;

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `bytes` at `path`; `None` when this process may not
    /// mount (not root), which the caller reports.
    fn mount(path: &std::path::Path, bytes: u64) -> Option<Self> {
        std::fs::create_dir_all(path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(path)
            .status()
            .ok()?;
        status.success().then(|| Self { path: path.to_path_buf() })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

#[test]
fn a_full_disk_turns_writes_into_server_errors_reads_go_on_and_writes_resume_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(&dir.path().join("disk"), 8 << 20) else {
        eprintln!("NOT RUN: mounting a tmpfs needs root; run as root to check full-disk behaviour");
        return;
    };
    // Ballast, deleted later to give space back.
    let ballast = disk.path.join("ballast");
    std::fs::write(&ballast, vec![0u8; 3 << 20]).unwrap();
    let config = format!(
        "{CONFIG}[storage]\npath = \"{}\"\ncapacity = 1073741824\nwrite_buffer_size = 1048576\ncompression = \"none\"\n",
        disk.path.join("data").display()
    )
    .replace("[storage]\nitem_cache_size = 8388608\nblock_cache_size = 8388608\nwrite_buffer_size = 4194304\n", "");
    let server = ServerProcess::start_in(BINARY, &config, tempfile::tempdir().unwrap());
    let mut client = server.connect();
    let value = "v".repeat(16 << 10);
    let mut stored = 0;
    let failure = loop {
        client.send(format!("set key-{stored} 0 0 {}\r\n{value}\r\n", value.len()).as_bytes());
        let reply = client.read_line();
        if reply != "STORED\r\n" {
            break reply;
        }
        stored += 1;
        assert!(stored < 10_000, "8 MiB never filled up");
    };
    assert!(failure.starts_with("SERVER_ERROR "), "{failure:?}");
    assert!(stored > 10, "only {stored} writes before the disk was full");
    // The server goes on: reads of what was stored still answer, and a
    // second write fails at once rather than hang.
    for key in [0, stored / 2, stored - 1] {
        client.send(format!("get key-{key}\r\n").as_bytes());
        let reply = client.read_until_line("END\r\n");
        assert!(reply.starts_with(&format!("VALUE key-{key} 0 {}", value.len())), "key-{key}: {reply:.80}");
    }
    client.send(format!("set another 0 0 {}\r\n{value}\r\n", value.len()).as_bytes());
    assert!(client.read_line().starts_with("SERVER_ERROR "));
    let stats = admin_stats(&server);
    assert!(stat(&stats, "store_errors").unwrap() >= 1, "{stats}");
    // Space returns: writes succeed again, without a restart.
    std::fs::remove_file(&ballast).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut attempts = 0;
    loop {
        client.send(b"set after 0 0 5\r\nagain\r\n");
        if client.read_line() == "STORED\r\n" {
            break;
        }
        attempts += 1;
        assert!(Instant::now() < deadline, "writes did not resume after {attempts} attempts");
        std::thread::sleep(Duration::from_millis(250));
    }
    client.send(b"get after\r\n");
    assert_eq!(client.read_until_line("END\r\n"), "VALUE after 0 5\r\nagain\r\nEND\r\n");
    for key in [0, stored - 1] {
        client.send(format!("get key-{key}\r\n").as_bytes());
        assert!(client.read_until_line("END\r\n").starts_with("VALUE"), "key-{key} after recovery");
    }
    drop(client);
    drop(server);
}

#[test]
fn a_thousand_connections_each_sending_half_a_large_value_stay_within_the_memory_limit() {
    let memory_limit: u64 = 64 << 20;
    let server = ServerProcess::start(
        BINARY,
        &format!("{CONFIG}[buffers]\nmemory_limit = {memory_limit}\n").replace("threads = 2", "threads = 1"),
    );
    let before = server.rss_bytes();
    let half = vec![b'x'; 512 << 10];
    let mut peak = 0;
    let mut senders = Vec::new();
    for i in 0..1000 {
        let mut stream = std::net::TcpStream::connect(server.data_addr()).unwrap();
        stream.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        // Half of a value near 1 MiB, and then silence. A connection the server
        // closed fails the write; that is the point.
        let _ = stream
            .write_all(format!("set half-{i} 0 0 1000000\r\n").as_bytes())
            .and_then(|()| stream.write_all(&half));
        senders.push(stream);
        if i % 100 == 99 {
            peak = peak.max(server.rss_bytes());
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    peak = peak.max(server.rss_bytes());
    let stats = admin_stats(&server);
    eprintln!(
        "1000 connections x 512 KiB of a 1 MiB value: RSS {} MiB before, peak {} MiB; memory_limit_closes {}",
        before >> 20,
        peak >> 20,
        stat(&stats, "memory_limit_closes").unwrap()
    );
    assert!(stat(&stats, "memory_limit_closes").unwrap() > 0, "{stats}");
    assert!(stat(&stats, "buffer_bytes").unwrap() as u64 <= memory_limit, "{stats}");
    // The budget, and what RocksDB and the runtime hold besides.
    assert!(peak < before + memory_limit + (64 << 20), "peak RSS {peak}, before {before}");
    // Others are served meanwhile, small requests and large ones alike once
    // the hoarders are gone.
    let mut client = server.connect();
    set(&mut client, "small", 0, "fine");
    drop(senders);
    wait_for_stat(&server, "curr_connections", 1);
    assert_eq!(stat(&admin_stats(&server), "buffer_bytes"), Some(0));
    let large = "y".repeat(1_000_000);
    set(&mut client, "large", 0, &large);
}

#[test]
fn a_value_announced_larger_than_the_limit_is_skipped_not_buffered() {
    let server = server();
    let mut client = server.connect();
    let before = server.rss_bytes();
    let size = 64 << 20;
    client.send(format!("set huge 0 0 {size}\r\n").as_bytes());
    assert_eq!(client.read_line(), "SERVER_ERROR object too large for cache\r\n");
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..size / chunk.len() {
        client.send(&chunk);
    }
    // Swallowed to its end: the connection is in step again.
    client.send(b"\r\nset after 0 0 2\r\nok\r\n");
    assert_eq!(client.read_line(), "STORED\r\n");
    let after = server.rss_bytes();
    eprintln!("64 MiB value over the limit: server RSS {} -> {} MiB", before >> 20, after >> 20);
    assert!(after < before + (16 << 20), "RSS {before} -> {after}");
}

#[test]
fn ten_thousand_idle_connections_cost_little_memory() {
    let count = 10_000;
    // This process holds the client ends.
    let limit = petrel_server::raise_open_files_limit(count + 2000).unwrap();
    assert!(limit as usize >= count + 1000, "open files limit {limit}");
    let server =
        ServerProcess::start(BINARY, &format!("{CONFIG}[listener]\nmax_connections = {}\n", count + 10));
    // Touch the code paths once, so the baseline includes them.
    let mut warm = server.connect();
    set(&mut warm, "warm", 0, "up");
    let before = server.rss_bytes();
    let idle: Vec<std::net::TcpStream> =
        (0..count).map(|_| std::net::TcpStream::connect(server.data_addr()).unwrap()).collect();
    wait_for_stat(&server, "curr_connections", count as i64 + 1);
    let after = server.rss_bytes();
    let per_connection = after.saturating_sub(before) / count as u64;
    eprintln!(
        "{count} idle connections: server RSS {} -> {} MiB, {per_connection} bytes each",
        before >> 20,
        after >> 20
    );
    // Buffers are allocated on first use, so an idle connection holds only
    // its slab entry and socket registration.
    assert!(per_connection < 1024, "{per_connection} bytes per idle connection");
    // The server still serves, at the limit of its connections.
    set(&mut warm, "still", 0, "served");
    drop(idle);
}
