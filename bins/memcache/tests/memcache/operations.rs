//! What an operator meets: documented stats, the systemd unit, the admin
//! port, configuration from the environment, background threads.

use super::*;

#[test]
fn every_stat_is_documented_and_served_as_a_prometheus_metric_of_the_same_name() {
    let server = server();
    set(&mut server.connect(), "k", 0, "v");
    let guide = std::fs::read_to_string(manifest_dir().join("../../docs/operations.md")).unwrap();
    let metrics = petrel_testkit::exchange(server.admin_addr(), b"GET /metrics HTTP/1.1\r\n\r\n");
    let stats = admin_stats(&server);
    let names: Vec<&str> = stats.lines().filter_map(|line| line.split(' ').nth(1)).collect();
    assert!(names.len() > 50, "{stats}");
    for name in names {
        // Latency percentiles are documented, and exported, by their stem.
        let stem = ["_p50", "_p90", "_p999", "_p99", "_max"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|stem| stem.ends_with("_latency"));
        match stem {
            Some(stem) => {
                assert!(guide.contains(&format!("`{stem}_")), "docs/operations.md lacks {stem}_*");
                assert!(metrics.contains(&format!("\n{stem}{{quantile=")), "/metrics lacks {stem}");
            }
            None => {
                assert!(guide.contains(&format!("`{name}`")), "docs/operations.md lacks `{name}`");
                if !["pid", "uptime", "time", "version", "threads"].contains(&name) {
                    assert!(metrics.contains(&format!("\n{name} ")), "/metrics lacks {name}");
                }
            }
        }
    }
}

#[test]
fn the_sample_systemd_unit_passes_systemd_analyze() {
    let unit = std::fs::read_to_string(manifest_dir().join("../../config/petrel-memcache.service"))
        .unwrap()
        .replace("/usr/local/bin/petrel-memcache", BINARY);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("petrel-memcache.service");
    std::fs::write(&path, unit).unwrap();
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian package systemd, installed by scripts/setup)");
    let complaints = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && complaints.trim().is_empty(), "{complaints}");
}

#[test]
fn the_admin_port_cannot_change_data() {
    let server = server();
    let mut client = server.connect();
    set(&mut client, "kept", 3, "value");
    let mut admin = server.connect_admin();
    for command in [
        "set kept 0 0 1\r\nx\r\n",
        "delete kept\r\n",
        "flush_all\r\n",
        "incr kept 1\r\n",
        "touch kept 1\r\n",
        "ms kept 1\r\nx\r\n",
        "md kept\r\n",
    ] {
        admin.send(command.as_bytes());
        let reply = admin.read_line();
        assert_eq!(reply, "ERROR\r\n", "{command:?}");
        if command.contains("\r\nx\r\n") {
            // The data line is one more unknown command.
            assert_eq!(admin.read_line(), "ERROR\r\n");
        }
    }
    client.send(b"get kept\r\n");
    assert_eq!(client.read_until_line("END\r\n"), "VALUE kept 3 5\r\nvalue\r\nEND\r\n");
}

/// A web page can make a browser POST to the admin port with admin
/// commands in the body: the request line closes the connection, and
/// nothing after it runs.
#[test]
fn an_http_post_to_the_admin_port_closes_it_and_runs_nothing() {
    let server = ServerProcess::start(BINARY, &format!("{CONFIG}[checkpoint]\nroot = \".\"\n"));
    for request in [
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:9999\r\nContent-Type: text/plain\r\nContent-Length: 21\r\n\r\ncheckpoint from-post\n",
        "PUT /x HTTP/1.0\r\n\r\ncheckpoint from-put\r\n",
        "checkpoint from-line HTTP/1.1\r\n",
    ] {
        let mut admin = server.connect_admin();
        admin.send(request.as_bytes());
        assert_eq!(admin.read_to_close(), b"", "{request:?}");
    }
    let made: Vec<_> =
        std::fs::read_dir(server.dir()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    assert!(!made.iter().any(|name| name.to_string_lossy().starts_with("from-")), "{made:?}");
    let stats = admin_stats(&server);
    assert_eq!(stat(&stats, "admin_http_request_closes"), Some(3), "{stats}");
    assert_eq!(stat(&stats, "checkpoint_last_time"), Some(0), "{stats}");
}

#[test]
fn environment_overrides_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BINARY)
        .arg("--print-config")
        .env("PETREL_THREADS", "3")
        .env("PETREL_DATA_DIR", dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("threads = 3"), "{text}");
    assert!(text.contains(&format!("path = \"{}\"", dir.path().display())), "{text}");
    assert!(text.contains("address = \"127.0.0.1:11211\""), "{text}");
}

