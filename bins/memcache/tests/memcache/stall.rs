//! `write_stall = "busy"` on a real server under a real stall: RocksDB's
//! memtables fill faster than one background job flushes them, so writes
//! are refused as busy, both at a round's first write and at the commit of
//! a round the stall began in; either way the client reads
//! `SERVER_ERROR 307 busy`, the reply mcrouter fails over on.

use super::*;

const VALUE_LEN: usize = 4096;

#[test]
fn writes_refused_by_a_stall_are_answered_busy_even_at_the_commit() {
    let config = CONFIG.replace(
        "write_buffer_size = 4194304\n",
        "write_buffer_size = 1048576\nwrite_buffer_count = 2\nbackground_jobs = 1\nwrite_stall = \"busy\"\n",
    );
    let server = ServerProcess::start(BINARY, &config);
    let started = Instant::now();
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let mut client = server.connect();
            std::thread::spawn(move || {
                let (mut stored, mut busy) = (Vec::new(), Vec::new());
                let mut round = 0;
                while started.elapsed() < Duration::from_secs(6) {
                    let mut batch = Vec::new();
                    for i in 0..64 {
                        let key = format!("w{writer}-{round}-{i}");
                        let value = petrel_testkit::incompressible_value(
                            (writer * 1_000_000 + round * 64 + i) as u64,
                            VALUE_LEN,
                        );
                        batch.extend_from_slice(format!("set {key} 0 0 {VALUE_LEN}\r\n").as_bytes());
                        batch.extend_from_slice(&value);
                        batch.extend_from_slice(b"\r\n");
                    }
                    client.send(&batch);
                    for i in 0..64 {
                        let key = format!("w{writer}-{round}-{i}");
                        match client.read_line().as_str() {
                            "STORED\r\n" => stored.push(key),
                            "SERVER_ERROR 307 busy\r\n" => busy.push(key),
                            other => panic!("{key}: {other:?}"),
                        }
                    }
                    round += 1;
                }
                (stored, busy)
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for writer in writers {
        outcomes.push(writer.join().expect("every write answered STORED or 307 busy"));
    }
    let stats = admin_stats(&server);
    let (stored, busy): (usize, usize) =
        outcomes.iter().fold((0, 0), |(s, b), (stored, busy)| (s + stored.len(), b + busy.len()));
    eprintln!(
        "busy store: {stored} stored, {busy} busy; write_stalls {:?}, commit_errors {:?}",
        stat(&stats, "write_stalls"),
        stat(&stats, "commit_errors")
    );
    assert!(busy > 0, "the store never stalled: {stats}");
    assert!(
        stat(&stats, "commit_errors").unwrap() > 0,
        "no commit failed, so its path went untried: {stats}"
    );
    // What was answered STORED is there. (What was answered busy may be
    // there too: a round whose writes went to RocksDB in two batches, one
    // refused, is answered busy as a whole; see docs/memcache.md.)
    let mut client = server.connect();
    for (stored, _) in &outcomes {
        for key in stored {
            client.send(format!("mg {key} s\r\n").as_bytes());
            assert_eq!(client.read_line(), format!("HD s{VALUE_LEN}\r\n"), "{key}");
        }
    }
}
