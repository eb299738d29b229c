//! Conformance cases of the classic text commands, stats and concurrency.

use super::{Harness, cas_of};
use petrel_memcache_service::Expiry;
use petrel_memcache_service::{
    ArithmeticRequest, Counted, FetchRequest, Fetched, Storage, StoreMode, StoreRequest, Stored,
};

pub(super) fn set_get_gets<S: Storage>(h: &mut Harness<S>) {
    h.expect("set k 42 0 5\r\nhello\r\n", "STORED\r\n");
    h.expect("get k\r\n", "VALUE k 42 5\r\nhello\r\nEND\r\n");
    let gets = h.send(b"gets k\r\n");
    let cas: u64 = gets.split_whitespace().nth(4).unwrap().parse().unwrap();
    assert_eq!(gets, format!("VALUE k 42 5 {cas}\r\nhello\r\nEND\r\n"));
    h.expect("set k 7 0 0\r\n\r\n", "STORED\r\n");
    h.expect("get k\r\n", "VALUE k 7 0\r\n\r\nEND\r\n");
    h.expect("get missing\r\n", "END\r\n");
    h.expect("set big 4294967295 0 1\r\nx\r\n", "STORED\r\n");
    h.expect("get big\r\n", "VALUE big 4294967295 1\r\nx\r\nEND\r\n");
}

pub(super) fn multi_get<S: Storage>(h: &mut Harness<S>) {
    h.expect("set a 1 0 1\r\nA\r\nset c 3 0 1\r\nC\r\n", "STORED\r\nSTORED\r\n");
    h.expect("get a b c a\r\n", "VALUE a 1 1\r\nA\r\nVALUE c 3 1\r\nC\r\nVALUE a 1 1\r\nA\r\nEND\r\n");
}

pub(super) fn add_replace<S: Storage>(h: &mut Harness<S>) {
    h.expect("replace k 0 0 1\r\na\r\n", "NOT_STORED\r\n");
    h.expect("add k 0 0 1\r\na\r\n", "STORED\r\n");
    h.expect("add k 0 0 1\r\nb\r\n", "NOT_STORED\r\n");
    h.expect("replace k 5 0 1\r\nc\r\n", "STORED\r\n");
    h.expect("get k\r\n", "VALUE k 5 1\r\nc\r\nEND\r\n");
}

pub(super) fn append_prepend<S: Storage>(h: &mut Harness<S>) {
    h.expect("append k 0 0 1\r\na\r\n", "NOT_STORED\r\n");
    h.expect("prepend k 0 0 1\r\na\r\n", "NOT_STORED\r\n");
    h.expect("set k 9 0 3\r\nmid\r\n", "STORED\r\n");
    h.expect("append k 1 0 4\r\n-end\r\n", "STORED\r\n");
    h.expect("prepend k 2 0 6\r\nstart-\r\n", "STORED\r\n");
    h.expect("get k\r\n", "VALUE k 9 13\r\nstart-mid-end\r\nEND\r\n");
}

pub(super) fn cas<S: Storage>(h: &mut Harness<S>) {
    h.expect("cas k 0 0 1 1\r\na\r\n", "NOT_FOUND\r\n");
    h.expect("set k 0 0 1\r\na\r\n", "STORED\r\n");
    let first = cas_of(h, "k");
    h.expect(&format!("cas k 3 0 1 {}\r\nb\r\n", first + 1000), "EXISTS\r\n");
    h.expect(&format!("cas k 3 0 1 {first}\r\nb\r\n"), "STORED\r\n");
    h.expect(&format!("cas k 3 0 1 {first}\r\nc\r\n"), "EXISTS\r\n");
    let second = cas_of(h, "k");
    assert!(second > first, "CAS values increase: {first} then {second}");
    h.expect("get k\r\n", "VALUE k 3 1\r\nb\r\nEND\r\n");
    h.expect("set other 0 0 1\r\nx\r\n", "STORED\r\n");
    assert_ne!(cas_of(h, "other"), second, "CAS values are unique");
}

