//! Whatever a client asks, the bytes a connection holds for its replies
//! (the session's buffers and the service's scratch) stay within the
//! write buffer's limit plus one part of a reply and one item, and every
//! reply arrives whole: requests for many large items, through the real
//! session loop, to a client that reads a little at a time.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::Arc;

use petrel_memcache_service::{MemcacheService, MemoryStorage, RESPONSE_PART, Watchers};
use petrel_metrics::ServerInfo;
use petrel_protocol_memcache::{Limits, Memcache};
use petrel_session::{Limits as BufferLimits, MemoryBudget, Progress, Readiness, Session, Traffic};
use proptest::prelude::*;

const ITEM_MAX: usize = 128 << 10;
const READ_MAX: usize = 256 << 10;
const WRITE_MAX: usize = 64 << 10;

/// A client that sends everything at once and takes at most `per_turn`
/// bytes of replies each time the server drives the connection.
struct SlowReader {
    input: Vec<u8>,
    per_turn: usize,
    taken_this_turn: usize,
    received: Vec<u8>,
}

impl Read for SlowReader {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let count = buffer.len().min(self.input.len());
        buffer[..count].copy_from_slice(&self.input[..count]);
        self.input.drain(..count);
        Ok(count)
    }
}

impl Write for SlowReader {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let count = bytes.len().min(self.per_turn - self.taken_this_turn);
        if count == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.taken_this_turn += count;
        self.received.extend_from_slice(&bytes[..count]);
        Ok(count)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug, Clone)]
enum Ask {
    /// `get` of these keys (indexes into the items).
    Get(Vec<usize>),
    /// `mg <key> v` for each.
    MetaGets(Vec<usize>),
}

fn asks() -> impl Strategy<Value = Vec<Ask>> {
    let keys = prop::collection::vec(0..6usize, 1..400);
    prop::collection::vec(prop_oneof![keys.clone().prop_map(Ask::Get), keys.prop_map(Ask::MetaGets)], 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn held_reply_bytes_stay_within_the_limit_and_replies_arrive_whole(
        sizes in prop::collection::vec(prop_oneof![0..64usize, 1000..ITEM_MAX - 300], 6),
        asks in asks(),
        per_turn in 1000..200_000usize,
    ) {
        let limits = Limits { item_size_max: ITEM_MAX, max_line: 2048 };
        let mut service = MemcacheService::new(
            Arc::new(MemoryStorage::new()),
            limits,
            Arc::new(ServerInfo::new("test", 1)),
            &Watchers::new(),
        );
        let protocol = Memcache::new(limits);
        let buffers = BufferLimits { initial: 4096, read_max: READ_MAX, write_max: WRITE_MAX, memory: Arc::new(MemoryBudget::new(1 << 30)) };
        let mut items = HashMap::new();
        let (mut input, mut expected) = (Vec::new(), Vec::new());
        for (i, &size) in sizes.iter().enumerate() {
            // Absent keys stay absent: every other item is never stored.
            if i % 2 == 1 {
                continue;
            }
            let value: Vec<u8> = (0..size).map(|n| b'a' + ((n * 7 + i) % 26) as u8).collect();
            input.extend_from_slice(format!("set key-{i} 0 0 {size}\r\n").as_bytes());
            input.extend_from_slice(&value);
            input.extend_from_slice(b"\r\n");
            expected.extend_from_slice(b"STORED\r\n");
            items.insert(i, value);
        }
        for ask in &asks {
            match ask {
                Ask::Get(keys) => {
                    input.extend_from_slice(b"get");
                    for key in keys {
                        input.extend_from_slice(format!(" key-{key}").as_bytes());
                        if let Some(value) = items.get(key) {
                            expected.extend_from_slice(format!("VALUE key-{key} 0 {}\r\n", value.len()).as_bytes());
                            expected.extend_from_slice(value);
                            expected.extend_from_slice(b"\r\n");
                        }
                    }
                    input.extend_from_slice(b"\r\n");
                    expected.extend_from_slice(b"END\r\n");
                }
                Ask::MetaGets(keys) => {
                    for key in keys {
                        input.extend_from_slice(format!("mg key-{key} v\r\n").as_bytes());
                        match items.get(key) {
                            Some(value) => {
                                expected.extend_from_slice(format!("VA {}\r\n", value.len()).as_bytes());
                                expected.extend_from_slice(value);
                                expected.extend_from_slice(b"\r\n");
                            }
                            None => expected.extend_from_slice(b"EN\r\n"),
                        }
                    }
                }
            }
        }
        let client = SlowReader { input, per_turn, taken_this_turn: 0, received: Vec::new() };
        let mut session: Session<SlowReader, _> = Session::new(client, &buffers, Traffic::Client);
        // Growing vectors double: twice what they may hold.
        let session_limit = 2 * (READ_MAX + WRITE_MAX + RESPONSE_PART + ITEM_MAX);
        let service_limit = 2 * (RESPONSE_PART + ITEM_MAX);
        let mut turns = 0;
        while session.stream().received.len() < expected.len() {
            session.stream_mut().taken_this_turn = 0;
            let progress = session.drive(&protocol, &mut service, 64, Readiness::READABLE).unwrap();
            prop_assert_ne!(progress, Progress::Done);
            prop_assert!(session.buffered_capacity() <= session_limit, "session holds {}", session.buffered_capacity());
            prop_assert!(service.held_bytes() <= service_limit, "service holds {}", service.held_bytes());
            turns += 1;
            prop_assert!(turns < 1_000_000, "no progress");
        }
        let received = &session.stream().received;
        prop_assert!(received == &expected, "replies differ from byte {:?}", received.iter().zip(&expected).position(|(a, b)| a != b));
    }
}
