//! The binary protocol's parser and composer: requests composed by the
//! client side parse back on the server side, whole or split anywhere;
//! faults get memcached's replies; replies split back into their parts.

use petrel_protocol::{Flow, ParseError, Parsed, Protocol, Recovery};
use petrel_protocol_memcache::binary::{
    BinaryCommand, BinaryError, BinaryReply, BinaryRequest, BinaryResponse, HEADER_LEN, Header, NO_VIVIFY,
    Opcode, REQUEST_MAGIC, Status, parse_packet,
};
use petrel_protocol_memcache::{ConnectionState, Error, Limits, Memcache, Request, StoreMode};
use proptest::prelude::*;

fn compose(request: &BinaryRequest<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    request.compose(&mut out);
    out
}

fn parse(input: &[u8]) -> Result<Parsed<Request<'_>>, ParseError<Error>> {
    Memcache::default().parse(&mut ConnectionState::default(), input)
}

fn request(opcode: Opcode, command: BinaryCommand<'_>) -> BinaryRequest<'_> {
    BinaryRequest { opcode, opaque: 0xdead_beef, cas: 7, command }
}

/// One request of each shape, quiet variants included.
fn examples() -> Vec<BinaryRequest<'static>> {
    let store = |mode| BinaryCommand::Store { mode, key: b"k", flags: 5, exptime: 100, value: b"hello" };
    let concat = |mode| BinaryCommand::Store { mode, key: b"k", flags: 0, exptime: 0, value: b"tail" };
    let counter = BinaryCommand::Arithmetic { key: b"n", delta: 3, initial: 9, exptime: NO_VIVIFY };
    let mut requests = vec![
        request(Opcode::Get, BinaryCommand::Get { key: b"k" }),
        request(Opcode::GetKQ, BinaryCommand::Get { key: b"k\x00 \r\n" }),
        request(Opcode::Touch, BinaryCommand::Touch { key: b"k", exptime: 10 }),
        request(Opcode::GatKQ, BinaryCommand::Touch { key: b"k", exptime: 0 }),
        request(Opcode::Set, store(StoreMode::Set)),
        request(Opcode::AddQ, store(StoreMode::Add)),
        request(Opcode::Replace, store(StoreMode::Replace)),
        request(Opcode::Append, concat(StoreMode::Append)),
        request(Opcode::PrependQ, concat(StoreMode::Prepend)),
        request(Opcode::Delete, BinaryCommand::Delete { key: b"k" }),
        request(Opcode::Increment, counter),
        request(Opcode::DecrementQ, counter),
        request(Opcode::Flush, BinaryCommand::Flush { delay: 0 }),
        request(Opcode::FlushQ, BinaryCommand::Flush { delay: 60 }),
        request(Opcode::Noop, BinaryCommand::Noop),
        request(Opcode::Version, BinaryCommand::Version),
        request(Opcode::Stat, BinaryCommand::Stat { group: b"" }),
        request(Opcode::Stat, BinaryCommand::Stat { group: b"settings" }),
        request(Opcode::QuitQ, BinaryCommand::Quit),
    ];
    // A request without a CAS carries 0.
    requests.push(BinaryRequest { cas: 0, ..requests[0] });
    requests
}

#[test]
fn every_composed_request_parses_back_whole() {
    for example in examples() {
        let bytes = compose(&example);
        let parsed = parse(&bytes).unwrap_or_else(|error| panic!("{example:?}: {error:?}"));
        assert_eq!(parsed, Parsed { message: Request::Binary(example), consumed: bytes.len() });
        // One byte short is a request still arriving.
        assert_eq!(parse(&bytes[..bytes.len() - 1]), Err(ParseError::Incomplete), "{example:?}");
    }
}

