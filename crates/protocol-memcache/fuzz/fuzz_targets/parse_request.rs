//! Any bytes: the request parser never panics, never claims more bytes than
//! it was given, and a request it accepts composes back to bytes it accepts
//! as the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use petrel_protocol::{ParseError, Protocol, Recovery};
use petrel_protocol_memcache::binary::BinaryCommand;
use petrel_protocol_memcache::{ConnectionState, Limits, Memcache, Request};

fuzz_target!(|input: &[u8]| {
    let protocol = Memcache::new(Limits { item_size_max: 4096, max_line: 2048 });
    let mut rest = input;
    let mut state = ConnectionState::default();
    while !rest.is_empty() {
        match protocol.parse(&mut state, rest) {
            Ok(parsed) => {
                // A value refused unread is consumed past the buffer; a piece
                // of a long get line is no whole request to compose again.
                let whole = match parsed.message {
                    Request::TooLarge { .. } => false,
                    Request::Binary(request) => !matches!(request.command, BinaryCommand::TooLarge { .. }),
                    Request::Get { last, .. } | Request::GetAndTouch { last, .. } => last,
                    _ => true,
                };
                assert!(parsed.consumed > 0);
                if whole {
                    assert!(parsed.consumed <= rest.len());
                    let mut again = Vec::new();
                    parsed.message.compose(&mut again);
                    let reparsed =
                        protocol.parse(&mut ConnectionState::default(), &again).expect("a composed request parses");
                    assert_eq!(reparsed.message, parsed.message);
                }
                rest = &rest[parsed.consumed.min(rest.len())..];
            }
            Err(ParseError::Incomplete) => break,
            Err(ParseError::Invalid { recovery: Recovery::Skip(count), .. }) => {
                assert!(count > 0);
                rest = &rest[(count as usize).min(rest.len())..];
            }
            Err(ParseError::Invalid { recovery: Recovery::Close, .. }) => break,
        }
    }
});
