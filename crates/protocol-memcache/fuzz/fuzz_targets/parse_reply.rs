//! Any bytes: the client-side reply parser never panics and never claims
//! more bytes than it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use petrel_protocol::ParseError;
use petrel_protocol_memcache::parse_reply;

fuzz_target!(|input: &[u8]| {
    let mut rest = input;
    while !rest.is_empty() {
        match parse_reply(rest) {
            Ok(parsed) => {
                assert!(parsed.consumed > 0 && parsed.consumed <= rest.len());
                rest = &rest[parsed.consumed..];
            }
            Err(ParseError::Incomplete) => break,
            Err(ParseError::Invalid { .. }) => {
                let line_end = rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |i| i + 1);
                rest = &rest[line_end..];
            }
        }
    }
});
