//! The binary commands: the same items as the text commands, memcached's
//! statuses, quiet variants and CAS rules.

use super::{Harness, cas_of};
use petrel_memcache_service::Storage;
use petrel_protocol_memcache::StoreMode;
use petrel_protocol_memcache::binary::{
    BinaryCommand, BinaryRequest, NO_VIVIFY, Opcode, Status, parse_packet,
};

/// What a test reads of a reply: status, CAS, flags, key, value.
type Reply = (Status, u64, Option<u32>, Vec<u8>, Vec<u8>);

/// Sends `requests` as one round on the binary connection; the replies.
fn exchange<S: Storage>(h: &mut Harness<S>, requests: &[BinaryRequest<'_>]) -> Vec<Reply> {
    let mut input = Vec::new();
    requests.iter().for_each(|request| request.compose(&mut input));
    let output = h.send_binary(&input);
    let mut rest = &output[..];
    let mut replies = Vec::new();
    while !rest.is_empty() {
        let parsed = parse_packet(rest).expect("whole reply packets");
        let packet = parsed.message;
        let status = packet.status().expect("a status memcached defines");
        replies.push((status, packet.header.cas, packet.flags(), packet.key.to_vec(), packet.value.to_vec()));
        rest = &rest[parsed.consumed..];
    }
    replies
}

fn op(opcode: Opcode, cas: u64, command: BinaryCommand<'_>) -> BinaryRequest<'_> {
    BinaryRequest { opcode, opaque: 0, cas, command }
}

fn store<'a>(opcode: Opcode, mode: StoreMode, key: &'a [u8], value: &'a [u8], cas: u64) -> BinaryRequest<'a> {
    op(opcode, cas, BinaryCommand::Store { mode, key, flags: 5, exptime: 0, value })
}

fn get(opcode: Opcode, key: &[u8]) -> BinaryRequest<'_> {
    op(opcode, 0, BinaryCommand::Get { key })
}

fn status(replies: &[Reply]) -> Vec<Status> {
    replies.iter().map(|reply| reply.0).collect()
}

pub(super) fn protocols_share_items<S: Storage>(h: &mut Harness<S>) {
    let stored = exchange(h, &[store(Opcode::Set, StoreMode::Set, b"k", b"hello", 0)]);
    assert_eq!(stored[0].0, Status::Ok);
    let cas = stored[0].1;
    assert_ne!(cas, 0, "a stored item's CAS comes back");
    h.expect("gets k\r\n", &format!("VALUE k 5 5 {cas}\r\nhello\r\nEND\r\n"));
    h.expect("set t 7 0 2\r\nhi\r\n", "STORED\r\n");
    let cas = cas_of(h, "t");
    let got = exchange(h, &[get(Opcode::GetK, b"t")]);
    assert_eq!(got, vec![(Status::Ok, cas, Some(7), b"t".to_vec(), b"hi".to_vec())]);
}

pub(super) fn binary_stores_and_cas<S: Storage>(h: &mut Harness<S>) {
    let replies = exchange(
        h,
        &[
            store(Opcode::SetQ, StoreMode::Set, b"k", b"v1", 0),
            store(Opcode::Add, StoreMode::Add, b"k", b"v2", 0),
            store(Opcode::Replace, StoreMode::Replace, b"absent", b"v", 0),
            store(Opcode::AppendQ, StoreMode::Append, b"absent", b"v", 0),
            store(Opcode::Set, StoreMode::Set, b"k", b"v3", 999_999),
            store(Opcode::Add, StoreMode::Add, b"absent", b"v", 999_999),
        ],
    );
    let expected =
        [Status::KeyExists, Status::KeyNotFound, Status::NotStored, Status::KeyExists, Status::KeyNotFound];
    assert_eq!(status(&replies), expected, "a quiet success is silent, errors are not");
    let cas = cas_of(h, "k");
    let replies = exchange(
        h,
        &[
            // With its CAS, even an Add stores: it is a `cas`.
            store(Opcode::Add, StoreMode::Add, b"k", b"v4", cas),
            op(Opcode::Delete, 1, BinaryCommand::Delete { key: b"k" }),
            get(Opcode::Get, b"k"),
            op(Opcode::DeleteQ, 0, BinaryCommand::Delete { key: b"k" }),
            get(Opcode::GetQ, b"k"),
            get(Opcode::Get, b"k"),
            op(Opcode::Noop, 0, BinaryCommand::Noop),
        ],
    );
    assert_eq!(
        status(&replies),
        [Status::Ok, Status::KeyExists, Status::Ok, Status::KeyNotFound, Status::Ok],
        "{replies:?}"
    );
    assert!(replies[0].1 > cas, "a store gives a new CAS");
    assert_eq!(replies[2].4, b"v4");
    assert_eq!(replies[3].4, b"Not found");
}

pub(super) fn binary_counters<S: Storage>(h: &mut Harness<S>) {
    let counter = |opcode, key, delta, exptime| {
        op(opcode, 0, BinaryCommand::Arithmetic { key, delta, initial: 10, exptime })
    };
    let replies = exchange(
        h,
        &[
            counter(Opcode::Increment, &b"n"[..], 5, 0),
            counter(Opcode::Increment, b"n", 5, 0),
            counter(Opcode::DecrementQ, b"n", 1, 0),
            counter(Opcode::Decrement, b"n", 100, 0),
            counter(Opcode::Increment, b"m", 1, NO_VIVIFY),
        ],
    );
    let values: Vec<_> = replies.iter().map(|reply| (reply.0, reply.4.clone())).collect();
    assert_eq!(
        values,
        vec![
            (Status::Ok, 10u64.to_be_bytes().to_vec()),
            (Status::Ok, 15u64.to_be_bytes().to_vec()),
            (Status::Ok, 0u64.to_be_bytes().to_vec()),
            (Status::KeyNotFound, b"Not found".to_vec()),
        ],
        "an absent counter starts at the initial value unless told not to"
    );
    h.expect("set k 0 0 3\r\nabc\r\n", "STORED\r\n");
    let replies = exchange(h, &[counter(Opcode::Increment, b"k", 1, 0)]);
    assert_eq!(status(&replies), [Status::NonNumeric]);
}

pub(super) fn binary_too_large<S: Storage>(h: &mut Harness<S>) {
    // The harness allows 1 KiB items.
    let big = vec![b'v'; 2000];
    h.expect("set k 0 0 3\r\nold\r\nset a 0 0 3\r\nold\r\n", "STORED\r\nSTORED\r\n");
    let replies = exchange(
        h,
        &[
            store(Opcode::SetQ, StoreMode::Set, b"k", &big, 0),
            get(Opcode::Get, b"k"),
            store(Opcode::Add, StoreMode::Add, b"a", &big, 0),
            get(Opcode::Get, b"a"),
        ],
    );
    assert_eq!(
        status(&replies),
        [Status::ValueTooLarge, Status::KeyNotFound, Status::ValueTooLarge, Status::Ok],
        "a failed set takes the old value, a failed add keeps it, and the stream stays in step"
    );
}
