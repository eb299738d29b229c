//! Every response the server composes parses back, on the client side, as
//! the reply it stands for.

use petrel_protocol::Flow;
use petrel_protocol_memcache::{Error, Hit, MetaCode, Reply, Response, ReturnFlag, parse_reply};
use proptest::prelude::*;

/// Composes `response` and parses every reply out of the bytes.
fn replies(response: &Response<'_>) -> Vec<String> {
    let mut wire = Vec::new();
    let flow = response.compose(&mut wire);
    assert_eq!(flow == Flow::Close, matches!(response, Response::Quit));
    let mut rest = &wire[..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let parsed =
            parse_reply(rest).unwrap_or_else(|e| panic!("{:?}: {e:?}", String::from_utf8_lossy(rest)));
        out.push(format!("{:?}", parsed.message));
        rest = &rest[parsed.consumed..];
    }
    out
}

fn one(response: Response<'_>, expected: Reply<'_>) {
    assert_eq!(replies(&response), vec![format!("{expected:?}")]);
}

#[test]
fn simple_replies_round_trip() {
    one(Response::Stored, Reply::Stored);
    one(Response::NotStored, Reply::NotStored);
    one(Response::Exists, Reply::Exists);
    one(Response::NotFound, Reply::NotFound);
    one(Response::Deleted, Reply::Deleted);
    one(Response::Touched, Reply::Touched);
    one(Response::Ok, Reply::Ok);
    one(Response::Number(u64::MAX), Reply::Number(u64::MAX));
    one(Response::Version("petrel 1.0"), Reply::Version(b"petrel 1.0"));
    one(Response::MetaDebug(b"k exp=-1 la=0"), Reply::MetaDebug(b"k exp=-1 la=0"));
    one(Response::Error(Error::UnknownCommand), Reply::Error);
    one(Response::Error(Error::BadDataChunk), Reply::ClientError(b"bad data chunk"));
    one(Response::Error(Error::TooLarge), Reply::ServerError(b"object too large for cache"));
    one(Response::Error(Error::Server("storage write failed")), Reply::ServerError(b"storage write failed"));
    assert!(replies(&Response::Silent).is_empty());
    assert!(replies(&Response::Quit).is_empty());
}

#[test]
fn stats_round_trip() {
    let lines = b"STAT pid 1\r\nSTAT version petrel 1.0\r\n";
    assert_eq!(
        replies(&Response::Stats(lines)),
        vec![
            format!("{:?}", Reply::Stat { name: b"pid", value: b"1" }),
            format!("{:?}", Reply::Stat { name: b"version", value: b"petrel 1.0" }),
            format!("{:?}", Reply::End),
        ]
    );
}

#[test]
fn meta_replies_round_trip_with_flags_in_order() {
    let bytes = b"keyopaquevalue";
    let flags = [
        ReturnFlag::Key(0..3, false),
        ReturnFlag::Opaque(3..9),
        ReturnFlag::Cas(7),
        ReturnFlag::Flags(9),
        ReturnFlag::Hit(true),
        ReturnFlag::LastAccess(3),
        ReturnFlag::Size(5),
        ReturnFlag::Ttl(-1),
        ReturnFlag::Won,
        ReturnFlag::Stale,
        ReturnFlag::AlreadyWon,
    ];
    one(
        Response::Meta { code: MetaCode::Value, flags: &flags, value: Some(9..14), bytes },
        Reply::Meta { code: *b"VA", flags: b"kkey Oopaque c7 f9 h1 l3 s5 t-1 W X Z", data: Some(b"value") },
    );
    for (code, text) in [
        (MetaCode::Done, *b"HD"),
        (MetaCode::Miss, *b"EN"),
        (MetaCode::NotFound, *b"NF"),
        (MetaCode::NotStored, *b"NS"),
        (MetaCode::Exists, *b"EX"),
        (MetaCode::Noop, *b"MN"),
    ] {
        one(
            Response::Meta { code, flags: &[], value: None, bytes: &[] },
            Reply::Meta { code: text, flags: b"", data: None },
        );
    }
    // A binary key goes out base64-encoded.
    one(
        Response::Meta {
            code: MetaCode::Done,
            flags: &[ReturnFlag::Base64, ReturnFlag::Key(0..3, true)],
            value: None,
            bytes: b"\0\x01\x02",
        },
        Reply::Meta { code: *b"HD", flags: b"b kAAEC", data: None },
    );
}

proptest! {
    #[test]
    fn meta_values_round_trip(value in prop::collection::vec(any::<u8>(), 0..300), cas in any::<u64>(), ttl in any::<i64>()) {
        let flags = [ReturnFlag::Cas(cas), ReturnFlag::Ttl(ttl)];
        let expected_flags = format!("c{cas} t{ttl}");
        let mut wire = Vec::new();
        Response::Meta { code: MetaCode::Value, flags: &flags, value: Some(0..value.len()), bytes: &value }.compose(&mut wire);
        let parsed = parse_reply(&wire).unwrap();
        prop_assert_eq!(parsed.consumed, wire.len());
        prop_assert_eq!(parsed.message, Reply::Meta { code: *b"VA", flags: expected_flags.as_bytes(), data: Some(&value[..]) });
    }

    #[test]
    fn numbers_round_trip(number in any::<u64>()) {
        let mut wire = Vec::new();
        Response::Number(number).compose(&mut wire);
        prop_assert_eq!(parse_reply(&wire).unwrap().message, Reply::Number(number));
    }
}

#[test]
fn values_without_hits_is_just_end() {
    let hits: [Hit; 0] = [];
    assert_eq!(
        replies(&Response::Values { hits: &hits, bytes: &[], cas: true, last: true }),
        vec![format!("{:?}", Reply::End)]
    );
}