proptest! {
    #[test]
    fn a_pipeline_split_anywhere_parses_the_same(cuts in proptest::collection::vec(any::<usize>(), 0..6)) {
        let stream: Vec<u8> = examples().iter().flat_map(compose).collect();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|cut| cut % stream.len()).collect();
        cuts.sort_unstable();
        let protocol = Memcache::default();
        let mut state = ConnectionState::default();
        let (mut parsed, mut start, mut available) = (Vec::new(), 0, 0);
        for end in cuts.into_iter().chain([stream.len()]) {
            available = available.max(end);
            while let Ok(request) = protocol.parse(&mut state, &stream[start..available]) {
                parsed.push(request.message);
                start += request.consumed;
            }
        }
        prop_assert_eq!(parsed, examples().into_iter().map(Request::Binary).collect::<Vec<_>>());
    }
}

/// A header with these fields and a body of `body_len` zero bytes.
fn packet(opcode: u8, extras_len: u8, key_len: u16, body_len: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let header = Header {
        magic: REQUEST_MAGIC,
        opcode,
        key_len,
        extras_len,
        body_len,
        opaque: 42,
        ..Header::default()
    };
    header.write(&mut out);
    out.resize(HEADER_LEN + body_len as usize, b'k');
    out
}

fn refused(
    opcode: u8,
    status: Status,
    recovery: Recovery,
) -> Result<Parsed<Request<'static>>, ParseError<Error>> {
    Err(ParseError::Invalid { error: Error::Binary(BinaryError { status, opcode, opaque: 42 }), recovery })
}

#[test]
fn faults_get_memcacheds_replies() {
    let get = Opcode::Get as u8;
    // A body shorter than its extras and key: the stream is lost.
    assert_eq!(parse(&packet(get, 0, 4, 2)), refused(get, Status::UnknownCommand, Recovery::Close));
    // Keys over 250 bytes, and lengths the command does not take.
    assert_eq!(parse(&packet(get, 0, 251, 251)), refused(get, Status::InvalidArguments, Recovery::Close));
    assert_eq!(parse(&packet(get, 4, 1, 5)), refused(get, Status::InvalidArguments, Recovery::Close));
    let set = Opcode::Set as u8;
    assert_eq!(parse(&packet(set, 0, 1, 3)), refused(set, Status::InvalidArguments, Recovery::Close));
    let noop = Opcode::Noop as u8;
    assert_eq!(parse(&packet(noop, 0, 0, 1)), refused(noop, Status::InvalidArguments, Recovery::Close));
    // An opcode not served is skipped whole; SASL's are length-checked first.
    assert_eq!(parse(&packet(0x30, 0, 2, 6)), refused(0x30, Status::UnknownCommand, Recovery::Skip(30)));
    assert_eq!(parse(&packet(0x1b, 4, 0, 4)), refused(0x1b, Status::UnknownCommand, Recovery::Skip(28)));
    assert_eq!(parse(&packet(0x20, 0, 0, 0)), refused(0x20, Status::UnknownCommand, Recovery::Skip(24)));
    assert_eq!(parse(&packet(0x21, 0, 0, 0)), refused(0x21, Status::InvalidArguments, Recovery::Close));
    // A later request without the magic byte closes, unanswered.
    let protocol = Memcache::default();
    let mut state = ConnectionState::default();
    let get_request = compose(&request(Opcode::Get, BinaryCommand::Get { key: b"k" }));
    assert!(protocol.parse(&mut state, &get_request).is_ok());
    assert_eq!(
        protocol.parse(&mut state, b"get k\r\n"),
        Err(ParseError::Invalid { error: Error::BadMagic, recovery: Recovery::Close })
    );
}

#[test]
fn a_value_over_the_limit_is_refused_from_its_header_and_skipped() {
    let limits = Limits { item_size_max: 1024, ..Limits::default() };
    let protocol = Memcache::new(limits);
    let value = vec![b'v'; 2000];
    let set = compose(&request(
        Opcode::SetQ,
        BinaryCommand::Store { mode: StoreMode::Set, key: b"k", flags: 0, exptime: 0, value: &value },
    ));
    // Served from the first bytes: the value is dropped as it arrives.
    let parsed = protocol.parse(&mut ConnectionState::default(), &set[..40]).unwrap();
    assert_eq!(
        parsed.message,
        Request::Binary(request(Opcode::SetQ, BinaryCommand::TooLarge { mode: StoreMode::Set, key: b"k" }))
    );
    assert_eq!(parsed.consumed, set.len());
}