/// RocksDB's flush and merge threads are in the idle scheduling class, so
/// that on a shared core a request preempts them, and they stay there after
/// running a job (a flush is forced here by a checkpoint): RocksDB's own
/// priority lowering would switch them back to the normal class.
#[test]
fn rocksdb_background_threads_yield_to_the_workers() {
    const SCHED_OTHER: u32 = 0;
    const SCHED_IDLE: u32 = 5;
    let server = ServerProcess::start(BINARY, &format!("{CONFIG}[checkpoint]\nroot = \".\"\n"));
    let mut client = server.connect();
    client.send(b"set key 0 0 5\r\nvalue\r\n");
    assert_eq!(client.read_line(), "STORED\r\n");
    let mut admin = server.connect_admin();
    admin.send(b"checkpoint backup\r\n");
    assert!(admin.read_line().starts_with("OK "));
    // Each thread's name and scheduling policy, from /proc/PID/task/TID/stat
    // (the policy is the 41st field; the name, in parentheses, the 2nd).
    let tasks = std::fs::read_dir(format!("/proc/{}/task", server.pid())).unwrap();
    let policies: Vec<(String, u32)> = tasks
        .filter_map(|task| std::fs::read_to_string(task.unwrap().path().join("stat")).ok())
        .filter_map(|stat| {
            let (head, rest) = stat.split_once(") ")?;
            let name = head.split_once(" (")?.1.to_string();
            Some((name, rest.split(' ').nth(38)?.parse().ok()?))
        })
        .collect();
    let policy_of = |name: &str| policies.iter().find(|(task, _)| task == name).map(|(_, policy)| *policy);
    assert_eq!(policy_of("rocksdb:high"), Some(SCHED_IDLE), "the flush thread, after a flush: {policies:?}");
    assert_eq!(policy_of("rocksdb:low"), Some(SCHED_IDLE), "the merge thread: {policies:?}");
    assert_eq!(policy_of("worker-0"), Some(SCHED_OTHER), "a worker: {policies:?}");
}

#[test]
fn the_command_log_samples_reads_and_writes_alike() {
    let config = format!("{CONFIG}[logging]\nklog_sample = 1\nklog_output = \"commands.log\"\n");
    let mut server = ServerProcess::start(BINARY, &config);
    let mut client = server.connect();
    set(&mut client, "hot-key", 0, "value");
    client.send(b"get hot-key other\r\nmg hot-key v\r\ndelete hot-key\r\n");
    client.read_until_line("DELETED\r\n");
    let (status, _) = server.stop_with(libc::SIGTERM);
    assert!(status.success());
    let log = std::fs::read_to_string(server.dir().join("commands.log")).unwrap();
    for line in ["set hot-key 5", "get hot-key other", "mg hot-key", "delete hot-key"] {
        assert!(log.lines().any(|logged| logged.ends_with(line)), "no {line:?} in the command log:\n{log}");
    }
}

/// `stats conns` lists the listener and each client connection as memcached
/// does, with how long each has been silent, and forgets a client that left.
#[test]
fn stats_conns_lists_each_connection_and_how_long_it_has_been_silent() {
    let server = server();
    let mut quiet = server.connect();
    assert!(quiet.call(b"version\r\n", 0).is_empty());
    assert!(quiet.read_line().starts_with("VERSION "));
    let quiet_port = quiet.stream().local_addr().unwrap().port();
    std::thread::sleep(Duration::from_millis(2_100));
    let mut asking = server.connect();
    asking.send(b"stats conns\r\n");
    let conns = asking.read_until_line("END\r\n");
    let entry = |port: u16| -> Vec<String> {
        let id = conns
            .lines()
            .find(|line| line.ends_with(&format!(":addr tcp:127.0.0.1:{port}")))
            .unwrap_or_else(|| panic!("port {port} not listed: {conns}"))
            .split(' ')
            .nth(1)
            .unwrap()
            .split(':')
            .next()
            .unwrap()
            .to_string();
        conns.lines().filter(|line| line.starts_with(&format!("STAT {id}:"))).map(str::to_string).collect()
    };
    let listener = entry(server.data_addr().port());
    assert_eq!(listener.len(), 3, "{conns}");
    assert!(listener[1].ends_with(":state conn_listening"), "{conns}");
    let quiet_entry = entry(quiet_port);
    let listen_addr = format!(":listen_addr tcp:{}", server.data_addr());
    assert!(quiet_entry[1].ends_with(&listen_addr), "{conns}");
    assert!(quiet_entry[2].ends_with(":state conn_read"), "{conns}");
    let silent: u64 = quiet_entry[3].rsplit(' ').next().unwrap().parse().unwrap();
    assert!(silent >= 2, "{conns}");
    let asking_entry = entry(asking.stream().local_addr().unwrap().port());
    assert!(asking_entry[3].ends_with(":secs_since_last_cmd 0"), "{conns}");
    drop(quiet);
    wait_for_stat(&server, "curr_connections", 1);
    asking.send(b"stats conns\r\n");
    let conns = asking.read_until_line("END\r\n");
    assert!(!conns.contains(&format!("tcp:127.0.0.1:{quiet_port}\r\n")), "{conns}");
    assert_eq!(conns.lines().filter(|line| line.contains(":addr ")).count(), 2, "{conns}");
}
