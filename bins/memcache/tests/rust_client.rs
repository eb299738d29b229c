//! petrel-memcache driven by an independent Rust client, the `memcache`
//! crate, through its public API only: its classic client (every command it
//! offers) over the text protocol and over the binary protocol, and its
//! meta-protocol client (`mg ms md ma mn` and pipelined batches). Neither
//! API offers noreply; the Python clients in tests/python cover it.

use std::collections::HashMap;
use std::time::Duration;

use memcache::exp::{Get, Meta, MetaClient, Op, Set};
use memcache::{Client, CommandError, MemcacheError};
use petrel_testkit::ServerProcess;

const BINARY: &str = env!("CARGO_BIN_EXE_petrel-memcache");
const CONFIG: &str = "[workers]\nthreads = 2\n[storage]\nitem_cache_size = 8388608\nblock_cache_size = 8388608\nwrite_buffer_size = 4194304\n";

fn classic(server: &ServerProcess) -> Client {
    let url = format!("memcache://{}?protocol=ascii&timeout=5", server.data_addr());
    Client::connect(url).expect("the classic client connects")
}

fn classic_binary(server: &ServerProcess) -> Client {
    let url = format!("memcache://{}?timeout=5", server.data_addr());
    Client::connect(url).expect("the classic client connects over the binary protocol")
}

#[test]
fn the_classic_client_covers_its_whole_command_surface() {
    let server = ServerProcess::start(BINARY, CONFIG);
    exercise_the_classic_client(&classic(&server), false);
}

#[test]
fn the_classic_client_over_the_binary_protocol() {
    let server = ServerProcess::start(BINARY, CONFIG);
    exercise_the_classic_client(&classic_binary(&server), true);
}

fn exercise_the_classic_client(client: &Client, binary: bool) {
    let versions = client.version().unwrap();
    assert!(versions[0].1.starts_with("1.6.18-petrel-"), "memcached's form: {versions:?}");

    // set, get, get with flags and CAS, multi-key gets.
    client.set("greeting", "hello", 0).unwrap();
    assert_eq!(client.get::<String>("greeting").unwrap().as_deref(), Some("hello"));
    assert_eq!(client.get::<String>("absent").unwrap(), None);
    client.set("other", 42u64, 0).unwrap();
    let many: HashMap<String, String> = client.gets(&["greeting", "other", "absent"]).unwrap();
    assert_eq!(many.len(), 2);
    assert_eq!(many["greeting"], "hello");
    assert_eq!(many["other"], "42");

    // add and replace: only onto an absent, only onto a present key.
    refused(client.add("greeting", "not stored", 0), binary, CommandError::KeyExists);
    assert_eq!(client.get::<String>("greeting").unwrap().as_deref(), Some("hello"));
    client.add("fresh", "added", 0).unwrap();
    assert_eq!(client.get::<String>("fresh").unwrap().as_deref(), Some("added"));
    refused(client.replace("nothing-here", "x", 0), binary, CommandError::KeyNotFound);
    assert_eq!(client.get::<String>("nothing-here").unwrap(), None);
    client.replace("fresh", "replaced", 0).unwrap();
    assert_eq!(client.get::<String>("fresh").unwrap().as_deref(), Some("replaced"));

    // append and prepend, also to a missing key (nothing is created).
    client.append("greeting", ", world").unwrap();
    client.prepend("greeting", "oh, ").unwrap();
    assert_eq!(client.get::<String>("greeting").unwrap().as_deref(), Some("oh, hello, world"));
    refused(client.append("missing", "tail"), binary, CommandError::Unknown(5)); // Not stored.
    assert_eq!(client.get::<String>("missing").unwrap(), None);

    // gets and cas: the right CAS stores once; a stale one is refused.
    let (_, _, cas): (Vec<u8>, u32, Option<u64>) = client.get("fresh").unwrap().unwrap();
    let cas = cas.expect("gets returns a CAS value");
    assert!(client.cas("fresh", "first", 0, cas).unwrap());
    // The client reports EXISTS and NOT_FOUND alike, as false.
    assert!(!client.cas("fresh", "second", 0, cas).unwrap());
    assert!(!client.cas("never-stored", "x", 0, cas).unwrap());
    assert_eq!(client.get::<String>("fresh").unwrap().as_deref(), Some("first"));

    // incr and decr: 64-bit wrap up, floor at zero down, missing keys.
    client.set("counter", 10u64, 0).unwrap();
    assert_eq!(client.increment("counter", 5).unwrap(), 15);
    assert_eq!(client.decrement("counter", 100).unwrap(), 0);
    client.set("big", u64::MAX, 0).unwrap();
    assert_eq!(client.increment("big", 2).unwrap(), 1);
    if binary {
        // This client's binary increment asks for an absent counter to be
        // created at 0, as memcached then does.
        assert_eq!(client.increment("no-counter", 1).unwrap(), 0);
        assert_eq!(client.increment("no-counter", 1).unwrap(), 1);
    } else {
        assert!(matches!(
            client.increment("no-counter", 1),
            Err(MemcacheError::CommandError(CommandError::KeyNotFound))
        ));
    }
    assert!(client.increment("greeting", 1).is_err(), "incr on a non-number is a client error");

    // delete
    assert!(client.delete("other").unwrap());
    assert!(!client.delete("other").unwrap());
    assert_eq!(client.get::<String>("other").unwrap(), None);

    // touch and expiry: relative seconds, and a time in the past.
    assert!(client.touch("greeting", 1).unwrap());
    assert!(!client.touch("absent", 1).unwrap());
    // 2 s, not 1: a relative time counts from the current whole second, so
    // 1 can be over at once when the second turns between set and get.
    client.set("short", "lived", 2).unwrap();
    client.set("long", "lived", 3600).unwrap();
    let past =
        (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 60) as u32;
    client.set("already-expired", "x", past).unwrap();
    assert_eq!(client.get::<String>("already-expired").unwrap(), None);
    assert_eq!(client.get::<String>("short").unwrap().as_deref(), Some("lived"));
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(client.get::<String>("short").unwrap(), None);
    assert_eq!(client.get::<String>("greeting").unwrap(), None, "touched to 1 s");
    assert_eq!(client.get::<String>("long").unwrap().as_deref(), Some("lived"));

    // stats: this client's text-protocol stats() stops reading at the first
    // STAT line (its end-of-reply check is inverted, whatever the server),
    // so stats with memcached's names are checked through pymemcache and
    // the raw-socket tests instead.

    // flush_all with a delay keeps items until it passes; without, at once.
    // As in memcached, the delay counts from the start of the current
    // second less one: 3 takes effect between 1 and 2 s from now (2 could
    // take effect a moment later, when the second turns).
    client.flush_with_delay(3).unwrap();
    assert_eq!(client.get::<String>("long").unwrap().as_deref(), Some("lived"));
    std::thread::sleep(Duration::from_millis(3100));
    assert_eq!(client.get::<String>("long").unwrap(), None);
    client.set("after-delayed-flush", "kept", 0).unwrap();
    assert_eq!(client.get::<String>("after-delayed-flush").unwrap().as_deref(), Some("kept"));
    client.flush().unwrap();
    assert_eq!(client.get::<String>("after-delayed-flush").unwrap(), None);
}

