//! petrel-memcache as a user meets it: the real binary, real sockets, a real
//! RocksDB directory.

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use petrel_testkit::{Client, ServerProcess, admin_stats, stat, wait_for_stat};

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
    let admin = admin_stats(&server);
    for name in [
        "rocksdb_block_cache_usage",
        "rocksdb_memtable_bytes",
        "rocksdb_live_sst_bytes",
        "rocksdb_pending_compaction_bytes",
        "item_cache_hits",
        "item_cache_misses",
        "item_cache_bytes",
    ] {
        assert!(stat(&admin, name).is_some(), "no {name} on the admin port:\n{admin}");
    }
    // The get followed the set, which went through to the item cache.
    assert!(stat(&admin, "item_cache_hits") >= Some(1), "{admin}");
    assert!(stat(&admin, "item_cache_bytes") > Some(0), "{admin}");
}

#[test]
fn hundred_thousand_keys_survive_a_restart_with_their_flags() {
    let server = server();
    let mut client = server.connect();
    let count = 100_000;
    for chunk in (0..count).collect::<Vec<_>>().chunks(1000) {
        let mut batch = Vec::new();
        for i in chunk {
            let value = format!("value-{i}");
            write!(batch, "set key-{i} {i} 0 {}\r\n{value}\r\n", value.len()).unwrap();
        }
        client.send(&batch);
        assert_eq!(client.read_exact(8 * chunk.len()), b"STORED\r\n".repeat(chunk.len()));
    }
    drop(client);
    let server = restart(server, CONFIG);
    let mut client = server.connect();
    for chunk in (0..count).collect::<Vec<_>>().chunks(100) {
        let keys: Vec<String> = chunk.iter().map(|i| format!("key-{i}")).collect();
        client.send(format!("get {}\r\n", keys.join(" ")).as_bytes());
        let mut expected = String::new();
        for i in chunk {
            let value = format!("value-{i}");
            expected.push_str(&format!("VALUE key-{i} {i} {}\r\n{value}\r\n", value.len()));
        }
        expected.push_str("END\r\n");
        assert_eq!(client.read_until_line("END\r\n"), expected);
    }
}

/// Keys each writer cycles through, so that later cycles overwrite.
const SLOTS: u64 = 1500;

/// The `n`th value a writer sends: unique, of varying size, checkable.
fn kill_test_value(writer: usize, n: u64) -> String {
    format!("w{writer}-n{n}-{}", "x".repeat((n * 7919 % 3000) as usize))
}

/// What one writer did in one cycle: the last write acknowledged per slot,
/// and the write in flight when the server died (it may or may not land).
struct WriterLog {
    acknowledged: Vec<(u64, u64)>,
    in_flight: Option<u64>,
}

fn write_until_the_server_dies(address: std::net::SocketAddr, writer: usize, first: u64) -> WriterLog {
    let mut client = Client::connect(address);
    let mut log = WriterLog { acknowledged: Vec::new(), in_flight: None };
    for n in first.. {
        let value = kill_test_value(writer, n);
        let request = format!("set w{writer}-{} {} 0 {}\r\n{value}\r\n", n % SLOTS, n % 65536, value.len());
        log.in_flight = Some(n);
        if client.stream().write_all(request.as_bytes()).is_err() {
            break;
        }
        let mut reply = [0u8; 8];
        if std::io::Read::read_exact(client.stream(), &mut reply).is_err() {
            break;
        }
        assert_eq!(&reply, b"STORED\r\n");
        log.acknowledged.push((n % SLOTS, n));
        log.in_flight = None;
    }
    log
}

