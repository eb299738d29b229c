//! Any bytes, served end to end against the in-memory store as a session
//! would (parse, execute, compose, recover): nothing panics, and the reply
//! to each request is a well-formed reply a client can parse (binary
//! packets when the input's first byte chooses the binary protocol).
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use petrel_protocol::{Executed, ParseError, Protocol, Recovery, Service, Streamed};
use petrel_memcache_service::{MemcacheService, MemoryStorage, Watchers};
use petrel_protocol_memcache::{ConnectionState, Limits, Memcache, Request, binary, parse_reply};

fuzz_target!(|input: &[u8]| {
    let limits = Limits { item_size_max: 4096, max_line: 2048 };
    let protocol = Memcache::new(limits);
    let info = Arc::new(petrel_metrics::ServerInfo::new("fuzz", 1));
    let mut service = MemcacheService::new(Arc::new(MemoryStorage::new()), limits, info, &Watchers::new());
    let mut rest = input;
    let mut state = ConnectionState::default();
    let mut out = Vec::new();
    while !rest.is_empty() {
        match protocol.parse(&mut state, rest) {
            Ok(parsed) => {
                let retrieval = matches!(parsed.message, Request::Get { .. } | Request::GetAndTouch { .. });
                let Executed { response, stream, .. } = service.execute(parsed.message);
                protocol.compose(&response, &mut out);
                // The rest of a retrieval of many large items, composed in
                // parts as a session goes on (a key dump's or a watch's
                // lines are no replies to parse: they are left).
                if let Some(mut stream) = stream.filter(|_| retrieval) {
                    while service.compose_next(stream.as_mut(), &mut out) == Streamed::More {}
                }
                rest = &rest[parsed.consumed.min(rest.len())..];
            }
            Err(ParseError::Incomplete) => break,
            Err(ParseError::Invalid { error, recovery }) => {
                protocol.compose_error(&error, &mut out);
                match recovery {
                    Recovery::Skip(count) => rest = &rest[(count as usize).min(rest.len())..],
                    Recovery::Close => break,
                }
            }
        }
    }
    let binary = input.first() == Some(&binary::REQUEST_MAGIC);
    let mut replies = &out[..];
    while !replies.is_empty() {
        let consumed = match binary {
            true => binary::parse_packet(replies).expect("every reply is a whole packet").consumed,
            false => parse_reply(replies).expect("every reply parses").consumed,
        };
        replies = &replies[consumed..];
    }
});