/// A store the server refuses: the text protocol's client reports success
/// (it does not read the reply's word), the binary one memcached's status.
#[track_caller]
fn refused(result: Result<(), MemcacheError>, binary: bool, status: CommandError) {
    match (binary, result) {
        (false, result) => result.expect("the text client reports a refused store as done"),
        (true, Err(MemcacheError::CommandError(error))) => assert_eq!(error, status),
        (true, other) => panic!("expected {status:?}, got {other:?}"),
    }
}

#[test]
fn the_meta_client_pipelines_quiet_batches() {
    let server = ServerProcess::start(BINARY, CONFIG);
    let client = MetaClient::connect(server.data_addr().to_string().as_str()).unwrap();
    client.noop().unwrap();

    let stored = client.set("meta-key", "meta-value").client_flags(9).return_cas().send().unwrap();
    assert!(stored.applied());
    let cas = stored.cas.expect("ms with c returns the CAS");
    let found = client.get("meta-key").meta(Meta::ALL).send().unwrap();
    assert!(found.hit());
    assert_eq!(found.value.as_deref(), Some(&b"meta-value"[..]));
    assert_eq!(found.client_flags, Some(9));
    assert_eq!(found.item.cas, Some(cas));
    assert!(!client.set("meta-key", "stale").compare_cas(cas + 1).send().unwrap().applied());
    assert!(client.set("meta-key", "newer").compare_cas(cas).send().unwrap().applied());

    // Arithmetic with auto-vivify, then decrement.
    let counted = client.increment("meta-counter").delta(5).initial(100, 3600).send().unwrap();
    assert_eq!(counted.value, Some(100));
    let counted = client.increment("meta-counter").delta(5).send().unwrap();
    assert_eq!(counted.value, Some(105));
    assert_eq!(client.decrement("meta-counter").delta(200).send().unwrap().value, Some(0));

    // A batch of 200 sets and gets in one round trip: every reply arrives,
    // in order.
    let mut batch: Vec<Op> =
        (0..100).map(|i| Set::new(format!("batch-{i}"), format!("v{i}")).into()).collect();
    batch.extend((0..100).map(|i| Get::new(format!("batch-{i}")).into()));
    let results = client.run_batch(batch).unwrap();
    assert_eq!(results.len(), 200);
    for (i, result) in results[100..].iter().enumerate() {
        let get = result.as_ref().unwrap().as_get().unwrap();
        assert_eq!(get.value.as_deref(), Some(format!("v{i}").as_bytes()), "batch-{i}");
    }

    assert!(client.delete("meta-key").send().unwrap().applied());
    assert!(!client.get("meta-key").send().unwrap().hit());
}

/// The crate sends a multi-get as one `gets` line, whatever its length:
/// 18,725 keys make a line of 187 KB, far past `protocol.max_line`, served
/// as its keys arrive.
#[test]
fn a_multi_get_of_eighteen_thousand_keys_is_answered_whole() {
    let server = ServerProcess::start(BINARY, CONFIG);
    let client = classic(&server);
    let keys: Vec<String> = (0..18_725).map(|i| format!("multi-get-key-{i:06}")).collect();
    for key in keys.iter().step_by(7) {
        client.set(key, key.as_str(), 0).unwrap();
    }
    let wanted: Vec<&str> = keys.iter().map(String::as_str).collect();
    assert!(wanted.iter().map(|key| key.len() + 1).sum::<usize>() > 180_000);
    let found: HashMap<String, String> = client.gets(&wanted).unwrap();
    assert_eq!(found.len(), keys.len().div_ceil(7));
    assert!(found.iter().all(|(key, value)| key == value));
    // The connection is in step after it.
    assert_eq!(client.get::<String>(&keys[0]).unwrap().as_deref(), Some(keys[0].as_str()));
}
