//! petrel-ping as a user meets it: the real binary, real sockets.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use petrel_testkit::{Client, ServerProcess, admin_stats, exchange, stat, wait_for_stat};

const BINARY: &str = env!("CARGO_BIN_EXE_petrel-ping");

fn server() -> ServerProcess {
    ServerProcess::start(BINARY, "[workers]\nthreads = 2\n")
}

#[test]
fn single_ping_gets_pong() {
    let server = server();
    let mut client = server.connect();
    assert_eq!(client.call(b"PING\r\n", 6), b"PONG\r\n");
    assert_eq!(client.call(b"ping\n", 6), b"PONG\r\n");
}

#[test]
fn thousand_pipelined_pings_in_one_write() {
    let server = server();
    let mut client = server.connect();
    let replies = client.call(&b"PING\r\n".repeat(1000), 6000);
    assert_eq!(replies, b"PONG\r\n".repeat(1000));
}

#[test]
fn sixty_four_concurrent_clients() {
    let server = server();
    let threads: Vec<_> = (0..64)
        .map(|_| {
            let address = server.data_addr();
            std::thread::spawn(move || {
                let mut client = Client::connect(address);
                for _ in 0..100 {
                    assert_eq!(client.call(b"PING\r\n", 6), b"PONG\r\n");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let stats = admin_stats(&server);
    assert!(stat(&stats, "ping").unwrap() >= 6400, "{stats}");
}

#[test]
fn bytes_arriving_one_at_a_time() {
    let server = server();
    let mut client = server.connect();
    for &byte in b"PING\r\nPING\r\n" {
        client.send(&[byte]);
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(client.read_exact(12), b"PONG\r\nPONG\r\n");
}

#[test]
fn request_split_across_reads() {
    let server = server();
    let mut client = server.connect();
    client.send(b"PING\r\nPI");
    assert_eq!(client.read_exact(6), b"PONG\r\n");
    client.send(b"NG\r\n");
    assert_eq!(client.read_exact(6), b"PONG\r\n");
}

#[test]
fn garbage_gets_error_and_the_connection_goes_on() {
    let server = server();
    let mut client = server.connect();
    assert_eq!(client.call(b"HELLO\r\n", 7), b"ERROR\r\n");
    assert_eq!(client.call(b"\x00\xff\xfe\r\n", 7), b"ERROR\r\n");
    assert_eq!(client.call(b"PING\r\n", 6), b"PONG\r\n");
}

#[test]
fn overlong_line_is_answered_and_closed_while_others_are_served() {
    let server = server();
    let mut bystander = server.connect();
    let mut attacker = server.connect();
    // 10 MiB without a newline: the server must not buffer it.
    let junk = vec![b'x'; 64 * 1024];
    let mut sent = 0;
    while sent < 10 << 20 {
        if attacker.stream().write_all(&junk).is_err() {
            break; // closed by the server: what we want
        }
        sent += junk.len();
    }
    let reply = attacker.read_to_close();
    assert_eq!(reply, b"CLIENT_ERROR line too long\r\n");
    assert_eq!(bystander.call(b"PING\r\n", 6), b"PONG\r\n");
    eprintln!("10 MiB without a newline: server RSS {} KiB after", server.rss_bytes() >> 10);
    assert!(server.rss_bytes() < 64 << 20, "rss {}", server.rss_bytes());
}

#[test]
fn client_that_never_reads_cannot_grow_server_memory() {
    let server = server();
    let mut greedy = server.connect();
    greedy.stream().set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let burst = b"PING\r\n".repeat(10_000);
    let mut sent = 0usize;
    // Pipeline 60 MB of requests without reading one reply; once both
    // kernel buffers and the server's capped buffers are full, writes block.
    while sent < 60 << 20 {
        match greedy.stream().write(&burst) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    assert!(sent < 60 << 20, "the server kept reading from a client that never reads");
    eprintln!(
        "a client that never reads: {} KiB sent before the server stopped reading; server RSS {} KiB",
        sent >> 10,
        server.rss_bytes() >> 10
    );
    assert!(server.rss_bytes() < 64 << 20, "rss {}", server.rss_bytes());
    let mut other = server.connect();
    assert_eq!(other.call(b"PING\r\n", 6), b"PONG\r\n");
}

#[test]
fn admin_port_answers_version_stats_and_quit() {
    let server = server();
    let mut client = server.connect();
    client.call(&b"PING\r\n".repeat(5), 30);

    let mut admin = server.connect_admin();
    admin.send(b"version\r\n");
    let line = admin.read_line();
    assert_eq!(line, format!("VERSION petrel-ping {}\r\n", env!("CARGO_PKG_VERSION")));

    admin.send(b"stats\r\n");
    let stats = admin.read_until_line("END\r\n");
    assert_eq!(stat(&stats, "ping"), Some(5), "{stats}");
    assert_eq!(stat(&stats, "curr_connections"), Some(1), "{stats}");
    assert_eq!(stat(&stats, "total_connections"), Some(1), "{stats}");
    assert_eq!(stat(&stats, "threads"), Some(2), "{stats}");
    assert_eq!(stat(&stats, "pid"), Some(server.pid() as i64), "{stats}");
    assert_eq!(stat(&stats, "bytes_read"), Some(30), "admin traffic is not counted: {stats}");
    assert_eq!(stat(&stats, "requests"), Some(5), "{stats}");

    wait_for_stat(&server, "bytes_written", 30);

    assert_eq!(admin.call(b"bogus\r\n", 7), b"ERROR\r\n");
    admin.send(b"quit\r\n");
    assert_eq!(admin.read_to_close(), b"");
}

#[test]
fn connection_counts_drop_as_clients_leave() {
    let server = server();
    let clients: Vec<Client> = (0..3).map(|_| server.connect()).collect();
    let mut check = server.connect();
    check.call(b"PING\r\n", 6); // all four are registered once this answers
    assert_eq!(stat(&admin_stats(&server), "curr_connections"), Some(4));
    drop(clients);
    wait_for_stat(&server, "curr_connections", 1);
}

#[test]
fn admin_port_serves_prometheus_health_and_ready() {
    let server = server();
    server.connect().call(b"PING\r\n", 6);
    let metrics = exchange(server.admin_addr(), b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(metrics.starts_with("HTTP/1.1 200 OK\r\n"), "{metrics}");
    assert!(metrics.contains("# TYPE ping counter\nping 1\n"), "{metrics}");
    let health = exchange(server.admin_addr(), b"GET /health HTTP/1.1\r\n\r\n");
    assert!(health.starts_with("HTTP/1.1 200 OK") && health.ends_with("OK\n"), "{health}");
    let ready = exchange(server.admin_addr(), b"GET /ready HTTP/1.1\r\n\r\n");
    assert!(ready.ends_with("READY\n"), "{ready}");
}

#[test]
fn connections_past_the_limit_are_refused_with_an_error() {
    let server = ServerProcess::start(BINARY, "[listener]\nmax_connections = 2\n[workers]\nthreads = 1\n");
    let mut first = server.connect();
    let mut second = server.connect();
    first.call(b"PING\r\n", 6);
    second.call(b"PING\r\n", 6);
    let mut third = server.connect();
    assert_eq!(third.read_to_close(), b"SERVER_ERROR too many open connections\r\n");
    drop(first);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut again = server.connect();
        again.send(b"PING\r\n");
        if again.read_exact(6) == b"PONG\r\n" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "a freed slot was never reused");
    }
}

#[test]
fn silent_connections_are_closed_after_the_idle_timeout_and_busy_ones_kept() {
    let server = ServerProcess::start(BINARY, "[listener]\nidle_timeout = 1\n[workers]\nthreads = 1\n");
    let mut silent = server.connect();
    let mut busy = server.connect();
    busy.call(b"PING\r\n", 6);
    let started = std::time::Instant::now();
    // The busy client speaks every 300 ms; the silent one never does.
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(busy.call(b"PING\r\n", 6), b"PONG\r\n");
    }
    assert_eq!(silent.read_to_close(), b"", "closed without a word");
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(5), "closed after {waited:?}");
    let stats = admin_stats(&server);
    assert_eq!(stat(&stats, "idle_kicks"), Some(1), "{stats}");
    assert_eq!(stat(&stats, "curr_connections"), Some(1), "{stats}");
}

#[test]
fn without_an_idle_timeout_silent_connections_stay() {
    let server = server();
    let mut silent = server.connect();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(silent.call(b"PING\r\n", 6), b"PONG\r\n");
    assert_eq!(stat(&admin_stats(&server), "idle_kicks"), Some(0));
}

#[test]
fn threads_are_named() {
    let server = ServerProcess::start(BINARY, "[workers]\nthreads = 3\n");
    let thread_names = || -> Vec<String> {
        std::fs::read_dir(format!("/proc/{}/task", server.pid()))
            .unwrap()
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .map(|name| name.trim().to_string())
            .collect()
    };
    // A thread names itself when it first runs, which may be just after the
    // server reports ready.
    let expected = ["admin", "listener", "worker-0", "worker-1", "worker-2"];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let names = thread_names();
        if expected.iter().all(|e| names.iter().any(|n| n == e)) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "threads {names:?}, expected {expected:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigterm_with_clients_connected_exits_zero_promptly() {
    let mut server = server();
    let mut idle = server.connect();
    let mut busy = server.connect();
    idle.call(b"PING\r\n", 6);
    busy.send(&b"PING\r\n".repeat(100));
    let (status, took) = server.stop_with(libc::SIGTERM);
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // Whatever the busy client was owed was sent before the close.
    let reply = busy.read_to_close();
    assert_eq!(reply.len() % 6, 0);
    assert!(reply.iter().all(|b| b"PONG\r\n".contains(b)));
}

#[test]
fn bad_config_is_rejected_naming_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[workers]\nthreadz = 4\n").unwrap();
    let output = Command::new(BINARY).arg(&path).arg("--test-config").output().unwrap();
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("workers.threadz") && message.contains("bad.toml"), "{message}");
}

#[test]
fn printed_config_is_a_valid_config() {
    let output = Command::new(BINARY).arg("--print-config").output().unwrap();
    assert!(output.status.success());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("printed.toml");
    std::fs::write(&path, &output.stdout).unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("address = \"127.0.0.1:12321\""), "{text}");
    let check = Command::new(BINARY).arg(&path).arg("--test-config").output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
}

#[test]
fn busy_port_fails_at_startup_with_a_clear_error() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.toml");
    let address = holder.local_addr().unwrap();
    std::fs::write(
        &path,
        format!("[listener]\naddress = \"{address}\"\n[admin]\naddress = \"127.0.0.1:0\"\n"),
    )
    .unwrap();
    let output = Command::new(BINARY).arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains(&format!("cannot listen on {address} (data port)")), "{message}");
}

#[test]
fn the_open_files_limit_is_raised_for_max_connections() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("limits.toml");
    std::fs::write(
        &config,
        "[listener]\naddress = \"127.0.0.1:0\"\nmax_connections = 3000\n[admin]\naddress = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    // Start under a soft limit of 512, as many systems set by default.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -Sn 512 && exec {BINARY} {}", config.display()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line)
        .unwrap();
    assert!(line.contains(" ready: "), "{line}");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let soft: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(soft >= 3000, "soft limit {soft}:\n{limits}");
}
