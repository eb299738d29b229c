//! Properties of parsing and composing that must hold for any input.

use petrel_protocol::{ParseError, Protocol};
use petrel_protocol_memcache::{
    ConnectionState, Hit, Key, Keys, Memcache, MetaCommand, MetaFlags, Reply, Request, Response,
    StoreCommand, parse_reply,
};
use proptest::prelude::*;

/// A request with owned data, from which a borrowed [`Request`] is built.
#[derive(Debug, Clone)]
enum Spec {
    Get(Vec<String>, bool),
    GetAndTouch(i64, Vec<String>, bool),
    Store(StoreCommand, String, u32, i64, Vec<u8>, u64, bool),
    Delete(String, bool),
    Arithmetic(String, u64, bool, bool),
    Touch(String, i64, bool),
    FlushAll(i64, bool),
    Version,
    Verbosity(u32, bool),
    Stats(Option<String>),
    Meta(MetaCommand, Vec<u8>, bool, String, Vec<u8>),
    MetaNoop,
}

/// An expiration time as memcached reads it: 32 bits, signed.
fn exptime() -> impl Strategy<Value = i64> {
    any::<i32>().prop_map(i64::from)
}

fn key() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_:.\\-/]{1,250}"
}

fn meta_flags(command: MetaCommand) -> impl Strategy<Value = String> {
    let flags: &[&str] = match command {
        MetaCommand::Get => {
            &["c", "f", "h", "k", "l", "q", "s", "t", "u", "v", "C12", "E34", "N30", "R5", "T-1", "Oabc"]
        }
        MetaCommand::Set => {
            &["c", "k", "q", "s", "I", "C1", "E2", "F3", "T4", "MA", "MP", "ME", "MR", "MS", "N9", "Oz"]
        }
        MetaCommand::Delete => &["k", "q", "I", "x", "C1", "E2", "T3", "O1"],
        MetaCommand::Arithmetic => {
            &["c", "k", "q", "t", "v", "C1", "E2", "N3", "J4", "D5", "T6", "MI", "MD", "O7"]
        }
        MetaCommand::Debug => &[],
    };
    proptest::sample::subsequence(flags.to_vec(), 0..=flags.len()).prop_map(|flags| flags.join(" "))
}

fn spec() -> impl Strategy<Value = Spec> {
    let command = prop_oneof![
        Just(StoreCommand::Set),
        Just(StoreCommand::Add),
        Just(StoreCommand::Replace),
        Just(StoreCommand::Append),
        Just(StoreCommand::Prepend),
        Just(StoreCommand::Cas),
    ];
    let meta = prop_oneof![
        Just(MetaCommand::Get),
        Just(MetaCommand::Set),
        Just(MetaCommand::Delete),
        Just(MetaCommand::Arithmetic),
        Just(MetaCommand::Debug),
    ];
    prop_oneof![
        (prop::collection::vec(key(), 1..10), any::<bool>()).prop_map(|(k, c)| Spec::Get(k, c)),
        (exptime(), prop::collection::vec(key(), 1..5), any::<bool>())
            .prop_map(|(e, k, c)| Spec::GetAndTouch(e, k, c)),
        (
            command,
            key(),
            any::<u32>(),
            exptime(),
            prop::collection::vec(any::<u8>(), 0..300),
            any::<u64>(),
            any::<bool>()
        )
            .prop_map(|(c, k, f, e, v, cas, n)| Spec::Store(
                c,
                k,
                f,
                e,
                v,
                if c == StoreCommand::Cas { cas } else { 0 },
                n
            )),
        (key(), any::<bool>()).prop_map(|(k, n)| Spec::Delete(k, n)),
        (key(), any::<u64>(), any::<bool>(), any::<bool>())
            .prop_map(|(k, d, i, n)| Spec::Arithmetic(k, d, i, n)),
        (key(), exptime(), any::<bool>()).prop_map(|(k, e, n)| Spec::Touch(k, e, n)),
        (exptime(), any::<bool>()).prop_map(|(d, n)| Spec::FlushAll(d, n)),
        Just(Spec::Version),
        (any::<u32>(), any::<bool>()).prop_map(|(l, n)| Spec::Verbosity(l, n)),
        proptest::option::of("[a-z]{1,10}").prop_map(Spec::Stats),
        (
            meta,
            prop::collection::vec(any::<u8>(), 1..100),
            any::<bool>(),
            prop::collection::vec(any::<u8>(), 0..100)
        )
            .prop_flat_map(|(m, raw_key, b64, value)| {
                meta_flags(m).prop_map(move |flags| Spec::Meta(m, raw_key.clone(), b64, flags, value.clone()))
            }),
        Just(Spec::MetaNoop),
    ]
}