/// SIGKILL at a random moment under load from four writers, restart, and
/// check every key: it holds its last acknowledged write, or the write that
/// was in flight, whole, with its flags; nothing else. Cycles come from
/// PETREL_KILL_CYCLES (3 by default; the long run in docs/reliability.md
/// uses 20).
#[test]
fn acknowledged_writes_survive_kill_9_at_random_moments() {
    let cycles: usize = std::env::var("PETREL_KILL_CYCLES").ok().and_then(|c| c.parse().ok()).unwrap_or(3);
    let writers = 4;
    let mut seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("kill -9 cycles: {cycles}, seed {seed}");
    // Per writer and slot: the last acknowledged n, and a possible later one.
    let mut expected: Vec<Vec<(Option<u64>, Option<u64>)>> =
        vec![vec![(None, None); SLOTS as usize]; writers];
    let mut next = 0u64;
    let mut server = server();
    let mut total_acknowledged = 0;
    for cycle in 0..cycles {
        let address = server.data_addr();
        let threads: Vec<_> = (0..writers)
            .map(|writer| std::thread::spawn(move || write_until_the_server_dies(address, writer, next)))
            .collect();
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let moment = Duration::from_millis(200 + (seed >> 33) % 1000);
        std::thread::sleep(moment);
        server.stop_with(libc::SIGKILL);
        for (writer, thread) in threads.into_iter().enumerate() {
            let log = thread.join().unwrap();
            total_acknowledged += log.acknowledged.len();
            for (slot, n) in log.acknowledged {
                expected[writer][slot as usize] = (Some(n), None);
            }
            if let Some(n) = log.in_flight {
                expected[writer][(n % SLOTS) as usize].1 = Some(n);
            }
        }
        next += 10_000_000;
        server = ServerProcess::start_in(BINARY, CONFIG, server.into_dir());
        let mut client = server.connect();
        for (writer, slots) in expected.iter_mut().enumerate() {
            for (slot, entry) in slots.iter_mut().enumerate() {
                let (acknowledged, in_flight) = *entry;
                if acknowledged.is_none() && in_flight.is_none() {
                    continue;
                }
                client.send(format!("get w{writer}-{slot}\r\n").as_bytes());
                let reply = client.read_until_line("END\r\n");
                let holds = |n: u64| {
                    let value = kill_test_value(writer, n);
                    reply
                        == format!(
                            "VALUE w{writer}-{slot} {} {}\r\n{value}\r\nEND\r\n",
                            n % 65536,
                            value.len()
                        )
                };
                // The write in flight is settled now, whichever way it went.
                *entry = match (acknowledged, in_flight) {
                    (_, Some(n)) if holds(n) => (Some(n), None),
                    (Some(n), _) if holds(n) => (Some(n), None),
                    (None, _) if reply == "END\r\n" => (None, None),
                    _ => panic!(
                        "cycle {cycle}, w{writer}-{slot}: acknowledged {acknowledged:?}, in flight {in_flight:?}, got {reply:.120}"
                    ),
                };
            }
        }
        eprintln!(
            "cycle {cycle}: killed after {moment:?}; {total_acknowledged} writes acknowledged so far, none lost"
        );
    }
    assert!(total_acknowledged > 1000 * cycles, "only {total_acknowledged} writes were acknowledged");
}

#[test]
fn sigterm_under_load_exits_zero_promptly_and_keeps_every_acknowledged_write() {
    let mut server = server();
    let address = server.data_addr();
    let threads: Vec<_> = (0..4)
        .map(|writer| std::thread::spawn(move || write_until_the_server_dies(address, writer, 0)))
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let (status, took) = server.stop_with(libc::SIGTERM);
    assert!(status.success(), "{status:?}: {}", server.stderr_text());
    assert!(took < Duration::from_secs(5), "SIGTERM under load took {took:?}");
    let logs: Vec<WriterLog> = threads.into_iter().map(|thread| thread.join().unwrap()).collect();
    eprintln!("SIGTERM under load: exit 0 after {took:?}");
    let server = ServerProcess::start_in(BINARY, CONFIG, server.into_dir());
    let mut client = server.connect();
    let mut checked = 0;
    for (writer, log) in logs.iter().enumerate() {
        let mut last = std::collections::HashMap::new();
        for &(slot, n) in &log.acknowledged {
            last.insert(slot, n);
        }
        for (slot, n) in last {
            let value = kill_test_value(writer, n);
            client.send(format!("get w{writer}-{slot}\r\n").as_bytes());
            let expected =
                format!("VALUE w{writer}-{slot} {} {}\r\n{value}\r\nEND\r\n", n % 65536, value.len());
            let reply = client.read_until_line("END\r\n");
            // A later write to the slot may have been in flight and landed.
            let in_flight_landed =
                log.in_flight.is_some_and(|f| f % SLOTS == slot && reply.contains(&format!("-n{f}-")));
            assert!(reply == expected || in_flight_landed, "w{writer}-{slot}: {reply:.100}");
            checked += 1;
        }
    }
    assert!(checked > 1000, "only {checked} keys written");
}

