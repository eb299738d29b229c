//! What survives: restarts, kill -9, SIGTERM under load, bounded disk, data
//! directories that cannot be used.

use super::*;

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

fn write_until_the_server_dies(mut client: Client, writer: usize, first: u64) -> WriterLog {
    let mut log = WriterLog { acknowledged: Vec::new(), in_flight: None };
    for n in first.. {
        let value = kill_test_value(writer, n);
        let request = format!("set w{writer}-{} {} 0 {}\r\n{value}\r\n", n % SLOTS, n % 65536, value.len());
        log.in_flight = Some(n);
        if client.write_all(request.as_bytes()).is_err() {
            break;
        }
        let mut reply = [0u8; 8];
        if std::io::Read::read_exact(&mut client, &mut reply).is_err() {
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
/// Opens a client connection to a server's data port.
pub(crate) type Connect = std::sync::Arc<dyn Fn(std::net::SocketAddr) -> Client + Send + Sync>;

#[test]
fn acknowledged_writes_survive_kill_9_at_random_moments() {
    kill_9_cycles(CONFIG, std::sync::Arc::new(Client::connect));
}

/// Writers set keys until the server is killed at a random moment; after
/// each restart every acknowledged write must be there (`PETREL_KILL_CYCLES`
/// cycles, 3 by default).
pub(crate) fn kill_9_cycles(config: &str, connect: Connect) {
    let cycles: usize = std::env::var("PETREL_KILL_CYCLES").ok().and_then(|c| c.parse().ok()).unwrap_or(3);
    let writers = 4;
    let mut seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("kill -9 cycles: {cycles}, seed {seed}");
    // Per writer and slot: the last acknowledged n, and a possible later one.
    let mut expected: Vec<Vec<(Option<u64>, Option<u64>)>> =
        vec![vec![(None, None); SLOTS as usize]; writers];
    let mut next = 0u64;
    let mut server = ServerProcess::start(BINARY, config);
    let mut total_acknowledged = 0;
    for cycle in 0..cycles {
        let address = server.data_addr();
        let threads: Vec<_> = (0..writers)
            .map(|writer| {
                let client = connect(address);
                std::thread::spawn(move || write_until_the_server_dies(client, writer, next))
            })
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
        server = ServerProcess::start_in(BINARY, config, server.into_dir());
        let mut client = connect(server.data_addr());
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
        .map(|writer| {
            let client = Client::connect(address);
            std::thread::spawn(move || write_until_the_server_dies(client, writer, 0))
        })
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