/// Builds the request a spec describes; the text it borrows lives in `text`.
fn compose(spec: &Spec) -> Vec<u8> {
    let mut out = Vec::new();
    let joined;
    let flags_text;
    let request = match spec {
        Spec::Get(keys, cas) => {
            joined = keys.join(" ");
            Request::Get { keys: Keys::parse(joined.as_bytes()).unwrap(), cas: *cas, last: true }
        }
        Spec::GetAndTouch(exptime, keys, cas) => {
            joined = keys.join(" ");
            Request::GetAndTouch {
                exptime: *exptime,
                keys: Keys::parse(joined.as_bytes()).unwrap(),
                cas: *cas,
                last: true,
            }
        }
        Spec::Store(command, key, flags, exptime, value, cas, noreply) => Request::Store {
            command: *command,
            key: key.as_bytes(),
            flags: *flags,
            exptime: *exptime,
            value,
            cas: *cas,
            noreply: *noreply,
        },
        Spec::Delete(key, noreply) => Request::Delete { key: key.as_bytes(), noreply: *noreply },
        Spec::Arithmetic(key, delta, increment, noreply) => Request::Arithmetic {
            key: key.as_bytes(),
            delta: *delta,
            increment: *increment,
            noreply: *noreply,
        },
        Spec::Touch(key, exptime, noreply) => {
            Request::Touch { key: key.as_bytes(), exptime: *exptime, noreply: *noreply }
        }
        Spec::FlushAll(delay, noreply) => Request::FlushAll { delay: *delay, noreply: *noreply },
        Spec::Version => Request::Version,
        Spec::Verbosity(level, noreply) => Request::Verbosity { level: *level, noreply: *noreply },
        Spec::Stats(group) => Request::Stats { group: group.as_deref().map(str::as_bytes), argument: None },
        Spec::Meta(command, raw_key, base64, flags, value) => {
            // Binary keys travel base64-encoded; printable ones may go plain.
            let printable = raw_key.iter().all(|&b| b > b' ' && b < 0x7f);
            let use_base64 = *base64 || !printable;
            flags_text = if use_base64 { format!("b {flags}").trim().to_string() } else { flags.clone() };
            let text = flags_text.as_bytes();
            let meta_flags = MetaFlags::parse(*command, text);
            let Ok(meta_flags) = meta_flags else { return Vec::new() };
            let key = if use_base64 {
                let mut encoded = Vec::new();
                base64_encode(raw_key, &mut encoded);
                match Key::decode_base64(&encoded) {
                    Ok(key) => key,
                    Err(_) => return Vec::new(),
                }
            } else {
                Key::parse(raw_key).unwrap()
            };
            match command {
                MetaCommand::Get => Request::MetaGet { key, flags: meta_flags },
                MetaCommand::Set => Request::MetaSet { key, flags: meta_flags, value },
                MetaCommand::Delete => Request::MetaDelete { key, flags: meta_flags },
                MetaCommand::Arithmetic => Request::MetaArithmetic { key, flags: meta_flags },
                MetaCommand::Debug => Request::MetaDebug { key, flags: meta_flags },
            }
        }
        Spec::MetaNoop => Request::MetaNoop,
    };
    request.compose(&mut out);
    let reparsed =
        Memcache::default().parse(&mut ConnectionState::default(), &out).expect("a composed request parses");
    assert_eq!(reparsed.message, request, "round trip of {:?}", String::from_utf8_lossy(&out));
    assert_eq!(reparsed.consumed, out.len());
    out
}

