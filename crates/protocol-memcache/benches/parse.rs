//! Parsing the hot requests: `get` of 1 and 10 keys, `set` of 100 B and 1 KiB,
//! and composing a 1 KiB `VALUE` response.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use petrel_protocol::Protocol;
use petrel_protocol_memcache::{ConnectionState, Hit, Memcache, Response};

fn parse(c: &mut Criterion) {
    let protocol = Memcache::default();
    let keys: Vec<String> = (0..10).map(|i| format!("user:profile:{i:08}")).collect();
    let get_1 = format!("get {}\r\n", keys[0]);
    let get_10 = format!("get {}\r\n", keys.join(" "));
    let set = |size: usize| format!("set {} 0 0 {size}\r\n{}\r\n", keys[0], "v".repeat(size));
    let cases =
        [("get_1_key", get_1), ("get_10_keys", get_10), ("set_100_B", set(100)), ("set_1_KiB", set(1024))];

    let mut group = c.benchmark_group("parse");
    for (name, input) in &cases {
        group.throughput(Throughput::Elements(1));
        group.bench_function(*name, |b| {
            b.iter(|| {
                let parsed =
                    protocol.parse(&mut ConnectionState::default(), black_box(input.as_bytes())).unwrap();
                black_box(parsed.consumed)
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("compose");
    let key = b"user:profile:00000000";
    let mut bytes = key.to_vec();
    bytes.extend(std::iter::repeat_n(b'v', 1024));
    let hits = [Hit { key: 0..key.len(), value: key.len()..bytes.len(), flags: 0, cas: 0 }];
    let response = Response::Values { hits: &hits, bytes: &bytes, cas: false, last: true };
    let mut out = Vec::with_capacity(4096);
    group.bench_function("value_1_KiB", |b| {
        b.iter(|| {
            out.clear();
            protocol.compose(black_box(&response), &mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