pub(super) fn incr_decr<S: Storage>(h: &mut Harness<S>) {
    h.expect("incr n 1\r\n", "NOT_FOUND\r\n");
    h.expect("decr n 1\r\n", "NOT_FOUND\r\n");
    h.expect("set n 5 0 2\r\n10\r\n", "STORED\r\n");
    h.expect("incr n 5\r\n", "15\r\n");
    h.expect("decr n 1\r\n", "14\r\n");
    h.expect("decr n 100\r\n", "0\r\n");
    // As memcached: a shorter result is written over the old value, padded.
    h.expect("get n\r\n", "VALUE n 5 2\r\n0 \r\nEND\r\n");
    h.expect("set n 0 0 20\r\n18446744073709551615\r\n", "STORED\r\n");
    h.expect("incr n 1\r\n", "0\r\n");
    h.expect("incr n 18446744073709551615\r\n", "18446744073709551615\r\n");
    h.expect("incr n 2\r\n", "1\r\n");
    h.expect("set word 0 0 3\r\nabc\r\n", "STORED\r\n");
    h.expect("incr word 1\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    h.expect("set big 0 0 20\r\n18446744073709551616\r\n", "STORED\r\n");
    h.expect("incr big 1\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    h.expect("incr n abc\r\n", "CLIENT_ERROR invalid numeric delta argument\r\n");
}

pub(super) fn delete_and_touch<S: Storage>(h: &mut Harness<S>) {
    h.expect("delete k\r\n", "NOT_FOUND\r\n");
    h.expect("touch k 10\r\n", "NOT_FOUND\r\n");
    h.expect("set k 0 0 1\r\na\r\n", "STORED\r\n");
    h.expect("touch k 100\r\n", "TOUCHED\r\n");
    h.expect("mg k t\r\n", "HD t100\r\n");
    h.expect("touch k -1\r\n", "TOUCHED\r\n");
    h.expect("get k\r\n", "END\r\n");
    h.expect("set k 0 0 1\r\na\r\n", "STORED\r\n");
    h.expect("delete k\r\n", "DELETED\r\n");
    h.expect("get k\r\n", "END\r\n");
}

pub(super) fn expiry<S: Storage>(h: &mut Harness<S>) {
    let now = h.clock.now();
    h.expect("set neg 0 -1 1\r\na\r\n", "STORED\r\n");
    h.expect("get neg\r\n", "END\r\n");
    h.expect(&format!("set past 0 {} 1\r\na\r\n", now - 10), "STORED\r\n");
    h.expect("get past\r\n", "END\r\n");
    h.expect(&format!("set future 0 {} 1\r\na\r\n", now + 3600), "STORED\r\n");
    h.expect("get future\r\n", "VALUE future 0 1\r\na\r\nEND\r\n");
    h.expect("set relative 0 100 1\r\na\r\n", "STORED\r\n");
    h.expect("mg relative t\r\n", "HD t100\r\n");
    h.expect("gat -1 relative\r\n", "VALUE relative 0 1\r\na\r\nEND\r\n");
    h.expect("get relative\r\n", "END\r\n");
    // An item is there until the second its time runs out, then gone.
    h.expect("set soon 0 5 1\r\na\r\n", "STORED\r\n");
    h.clock.advance(4);
    h.expect("mg soon v t\r\n", "VA 1 t1\r\na\r\n");
    h.clock.advance(1);
    h.expect("get soon\r\n", "END\r\n");
    let now = h.clock.now();
    // Below the protocol, with time passed in: an item is gone from its
    // expiry time on, and only then.
    h.storage
        .one_off(|s, w| s.store(w, b"timed", b"v", StoreRequest::set(0, Expiry::At(now + 5), 1024), now))
        .unwrap();
    assert!(matches!(
        h.storage.one_off(|s, w| s.fetch(w, b"timed", FetchRequest::default(), None, now + 4)),
        Ok(Fetched::Hit(_))
    ));
    assert_eq!(
        h.storage.one_off(|s, w| s.fetch(w, b"timed", FetchRequest::default(), None, now + 5)),
        Ok(Fetched::Miss { expired: true })
    );
}

pub(super) fn noreply<S: Storage>(h: &mut Harness<S>) {
    h.expect(
        "set k 0 0 1 noreply\r\na\r\nadd k 0 0 1 noreply\r\nb\r\nappend k 0 0 1 noreply\r\nc\r\nget k\r\n",
        "VALUE k 0 2\r\nac\r\nEND\r\n",
    );
    h.expect(
        "set n 0 0 1\r\n1\r\nincr n 5 noreply\r\ndecr n 1 noreply\r\nget n\r\n",
        "STORED\r\nVALUE n 0 1\r\n5\r\nEND\r\n",
    );
    h.expect("touch k 10 noreply\r\ndelete k noreply\r\ndelete k noreply\r\nget k\r\n", "END\r\n");
    h.expect("flush_all noreply\r\nverbosity 1 noreply\r\nmn\r\n", "MN\r\n");
    // Errors too are silenced, as memcached silences them: a client that
    // asked for no reply would read a stray error as its next reply.
    h.expect("set k 0 0 1 noreply\r\nabc", "");
    h.expect("set w 0 0 1 noreply\r\nx\r\nincr w 1 noreply\r\nmn\r\n", "MN\r\n");
    h.expect("delete k 10 noreply\r\nverbosity noreply\r\ntouch k abc noreply\r\nmn\r\n", "MN\r\n");
    // A word where noreply may stand is no noreply: the error is sent.
    h.expect(
        "delete k noreply x\r\n",
        "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n",
    );
}

pub(super) fn flush_all<S: Storage>(h: &mut Harness<S>) {
    h.expect("set a 0 0 1\r\na\r\nset b 0 0 1\r\nb\r\n", "STORED\r\nSTORED\r\n");
    h.expect("flush_all\r\n", "OK\r\n");
    h.expect("get a b\r\n", "END\r\n");
    h.expect("set c 0 0 1\r\nc\r\n", "STORED\r\n");
    h.expect("get c\r\n", "VALUE c 0 1\r\nc\r\nEND\r\n");
    // A delayed flush: what exists at that moment goes, what comes later stays.
    h.expect("flush_all 100\r\n", "OK\r\n");
    h.expect("get c\r\n", "VALUE c 0 1\r\nc\r\nEND\r\n");
    // As in memcached, a delay of 100 takes effect 99 seconds on.
    h.clock.advance(98);
    h.expect("get c\r\n", "VALUE c 0 1\r\nc\r\nEND\r\n");
    h.clock.advance(1);
    h.expect("get c\r\n", "END\r\n");
    h.expect("set d 0 0 1\r\nd\r\n", "STORED\r\n");
    h.expect("get d\r\n", "VALUE d 0 1\r\nd\r\nEND\r\n");
    let now = h.clock.now();
    let set = StoreRequest::set(0, Expiry::Never, 1024);
    h.storage.one_off(|s, w| s.flush_all(w, now + 10, now)).unwrap();
    h.storage.one_off(|s, w| s.store(w, b"late", b"v", set, now + 11)).unwrap();
    assert!(matches!(
        h.storage.one_off(|s, w| s.fetch(w, b"d", FetchRequest::default(), None, now + 9)),
        Ok(Fetched::Hit(_))
    ));
    assert!(matches!(
        h.storage.one_off(|s, w| s.fetch(w, b"d", FetchRequest::default(), None, now + 10)),
        Ok(Fetched::Miss { .. })
    ));
    assert!(matches!(
        h.storage.one_off(|s, w| s.fetch(w, b"late", FetchRequest::default(), None, now + 12)),
        Ok(Fetched::Hit(_))
    ));
    // A flush now replaces a pending one, as in memcached.
    h.storage.one_off(|s, w| s.flush_all(w, now + 10, now)).unwrap();
    h.storage.one_off(|s, w| s.flush_all(w, now, now)).unwrap();
    h.storage.one_off(|s, w| s.store(w, b"kept", b"v", set, now + 1)).unwrap();
    assert!(matches!(
        h.storage.one_off(|s, w| s.fetch(w, b"kept", FetchRequest::default(), None, now + 11)),
        Ok(Fetched::Hit(_))
    ));
}

pub(super) fn binary_values<S: Storage>(h: &mut Harness<S>) {
    let mut input = b"set bin 0 0 6\r\n\r\n\0\xff\r\n\r\n".to_vec();
    input.extend_from_slice(b"get bin\r\n");
    let mut expected = b"STORED\r\nVALUE bin 0 6\r\n\r\n\0\xff\r\n\r\nEND\r\n".to_vec();
    expected.truncate(expected.len());
    assert_eq!(h.send(&input).into_bytes(), String::from_utf8_lossy(&expected).into_owned().into_bytes());
}

/// An item fits when key, value and memcached's item overhead fit
/// `item_size_max` (1024 here): 964 bytes of value under the key `k`.
pub(super) fn append_limit<S: Storage>(h: &mut Harness<S>) {
    let value = "v".repeat(900);
    h.expect(&format!("set k 0 0 900\r\n{value}\r\n"), "STORED\r\n");
    h.expect(
        &format!("append k 0 0 100\r\n{}\r\nget k\r\n", "w".repeat(100)),
        &format!("SERVER_ERROR out of memory storing object\r\nVALUE k 0 900\r\n{value}\r\nEND\r\n"),
    );
    h.expect(&format!("append k 0 0 64\r\n{}\r\n", "w".repeat(64)), "STORED\r\n");
    // Too large for `add`: refused, the old item stays.
    h.expect(
        &format!("add k 0 0 965\r\n{}\r\nmg k s\r\n", "x".repeat(965)),
        "SERVER_ERROR object too large for cache\r\nHD s964\r\n",
    );
}

/// A `set` or `ms` that fails takes the old item with it, as in memcached:
/// the application must not read the value it meant to replace.
pub(super) fn failed_set_leaves_no_stale_value<S: Storage>(h: &mut Harness<S>) {
    let large = "x".repeat(965);
    h.expect("set k 0 0 3\r\nMOO\r\n", "STORED\r\n");
    h.expect(
        &format!("set k 0 0 965\r\n{large}\r\nget k\r\n"),
        "SERVER_ERROR object too large for cache\r\nEND\r\n",
    );
    h.expect("set k 0 0 3\r\nMOO\r\n", "STORED\r\n");
    h.expect(&format!("set k 0 0 965 noreply\r\n{large}\r\nget k\r\n"), "END\r\n");
    h.expect("ms k 3\r\nMOO\r\n", "HD\r\n");
    h.expect(
        &format!("ms k 965 T0\r\n{large}\r\nmg k v\r\n"),
        "SERVER_ERROR object too large for cache\r\nEN\r\n",
    );
}

pub(super) fn stats<S: Storage>(h: &mut Harness<S>) {
    h.expect("set k 0 0 1\r\na\r\nget k\r\n", "STORED\r\nVALUE k 0 1\r\na\r\nEND\r\n");
    let stats = h.send(b"stats\r\n");
    for name in
        ["pid", "uptime", "time", "version", "threads", "cmd_get", "cmd_set", "get_hits", "curr_items"]
    {
        assert!(stats.contains(&format!("STAT {name} ")), "no {name} in {stats}");
    }
    assert!(stats.ends_with("END\r\n"));
    assert!(h.send(b"stats settings\r\n").contains("STAT item_size_max 1024\r\n"));
    h.expect("stats items\r\n", "END\r\n");
    h.expect("stats bogus\r\n", "ERROR\r\n");
    h.expect("stats reset\r\nstats detail dump\r\n", "RESET\r\nEND\r\n");
    h.expect("stats detail on\r\nstats detail off\r\nstats cachedump 1 10\r\n", "OK\r\nOK\r\nERROR\r\n");
}

pub(super) fn concurrent_incr<S: Storage>(h: &mut Harness<S>) {
    h.expect("set n 0 0 1\r\n0\r\n", "STORED\r\n");
    let storage = h.storage.clone();
    let now = h.clock.now();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            let storage = &storage;
            scope.spawn(move || {
                let incr = ArithmeticRequest {
                    increment: true,
                    delta: 1,
                    compare_cas: None,
                    new_cas: None,
                    vivify: None,
                    touch: None,
                };
                // Each thread a worker of its own, as in the server.
                let mut worker = storage.worker();
                for _ in 0..1000 {
                    let counted = storage.arithmetic(&mut worker, b"n", incr, now);
                    assert!(matches!(counted, Ok(Counted::Value(..))));
                }
                storage.commit(&mut worker).unwrap();
            });
        }
    });
    h.expect("get n\r\n", "VALUE n 0 4\r\n8000\r\nEND\r\n");
    // Racing adds: exactly one wins.
    let wins: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let storage = &storage;
                scope.spawn(move || {
                    let add =
                        StoreRequest { mode: StoreMode::Add, ..StoreRequest::set(0, Expiry::Never, 1024) };
                    let stored = storage.one_off(|s, w| s.store(w, b"once", b"x", add, now));
                    matches!(stored, Ok(Stored::Stored { .. })) as usize
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(wins, 1);
}