#[test]
fn a_key_that_expires_while_the_server_is_down_is_gone_after() {
    let server = server();
    let mut client = server.connect();
    client.send(b"set short 0 2 1\r\na\r\nset long 0 1000 1\r\nb\r\n");
    assert_eq!(client.read_exact(16), b"STORED\r\nSTORED\r\n");
    drop(client);
    let mut server = server;
    let (status, _) = server.stop_with(libc::SIGTERM);
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(3100));
    let server = ServerProcess::start_in(BINARY, CONFIG, server.into_dir());
    let mut client = server.connect();
    client.send(b"get short long\r\n");
    assert_eq!(client.read_until_line("END\r\n"), "VALUE long 0 1\r\nb\r\nEND\r\n");
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
fn writing_three_times_the_capacity_keeps_disk_near_it() {
    let capacity: u64 = 16 << 20;
    let config = format!(
        "[workers]\nthreads = 1\n[storage]\ncapacity = {capacity}\nwrite_buffer_size = 2097152\nitem_cache_size = 8388608\nblock_cache_size = 8388608\ncompression = \"none\"\n"
    );
    let server = ServerProcess::start(BINARY, &config);
    let mut client = server.connect();
    let value = "x".repeat(8192);
    let total = 3 * capacity as usize / value.len();
    for chunk in (0..total).collect::<Vec<_>>().chunks(100) {
        let mut batch = Vec::new();
        for i in chunk {
            write!(batch, "set key-{i:08} 0 0 {}\r\n{value}\r\n", value.len()).unwrap();
        }
        client.send(&batch);
        assert_eq!(client.read_exact(8 * chunk.len()), b"STORED\r\n".repeat(chunk.len()));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stats = admin_stats(&server);
        let evictions = stat(&stats, "evictions").unwrap();
        let disk = server.disk_use("data");
        // Capacity bounds the tables; the log adds at most twice the
        // memtables (2 × 2 MiB × 2 here), and a few small files.
        if evictions > 0 && disk < capacity + (8 << 20) + (1 << 20) {
            break;
        }
        assert!(Instant::now() < deadline, "evictions {evictions}, disk {disk} for capacity {capacity}");
        std::thread::sleep(Duration::from_millis(100));
    }
    client.send(format!("get key-{:08}\r\n", total - 1).as_bytes());
    assert!(client.read_until_line("END\r\n").starts_with("VALUE"), "the newest item is kept");
}

#[test]
fn a_data_directory_held_by_another_server_is_refused() {
    let first = server();
    std::fs::write(
        first.dir().join("second.toml"),
        format!("{CONFIG}[listener]\naddress = \"127.0.0.1:0\"\n[admin]\naddress = \"127.0.0.1:0\"\n"),
    )
    .unwrap();
    let output = Command::new(BINARY).arg("second.toml").current_dir(first.dir()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("cannot open the data directory ./data") && message.contains("lock"),
        "{message}"
    );
    // The first server goes on serving.
    set(&mut first.connect(), "still", 0, "here");
}

/// Runs the binary on `config` in `dir`, expecting it to refuse to start:
/// exit status 2 and a message on stderr, returned. `storage` is added to
/// the `[storage]` section.
fn refused_start(dir: &std::path::Path, storage: &str) -> String {
    std::fs::write(dir.join("refused.toml"), format!("{CONFIG}{storage}")).unwrap();
    let output = Command::new(BINARY).arg("refused.toml").current_dir(dir).output().unwrap();
    let message = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{message}");
    message
}

#[test]
fn unreadable_or_corrupt_data_directories_are_refused_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    // A path that cannot be a directory.
    std::fs::write(dir.path().join("a-file"), "not a directory").unwrap();
    let message = refused_start(dir.path(), "path = \"a-file\"\n");
    assert!(message.contains("cannot open the data directory a-file"), "{message}");

    // A directory this process may not read (root may read anything).
    if unsafe { libc::geteuid() } != 0 {
        use std::os::unix::fs::PermissionsExt;
        let locked = dir.path().join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        let message = refused_start(dir.path(), "path = \"locked\"\n");
        assert!(message.contains("cannot open the data directory locked"), "{message}");
    }

    // A database whose files were damaged.
    let mut server = ServerProcess::start(BINARY, CONFIG);
    set(&mut server.connect(), "k", 0, "v");
    assert!(server.stop_with(libc::SIGTERM).0.success());
    let data = server.dir().join("data");
    std::fs::write(data.join("CURRENT"), "MANIFEST-999999\n").unwrap();
    let message = refused_start(server.dir(), "");
    assert!(message.contains("cannot open the data directory ./data"), "{message}");
    let manifest = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().into_string().unwrap())
        .find(|name| name.starts_with("MANIFEST-"))
        .unwrap();
    std::fs::write(data.join("CURRENT"), format!("{manifest}\n")).unwrap();
    std::fs::write(data.join(&manifest), b"\xde\xad\xbe\xef garbage").unwrap();
    let message = refused_start(server.dir(), "");
    assert!(message.contains("cannot open the data directory ./data"), "{message}");
    assert!(message.contains("Corruption"), "{message}");
}

