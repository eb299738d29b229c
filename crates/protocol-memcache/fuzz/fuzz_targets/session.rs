//! Any bytes, arriving in any pieces, through the real session loop
//! (petrel-session's buffers, budgets and recovery) into the memcache
//! service on the in-memory store, with a socket that takes responses a few
//! bytes at a time: nothing panics, memory stays within the buffer limits,
//! and what the client receives is a sequence of well-formed replies (binary
//! packets when the input's first byte chooses the binary protocol).
#![no_main]

use std::io::{self, Read, Write};
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use petrel_memcache_service::{MemcacheService, MemoryStorage, RESPONSE_PART, Watchers};
use petrel_protocol_memcache::{Limits, Memcache, binary, parse_reply};
use petrel_session::{Limits as BufferLimits, MemoryBudget, Progress, Readiness, Session, Traffic};

/// A socket whose input comes in pieces and whose output is taken a few
/// bytes at a time, both sizes chosen by the fuzzer.
struct Socket<'a> {
    input: &'a [u8],
    /// Bytes readable before the next "would block".
    piece: usize,
    pieces: &'a [u8],
    /// Most bytes one write takes.
    write_size: usize,
    received: Vec<u8>,
}

impl Read for Socket<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Ok(0);
        }
        if self.piece == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let count = buffer.len().min(self.piece).min(self.input.len());
        buffer[..count].copy_from_slice(&self.input[..count]);
        self.input = &self.input[count..];
        self.piece -= count;
        Ok(count)
    }
}

impl Write for Socket<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let count = bytes.len().min(self.write_size);
        self.received.extend_from_slice(&bytes[..count]);
        Ok(count)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    // The first bytes shape the pieces; the rest is what the client sends.
    let Some((&write_size, rest)) = data.split_first() else { return };
    let split = rest.len().min(8);
    let (pieces, input) = rest.split_at(split);
    let limits = Limits { item_size_max: 4096, max_line: 2048 };
    let info = Arc::new(petrel_metrics::ServerInfo::new("fuzz", 1));
    let mut service = MemcacheService::new(Arc::new(MemoryStorage::new()), limits, info, &Watchers::new());
    let memory = Arc::new(MemoryBudget::new(16 << 10));
    let buffers = BufferLimits { initial: 64, read_max: 8192, write_max: 4096, memory: memory.clone() };
    let socket = Socket { input, piece: 0, pieces, write_size: (write_size as usize % 64) + 1, received: Vec::new() };
    let mut session = Session::new(socket, &buffers, Traffic::Client);
    let protocol = Memcache::new(limits);
    let mut turn = 0;
    loop {
        let stream = session.stream_mut();
        let piece = stream.pieces.get(turn % stream.pieces.len().max(1)).copied().unwrap_or(255);
        stream.piece = piece as usize * 7 + 1;
        turn += 1;
        match session.drive(&protocol, &mut service, 16, Readiness::READABLE).expect("in-memory I/O cannot fail") {
            Progress::Done => break,
            Progress::Idle | Progress::Yield | Progress::Wait | Progress::Full => {}
        }
        // The read buffer, the write buffer with one part of a reply past
        // its limit (vectors double as they grow), and the service's scratch.
        assert!(session.buffered_capacity() <= 2 * 8192 + 2 * (4096 + RESPONSE_PART + 4096), "buffers past their limits");
        assert!(service.held_bytes() <= 2 * (RESPONSE_PART + 4096), "scratch past its limit");
        assert!(turn < 1_000_000, "no progress");
    }
    let binary = input.first() == Some(&binary::REQUEST_MAGIC);
    let mut replies = &session.stream().received[..];
    while !replies.is_empty() {
        let consumed = match binary {
            true => binary::parse_packet(replies).expect("every reply is a whole packet").consumed,
            false => parse_reply(replies).expect("every reply parses").consumed,
        };
        replies = &replies[consumed..];
    }
    drop(session);
    assert_eq!(memory.used(), 0, "every buffer gave its memory back");
});
