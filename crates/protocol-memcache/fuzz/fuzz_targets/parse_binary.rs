//! Any bytes as a binary-protocol connection: the binary parser never
//! panics, never claims more bytes than it was given (but for a value
//! refused unread), and a request it accepts composes back to bytes it
//! accepts as the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use petrel_protocol::{ParseError, Recovery};
use petrel_protocol_memcache::binary::{self, BinaryCommand};
use petrel_protocol_memcache::{Limits, Request};

fuzz_target!(|input: &[u8]| {
    let limits = Limits { item_size_max: 4096, max_line: 2048 };
    let mut rest = input;
    while !rest.is_empty() {
        match binary::parse(rest, &limits) {
            Ok(parsed) => {
                let Request::Binary(request) = parsed.message else { panic!("a binary request") };
                assert!(parsed.consumed >= binary::HEADER_LEN);
                if !matches!(request.command, BinaryCommand::TooLarge { .. }) {
                    assert!(parsed.consumed <= rest.len());
                    let mut again = Vec::new();
                    request.compose(&mut again);
                    let reparsed = binary::parse(&again, &limits).expect("a composed request parses");
                    assert_eq!(reparsed.message, parsed.message);
                    assert_eq!(reparsed.consumed, again.len());
                }
                rest = &rest[parsed.consumed.min(rest.len())..];
            }
            Err(ParseError::Incomplete) => break,
            Err(ParseError::Invalid { recovery: Recovery::Skip(count), .. }) => {
                assert!(count as usize >= binary::HEADER_LEN);
                rest = &rest[(count as usize).min(rest.len())..];
            }
            Err(ParseError::Invalid { recovery: Recovery::Close, .. }) => break,
        }
    }
});