#[test]
fn an_admin_checkpoint_is_a_backup_taken_while_serving() {
    let server = server();
    let mut client = server.connect();
    for i in 0..1000 {
        set(&mut client, &format!("key-{i}"), i, &format!("value-{i}"));
    }
    // A writer keeps going while the checkpoint is taken.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, mut client) = (stop.clone(), server.connect());
        std::thread::spawn(move || {
            let mut written = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                set(&mut client, &format!("during-{written}"), 0, "x");
                written += 1;
            }
            written
        })
    };
    let backups = tempfile::tempdir().unwrap();
    let backup = backups.path().join("backup-1");
    let mut admin = server.connect_admin();
    admin.send(format!("checkpoint {}\r\n", backup.display()).as_bytes());
    assert_eq!(admin.read_line(), format!("OK {}\r\n", backup.display()));
    // Into an existing directory, or with no directory: refused.
    admin.send(format!("checkpoint {}\r\ncheckpoint\r\n", backup.display()).as_bytes());
    assert!(admin.read_line().starts_with("SERVER_ERROR cannot write a checkpoint into "));
    assert_eq!(admin.read_line(), "CLIENT_ERROR usage: checkpoint <directory>\r\n");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0);
    drop(server);

    // A server opened on the backup has every item written before it.
    let restored = ServerProcess::start(BINARY, &format!("{CONFIG}path = \"{}\"\n", backup.display()));
    let mut client = restored.connect();
    for i in [0, 500, 999] {
        client.send(format!("get key-{i}\r\n").as_bytes());
        let expected = format!("VALUE key-{i} {i} {}\r\nvalue-{i}\r\nEND\r\n", format!("value-{i}").len());
        assert_eq!(client.read_until_line("END\r\n"), expected);
    }
}

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
        "POST /flush HTTP/1.1\r\n\r\n",
    ] {
        admin.send(command.as_bytes());
        let reply = admin.read_line();
        assert_eq!(reply, "ERROR\r\n", "{command:?}");
        if command.contains("\r\nx\r\n") {
            // The data line is one more unknown command.
            assert_eq!(admin.read_line(), "ERROR\r\n");
        }
        if command.starts_with("POST") {
            assert_eq!(admin.read_line(), "ERROR\r\n");
        }
    }
    client.send(b"get kept\r\n");
    assert_eq!(client.read_until_line("END\r\n"), "VALUE kept 3 5\r\nvalue\r\nEND\r\n");
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

#[test]
fn curr_connections_counts_clients() {
    let server = server();
    let clients: Vec<Client> = (0..3).map(|_| server.connect()).collect();
    let mut probe = server.connect();
    probe.call(b"version\r\n", 0);
    assert!(probe.read_line().starts_with("VERSION petrel-memcache "));
    wait_for_stat(&server, "curr_connections", 4);
    drop(clients);
    wait_for_stat(&server, "curr_connections", 1);
}

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

/// This package's directory, as cargo gives it when running the test: the
/// compile-time value may name another checkout sharing the target directory.
fn manifest_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"))
}

/// RocksDB's flush and merge threads are in the idle scheduling class, so
/// that on a shared core a request preempts them, and they stay there after
/// running a job (a flush is forced here by a checkpoint): RocksDB's own
/// priority lowering would switch them back to the normal class.
#[test]
fn rocksdb_background_threads_yield_to_the_workers() {
    const SCHED_OTHER: u32 = 0;
    const SCHED_IDLE: u32 = 5;
    let server = server();
    let mut client = server.connect();
    client.send(b"set key 0 0 5\r\nvalue\r\n");
    assert_eq!(client.read_line(), "STORED\r\n");
    let backup = server.dir().join("backup");
    let mut admin = server.connect_admin();
    admin.send(format!("checkpoint {}\r\n", backup.display()).as_bytes());
    assert_eq!(admin.read_line(), format!("OK {}\r\n", backup.display()));
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
