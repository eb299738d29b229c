//! `watch` on the real server: a watcher sees the log, a slow watcher
//! cannot slow the clients and is told what it missed, and a watcher that
//! leaves is forgotten. (Lines against memcached's: tests/python/test_watch.py.)

use super::*;

#[test]
fn a_watcher_sees_gets_and_stores_in_order() {
    let server = server();
    let mut watcher = server.connect();
    assert_eq!(watcher.call(b"watch fetchers mutations\r\n", 4), b"OK\r\n");
    let mut client = server.connect();
    set(&mut client, "k", 3, "value");
    client.send(b"get k missing\r\n");
    client.read_until_line("END\r\n");
    let lines: Vec<String> = (0..3).map(|_| watcher.read_line()).collect();
    assert!(
        lines[0].contains(" type=item_store key=k status=stored cmd=set ttl=0 clsid=1 cfd=0 size=5\n"),
        "{lines:?}"
    );
    assert!(lines[1].contains(" type=item_get key=k status=found clsid=1 cfd=0 size=5\n"), "{lines:?}");
    assert!(
        lines[2].contains(" type=item_get key=missing status=not_found clsid=0 cfd=0 size=0\n"),
        "{lines:?}"
    );
    let gids: Vec<u64> = lines
        .iter()
        .map(|line| line.split(" gid=").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(gids[0] < gids[1] && gids[1] < gids[2], "{gids:?}");
    assert_eq!(stat(&admin_stats(&server), "log_watchers"), Some(1));
}

#[test]
fn a_watcher_that_does_not_read_slows_no_one_and_is_told_what_it_missed() {
    let server = ServerProcess::start(BINARY, &format!("{CONFIG}[listener]\nidle_timeout = 1\n"));
    let mut watcher = server.connect();
    assert_eq!(watcher.call(b"watch mutations\r\n", 4), b"OK\r\n");
    // Far more lines than the watcher's queue and socket hold, unread.
    let mut client = server.connect();
    let started = Instant::now();
    for batch in 0..200 {
        let mut requests = Vec::new();
        for i in 0..1000 {
            write!(requests, "set key-{batch}-{i} 0 0 1 noreply\r\nx\r\n").unwrap();
        }
        requests.extend_from_slice(b"mn\r\n");
        client.send(&requests);
        assert_eq!(client.read_line(), "MN\r\n");
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(30), "200,000 sets took {took:?} with a stalled watcher");
    // Past the idle timeout: a watcher is not idle.
    std::thread::sleep(Duration::from_millis(2500));
    // Every set is accounted for, as a line or in a `skipped=N` count. How
    // many arrive as lines depends on the kernel's socket buffers.
    let (mut delivered, mut skipped) = (0, 0);
    while delivered + skipped < 200_000 {
        let line = watcher.read_line();
        match line.strip_prefix("skipped=") {
            Some(count) => skipped += count.trim_end().parse::<i64>().unwrap(),
            None => {
                assert!(line.contains(" type=item_store key=key-"), "{line:?}");
                delivered += 1;
            }
        }
    }
    assert_eq!(delivered + skipped, 200_000);
    // 200,000 lines are 22 MB: far more than the queue and the buffers hold.
    assert!(skipped > 50_000, "{delivered} lines delivered, {skipped} skipped");
    let stats = admin_stats(&server);
    assert_eq!(stat(&stats, "log_watcher_sent"), Some(delivered), "{stats}");
    assert_eq!(stat(&stats, "log_watcher_skipped"), Some(skipped), "{stats}");
    assert!(server.rss_bytes() < 512 << 20);
    drop(watcher);
    wait_for_stat(&server, "log_watchers", 0);
}

/// The watchers' limit is the operator's to set, and a watcher past it is
/// told so in memcached's words; a slot frees when its watcher leaves.
#[test]
fn watchers_past_the_limit_are_refused_as_memcached_refuses_them() {
    let server =
        ServerProcess::start(BINARY, &CONFIG.replace("[storage]", "[protocol]\nmax_watchers = 2\n[storage]"));
    let mut first = server.connect();
    assert_eq!(first.call(b"watch\r\n", 4), b"OK\r\n");
    let mut second = server.connect();
    assert_eq!(second.call(b"watch mutations\r\n", 4), b"OK\r\n");
    let mut third = server.connect();
    third.send(b"watch\r\n");
    assert_eq!(third.read_line(), "WATCHER_TOO_MANY log watcher limit reached\r\n");
    third.send(b"version\r\n");
    assert!(third.read_line().starts_with("VERSION "), "the refused connection goes on");
    drop(first);
    wait_for_stat(&server, "log_watchers", 1);
    assert_eq!(third.call(b"watch\r\n", 4), b"OK\r\n");
}
