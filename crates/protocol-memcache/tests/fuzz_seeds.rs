//! Replays the committed fuzz seeds (and any crash reproducers added next to
//! them) through the parsers, so every CI run checks them even where
//! cargo-fuzz is not installed.

use petrel_protocol::{ParseError, Protocol, Recovery};
use petrel_protocol_memcache::binary::{self, BinaryCommand, BinaryRequest};
use petrel_protocol_memcache::{ConnectionState, Limits, Memcache, Request, parse_reply};

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = manifest_dir().join("fuzz/seeds").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files.iter().map(|path| std::fs::read(path).unwrap()).collect()
}

#[test]
fn request_seeds_parse_within_bounds() {
    let protocol = Memcache::new(Limits { item_size_max: 4096, max_line: 2048 });
    let mut accepted = 0;
    for seed in seeds("parse_request") {
        let mut rest = &seed[..];
        let mut state = ConnectionState::default();
        while !rest.is_empty() {
            match protocol.parse(&mut state, rest) {
                Ok(parsed) => {
                    // Only a value refused unread is consumed past the buffer.
                    let unread = matches!(parsed.message, Request::TooLarge { .. });
                    assert!(parsed.consumed > 0 && (unread || parsed.consumed <= rest.len()));
                    accepted += 1;
                    rest = &rest[parsed.consumed.min(rest.len())..];
                }
                Err(ParseError::Invalid { recovery: Recovery::Skip(count), .. }) => {
                    rest = &rest[(count as usize).min(rest.len())..];
                }
                Err(_) => break,
            }
        }
    }
    assert!(accepted >= 25, "the seeds are valid requests, {accepted} parsed");
}

#[test]
fn binary_seeds_parse_within_bounds() {
    let limits = Limits { item_size_max: 4096, max_line: 2048 };
    let mut accepted = 0;
    for seed in seeds("parse_binary") {
        let mut rest = &seed[..];
        while !rest.is_empty() {
            match binary::parse(rest, &limits) {
                Ok(parsed) => {
                    let unread = matches!(
                        parsed.message,
                        Request::Binary(BinaryRequest { command: BinaryCommand::TooLarge { .. }, .. })
                    );
                    assert!(
                        parsed.consumed >= binary::HEADER_LEN && (unread || parsed.consumed <= rest.len())
                    );
                    accepted += 1;
                    rest = &rest[parsed.consumed.min(rest.len())..];
                }
                Err(ParseError::Invalid { recovery: Recovery::Skip(count), .. }) => {
                    rest = &rest[(count as usize).min(rest.len())..];
                }
                Err(_) => break,
            }
        }
    }
    assert!(accepted >= 30, "the seeds are valid requests, {accepted} parsed");
}

#[test]
fn reply_seeds_parse_within_bounds() {
    for seed in seeds("parse_reply") {
        let mut rest = &seed[..];
        while !rest.is_empty() {
            let parsed =
                parse_reply(rest).unwrap_or_else(|e| panic!("{:?}: {e:?}", String::from_utf8_lossy(rest)));
            assert!(parsed.consumed > 0 && parsed.consumed <= rest.len());
            rest = &rest[parsed.consumed..];
        }
    }
}

/// This package's directory, as cargo gives it when running the test: the
/// compile-time value may name another checkout sharing the target directory.
fn manifest_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"))
}