#[test]
fn a_touch_with_a_value_leaves_the_value_to_be_read_next() {
    // As memcached: the bytes after extras and key are the next request.
    let mut bytes = packet(Opcode::Touch as u8, 4, 1, 6);
    bytes[HEADER_LEN + 5] = b'v';
    let parsed = parse(&bytes).unwrap();
    assert_eq!(parsed.consumed, HEADER_LEN + 5);
}

#[test]
fn the_binary_protocol_can_be_turned_off() {
    let text_only = Memcache { binary: false, ..Memcache::default() };
    let get = compose(&request(Opcode::Get, BinaryCommand::Get { key: b"k" }));
    assert_eq!(
        text_only.parse(&mut ConnectionState::default(), &get),
        Err(ParseError::Invalid { error: Error::BinaryProtocol, recovery: Recovery::Close })
    );
}

fn replies(reply: BinaryReply<'_>, opcode: Opcode) -> (Vec<u8>, Flow) {
    let mut out = Vec::new();
    let flow = BinaryResponse { opcode: opcode as u8, opaque: 9, reply }.compose(&mut out);
    (out, flow)
}

#[test]
fn replies_split_back_into_their_parts() {
    let (bytes, flow) =
        replies(BinaryReply::Item { flags: 5, cas: 77, key: Some(b"k"), value: b"hello" }, Opcode::GetK);
    assert_eq!(flow, Flow::Continue);
    let packet = parse_packet(&bytes).unwrap();
    assert_eq!(packet.consumed, bytes.len());
    let packet = packet.message;
    assert_eq!(
        (packet.status(), packet.flags(), packet.key, packet.value),
        (Some(Status::Ok), Some(5), &b"k"[..], &b"hello"[..])
    );
    assert_eq!((packet.header.cas, packet.header.opaque, packet.header.opcode), (77, 9, Opcode::GetK as u8));

    let (bytes, _) = replies(BinaryReply::Counter { value: 258, cas: 3 }, Opcode::Increment);
    assert_eq!(parse_packet(&bytes).unwrap().message.value, 258u64.to_be_bytes());

    let (bytes, _) = replies(BinaryReply::Error(Status::KeyExists), Opcode::Add);
    let packet = parse_packet(&bytes).unwrap().message;
    assert_eq!((packet.status(), packet.value), (Some(Status::KeyExists), &b"Data exists for key."[..]));

    // A GetK's miss carries the key and no message.
    let (bytes, _) = replies(BinaryReply::Miss { key: Some(b"gone") }, Opcode::GetK);
    let packet = parse_packet(&bytes).unwrap().message;
    assert_eq!(
        (packet.status(), packet.key, packet.value),
        (Some(Status::KeyNotFound), &b"gone"[..], &b""[..])
    );
}

#[test]
fn stats_are_one_packet_each_then_an_empty_one() {
    let (bytes, _) = replies(BinaryReply::Stats(b"STAT pid 12\r\nSTAT version petrel 1\r\n"), Opcode::Stat);
    let mut rest = &bytes[..];
    let mut stats = Vec::new();
    while !rest.is_empty() {
        let parsed = parse_packet(rest).unwrap();
        stats.push((parsed.message.key.to_vec(), parsed.message.value.to_vec()));
        rest = &rest[parsed.consumed..];
    }
    let expected: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"pid".to_vec(), b"12".to_vec()),
        (b"version".to_vec(), b"petrel 1".to_vec()),
        (vec![], vec![]),
    ];
    assert_eq!(stats, expected);
}

#[test]
fn quit_replies_then_closes_and_quitq_just_closes() {
    assert_eq!(replies(BinaryReply::Quit, Opcode::Quit).0.len(), HEADER_LEN);
    assert_eq!(replies(BinaryReply::Quit, Opcode::Quit).1, Flow::Close);
    assert_eq!(replies(BinaryReply::Quit, Opcode::QuitQ), (Vec::new(), Flow::Close));
    assert_eq!(replies(BinaryReply::Silent, Opcode::SetQ), (Vec::new(), Flow::Continue));
}
