//! The binary protocol on the data port, as a client meets it: items it
//! writes are the store's like any other, and survive a restart.

use petrel_protocol_memcache::StoreMode;
use petrel_protocol_memcache::binary::{
    BinaryCommand, BinaryRequest, HEADER_LEN, Opcode, Status, parse_packet,
};

use super::*;

/// Sends binary `requests` and reads one reply packet per request.
fn binary_exchange(client: &mut Client, requests: &[BinaryRequest<'_>]) -> Vec<(Status, u64, u32, Vec<u8>)> {
    let mut bytes = Vec::new();
    requests.iter().for_each(|request| request.compose(&mut bytes));
    client.send(&bytes);
    let mut received = Vec::new();
    let mut replies = Vec::new();
    while replies.len() < requests.len() {
        received.extend(client.read_exact(HEADER_LEN));
        let body_len = u32::from_be_bytes(received[8..12].try_into().unwrap()) as usize;
        received.extend(client.read_exact(body_len));
        let packet = parse_packet(&received).expect("a whole reply").message;
        let status = packet.status().expect("a status memcached defines");
        replies.push((status, packet.header.cas, packet.flags().unwrap_or(0), packet.value.to_vec()));
        received.clear();
    }
    replies
}

#[test]
fn binary_written_items_survive_a_restart_with_flags_cas_and_expiry() {
    let op = |opcode, cas, command| BinaryRequest { opcode, opaque: 1, cas, command };
    let set = |key, flags, exptime, value| BinaryCommand::Store {
        mode: StoreMode::Set,
        key,
        flags,
        exptime,
        value,
    };
    let get = |key| op(Opcode::GetK, 0, BinaryCommand::Get { key });
    let incr = BinaryCommand::Arithmetic { key: b"n", delta: 1, initial: 41, exptime: 0 };
    let server = server();
    let mut client = server.connect();
    let written = binary_exchange(
        &mut client,
        &[
            op(Opcode::Set, 0, set(&b"b1"[..], 0xdead_beef, 0, &b"one"[..])),
            op(Opcode::Set, 0, set(b"b2", 7, 3600, b"two")),
            op(Opcode::Increment, 0, incr),
            op(Opcode::Increment, 0, incr),
        ],
    );
    assert!(written.iter().all(|reply| reply.0 == Status::Ok), "{written:?}");
    assert_eq!(written[3].3, 42u64.to_be_bytes(), "created at 41, then incremented");
    drop(client);

    let server = restart(server, CONFIG);
    let mut client = server.connect();
    let read = binary_exchange(&mut client, &[get(b"b1"), get(b"b2"), get(b"n")]);
    assert_eq!(read[0], (Status::Ok, written[0].1, 0xdead_beef, b"one".to_vec()));
    assert_eq!(read[1], (Status::Ok, written[1].1, 7, b"two".to_vec()));
    assert_eq!(read[2], (Status::Ok, written[3].1, 0, b"42".to_vec()));
    // The expiry survived too, and the CAS still guards a store.
    let mut text = server.connect();
    text.send(b"mg b2 t\r\n");
    let ttl = text.read_line();
    let ttl: i64 = ttl.trim_end().trim_start_matches("HD t").parse().unwrap();
    assert!((3500..=3600).contains(&ttl), "{ttl}");
    let swapped = binary_exchange(&mut client, &[op(Opcode::Set, written[0].1, set(b"b1", 0, 0, b"new"))]);
    assert_eq!(swapped[0].0, Status::Ok);
}

#[test]
fn with_the_binary_protocol_off_a_binary_connection_is_closed() {
    let server = ServerProcess::start(BINARY, &format!("{CONFIG}[protocol]\nbinary = false\n"));
    let mut request = Vec::new();
    BinaryRequest { opcode: Opcode::Version, opaque: 0, cas: 0, command: BinaryCommand::Version }
        .compose(&mut request);
    let mut client = server.connect();
    client.send(&request);
    assert_eq!(client.read_to_close(), b"", "closed unanswered");
    // Text clients are served as ever, and settings say so.
    let mut text = server.connect();
    text.send(b"stats settings\r\n");
    assert!(text.read_until_line("END\r\n").contains("STAT binding_protocol ascii\r\n"));
}