fn base64_encode(bytes: &[u8], out: &mut Vec<u8>) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let n = (chunk[0] as u32) << 16
            | (*chunk.get(1).unwrap_or(&0) as u32) << 8
            | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}

/// Parses every request in `stream`, fed in the given chunk sizes as a
/// server's read buffer would fill; returns each request re-composed.
fn parse_in_chunks(stream: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let protocol = Memcache::default();
    let mut state = ConnectionState::default();
    let mut buffer = Vec::new();
    let mut fed = 0;
    let mut cuts = cuts.iter().copied().chain(std::iter::repeat(usize::MAX));
    let mut requests = Vec::new();
    loop {
        match protocol.parse(&mut state, &buffer) {
            Ok(parsed) => {
                let mut again = Vec::new();
                parsed.message.compose(&mut again);
                requests.push(again);
                buffer.drain(..parsed.consumed);
            }
            Err(ParseError::Incomplete) if fed < stream.len() => {
                let take = cuts.next().unwrap().clamp(1, stream.len() - fed);
                buffer.extend_from_slice(&stream[fed..fed + take]);
                fed += take;
            }
            Err(ParseError::Incomplete) => {
                assert!(buffer.is_empty(), "left over: {:?}", String::from_utf8_lossy(&buffer));
                return requests;
            }
            Err(error) => panic!("valid stream rejected: {error:?}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn composed_requests_parse_back_identically(spec in spec()) {
        compose(&spec);
    }

    #[test]
    fn any_split_of_a_stream_parses_the_same(
        specs in prop::collection::vec(spec(), 1..20),
        cuts in prop::collection::vec(1usize..64, 0..200),
    ) {
        let requests: Vec<Vec<u8>> = specs.iter().map(compose).filter(|r| !r.is_empty()).collect();
        let stream = requests.concat();
        prop_assert_eq!(parse_in_chunks(&stream, &[stream.len()]), requests.clone());
        prop_assert_eq!(parse_in_chunks(&stream, &cuts), requests.clone());
        prop_assert_eq!(parse_in_chunks(&stream, &[1]), requests);
    }

    #[test]
    fn composed_values_parse_back(items in prop::collection::vec((key(), any::<u32>(), any::<u64>(), prop::collection::vec(any::<u8>(), 0..200)), 0..10), cas in any::<bool>()) {
        let mut bytes = Vec::new();
        let mut hits = Vec::new();
        for (key, flags, cas_value, value) in &items {
            let key_start = bytes.len();
            bytes.extend_from_slice(key.as_bytes());
            let value_start = bytes.len();
            bytes.extend_from_slice(value);
            hits.push(Hit { key: key_start..value_start, value: value_start..bytes.len(), flags: *flags, cas: *cas_value });
        }
        let mut wire = Vec::new();
        Response::Values { hits: &hits, bytes: &bytes, cas, last: true }.compose(&mut wire);
        let mut rest = &wire[..];
        for (key, flags, cas_value, value) in &items {
            let parsed = parse_reply(rest).unwrap();
            prop_assert_eq!(parsed.message, Reply::Value { key: key.as_bytes(), flags: *flags, cas: cas.then_some(*cas_value), data: value });
            rest = &rest[parsed.consumed..];
        }
        let end = parse_reply(rest).unwrap();
        prop_assert_eq!(end.message, Reply::End);
        prop_assert_eq!(end.consumed, rest.len());
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_never_overconsume(input in prop::collection::vec(any::<u8>(), 0..512)) {
        match Memcache::default().parse(&mut ConnectionState::default(), &input) {
            Ok(parsed) => prop_assert!(parsed.consumed <= input.len() && parsed.consumed > 0),
            Err(ParseError::Incomplete) => {}
            Err(ParseError::Invalid { .. }) => {}
        }
        let _ = parse_reply(&input);
    }
}
