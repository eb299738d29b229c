//! Byte buffers for the two directions of one connection.
//!
//! Both hold nothing until first used, then `initial` bytes; they grow by
//! doubling when a request or a batch of responses needs more, never past
//! `max` (a soft limit for the write side, see [`WriteBuffer`]), and shrink
//! back to `initial` once empty again, so one large request does not pin
//! memory for the life of an idle connection. What they hold above
//! `initial` is counted against the server's [`MemoryBudget`].

use std::io::{self, Read, Write};
use std::sync::Arc;

use crate::MemoryBudget;

/// What [`ReadBuffer::read_from`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Read this many bytes; 0 is the end of the stream.
    Read(usize),
    /// Read nothing: the buffer holds `max` bytes already.
    Full,
    /// Read nothing: growing would take more memory than the server's
    /// budget for buffers has left.
    OverBudget,
}

/// Bytes received and not yet parsed.
///
/// The storage is zeroed once when allocated and then reused, so a read goes
/// straight into it without clearing it first.
#[derive(Debug)]
pub struct ReadBuffer {
    storage: Vec<u8>,
    /// `storage[start..end]` holds the unparsed bytes.
    start: usize,
    end: usize,
    initial: usize,
    max: usize,
    memory: Arc<MemoryBudget>,
    /// Bytes above `initial` taken from `memory`.
    held: usize,
}

impl ReadBuffer {
    /// An empty buffer that will start at `initial` bytes and grow to `max`
    /// while `memory` has room.
    pub fn new(initial: usize, max: usize, memory: Arc<MemoryBudget>) -> Self {
        Self { storage: Vec::new(), start: 0, end: 0, initial, max: max.max(initial), memory, held: 0 }
    }

    /// The bytes not yet parsed.
    pub fn bytes(&self) -> &[u8] {
        &self.storage[self.start..self.end]
    }

    /// How many bytes are not yet parsed.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether every byte has been parsed.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Whether the buffer holds `max` bytes, so nothing more can be read.
    pub fn is_full(&self) -> bool {
        self.len() >= self.max
    }

    /// The memory currently allocated.
    pub fn capacity(&self) -> usize {
        self.storage.len()
    }

    /// Marks the first `count` bytes parsed.
    pub fn consume(&mut self, count: usize) {
        assert!(count <= self.len(), "consumed more than the buffer holds");
        self.start += count;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.storage.len() > self.initial {
                self.storage = vec![0; self.initial];
                self.memory.give_back(std::mem::take(&mut self.held));
            }
        }
    }

    /// Reads once from `source` into free space, first compacting and then
    /// growing toward `max` if there is none; or reads nothing and says
    /// which limit stopped it. An error is the source's.
    pub fn read_from(&mut self, source: &mut impl Read) -> io::Result<Fill> {
        let unallocated = self.storage.is_empty();
        if let Err(limit) = self.make_room() {
            return Ok(limit);
        }
        match source.read(&mut self.storage[self.end..]) {
            Ok(read) if read > 0 => {
                self.end += read;
                Ok(Fill::Read(read))
            }
            nothing => {
                // An idle connection holds no buffer: give back one that was
                // allocated for a read that found nothing.
                if unallocated {
                    self.storage = Vec::new();
                }
                nothing.map(Fill::Read)
            }
        }
    }

    /// How many bytes the next read can take without moving or growing.
    pub fn spare(&self) -> usize {
        self.storage.len() - self.end
    }

    /// Frees or grows room for a read; the limit that prevents it, if any.
    fn make_room(&mut self) -> Result<(), Fill> {
        if self.storage.is_empty() {
            self.storage = vec![0; self.initial];
        }
        if self.spare() > 0 {
            return Ok(());
        }
        if self.start > 0 {
            self.storage.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            return Ok(());
        }
        if self.len() >= self.max {
            return Err(Fill::Full);
        }
        let grown = (self.storage.len() * 2).clamp(self.initial, self.max);
        let above = grown - self.initial;
        if !self.memory.try_take(above - self.held) {
            return Err(Fill::OverBudget);
        }
        self.held = above;
        self.storage.resize(grown, 0);
        Ok(())
    }
}

impl Drop for ReadBuffer {
    fn drop(&mut self) {
        self.memory.give_back(self.held);
    }
}

/// Responses composed and not yet sent.
///
/// `max` is a soft limit: the session stops taking new requests once it is
/// reached, or once the memory budget is spent while this buffer holds part
/// of it, but the response being composed is always completed, so the
/// buffer can exceed `max` (and the budget) by one response.
#[derive(Debug)]
pub struct WriteBuffer {
    data: Vec<u8>,
    /// Bytes before this offset have been sent.
    start: usize,
    initial: usize,
    max: usize,
    memory: Arc<MemoryBudget>,
    /// Bytes above `initial` taken from `memory`.
    held: usize,
}

impl WriteBuffer {
    /// An empty buffer that will start at `initial` bytes; `max` is the soft
    /// limit.
    pub fn new(initial: usize, max: usize, memory: Arc<MemoryBudget>) -> Self {
        Self { data: Vec::new(), start: 0, initial, max: max.max(initial), memory, held: 0 }
    }

    /// The bytes not yet sent.
    pub fn bytes(&self) -> &[u8] {
        &self.data[self.start..]
    }

    /// How many bytes are not yet sent.
    pub fn len(&self) -> usize {
        self.data.len() - self.start
    }

    /// Whether everything has been sent.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether no more requests should be taken until the client reads:
    /// the soft limit is reached, or the buffer has grown while the memory
    /// budget is spent.
    pub fn is_full(&mut self) -> bool {
        self.settle();
        self.len() >= self.max || (self.held > 0 && self.memory.is_spent())
    }

    /// Brings what the budget counts for this buffer up to date with its
    /// allocation, which composing responses may have grown.
    fn settle(&mut self) {
        let above = self.data.capacity().saturating_sub(self.initial);
        if above > self.held {
            self.memory.take(above - self.held);
        } else if above < self.held {
            self.memory.give_back(self.held - above);
        }
        self.held = above;
    }

    /// The memory currently allocated.
    pub fn capacity(&self) -> usize {
        self.data.capacity()
    }

    /// The vector responses are composed into, by appending.
    pub fn tail(&mut self) -> &mut Vec<u8> {
        if self.data.capacity() == 0 {
            self.data.reserve_exact(self.initial);
        }
        &mut self.data
    }

    /// Replaces the bytes not yet sent (replies withdrawn after a failed
    /// commit).
    pub(crate) fn replace_unsent(&mut self, unsent: Vec<u8>) {
        self.data = unsent;
        self.start = 0;
        self.settle();
    }

    /// Writes once from the front of the buffer to `sink`, consuming what
    /// was written.
    pub fn write_to(&mut self, sink: &mut impl Write) -> io::Result<usize> {
        let written = sink.write(self.bytes())?;
        self.consume(written);
        Ok(written)
    }

    fn consume(&mut self, count: usize) {
        self.start += count;
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
            if self.data.capacity() > self.initial {
                self.data = Vec::with_capacity(self.initial);
                self.settle();
            }
        } else if self.start >= self.data.len() / 2 && self.start >= self.initial {
            // Most of the buffer is sent: move the rest to the front rather
            // than let the vector grow ahead of a slow reader.
            self.data.drain(..self.start);
            self.start = 0;
        }
    }
}

impl Drop for WriteBuffer {
    fn drop(&mut self) {
        self.memory.give_back(self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unlimited() -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget::unlimited())
    }

    #[test]
    fn allocate_nothing_until_used() {
        assert_eq!(ReadBuffer::new(64, 1024, unlimited()).capacity(), 0);
        assert_eq!(WriteBuffer::new(64, 1024, unlimited()).capacity(), 0);
    }

    #[test]
    fn a_read_that_finds_nothing_keeps_nothing() {
        struct Empty;
        impl Read for Empty {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::ErrorKind::WouldBlock.into())
            }
        }
        let mut buffer = ReadBuffer::new(64, 1024, unlimited());
        assert!(buffer.read_from(&mut Empty).is_err());
        assert_eq!(buffer.capacity(), 0);
        assert_eq!(buffer.read_from(&mut &b""[..]).unwrap(), Fill::Read(0));
        assert_eq!(buffer.capacity(), 0);
    }

    #[test]
    fn reads_grow_to_max_and_stop() {
        let mut buffer = ReadBuffer::new(64, 256, unlimited());
        let mut source: &[u8] = &[7u8; 1000];
        let mut total = 0;
        let limit = loop {
            match buffer.read_from(&mut source).unwrap() {
                Fill::Read(n) => total += n,
                limit => break limit,
            }
        };
        assert_eq!(limit, Fill::Full);
        assert_eq!(total, 256);
        assert!(buffer.is_full());
        assert_eq!(buffer.capacity(), 256);
    }

    #[test]
    fn read_buffer_shrinks_back_when_consumed() {
        let mut buffer = ReadBuffer::new(64, 4096, unlimited());
        let mut source: &[u8] = &[1u8; 3000];
        while !source.is_empty() {
            buffer.read_from(&mut source).unwrap();
        }
        assert!(buffer.capacity() >= 3000);
        buffer.consume(1000);
        assert!(buffer.capacity() >= 3000);
        buffer.consume(2000);
        assert_eq!(buffer.capacity(), 64);
    }

    #[test]
    fn compacts_before_growing() {
        let mut buffer = ReadBuffer::new(64, 64, unlimited());
        let mut source: &[u8] = &[1u8; 64];
        assert_eq!(buffer.read_from(&mut source).unwrap(), Fill::Read(64));
        buffer.consume(60);
        let mut more: &[u8] = &[2u8; 10];
        assert_eq!(buffer.read_from(&mut more).unwrap(), Fill::Read(10));
        assert_eq!(buffer.bytes(), &[1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
    }

    struct Trickle(Vec<u8>);
    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(3);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writes_consume_what_was_written_and_shrink() {
        let mut buffer = WriteBuffer::new(4, 64, unlimited());
        buffer.tail().extend_from_slice(b"hello");
        let mut sink = Trickle(Vec::new());
        assert_eq!(buffer.write_to(&mut sink).unwrap(), 3);
        assert_eq!(buffer.bytes(), b"lo");
        assert_eq!(buffer.write_to(&mut sink).unwrap(), 2);
        assert!(buffer.is_empty());
        assert_eq!(buffer.capacity(), 4);
        assert_eq!(sink.0, b"hello");
    }

    #[test]
    fn write_limit_is_soft() {
        let mut buffer = WriteBuffer::new(4, 8, unlimited());
        buffer.tail().extend_from_slice(b"0123456789");
        assert!(buffer.is_full());
        assert_eq!(buffer.len(), 10);
    }

    #[test]
    fn growth_is_counted_against_the_budget_and_refused_past_it() {
        let budget = Arc::new(MemoryBudget::new(192));
        let mut first = ReadBuffer::new(64, 1024, budget.clone());
        let mut source: &[u8] = &[7u8; 1000];
        while let Fill::Read(_) = first.read_from(&mut source).unwrap() {}
        // 64 -> 128 -> 256 takes 192, the whole budget; 512 is refused.
        assert_eq!(first.capacity(), 256);
        assert_eq!(budget.used(), 192);
        let mut second = ReadBuffer::new(64, 1024, budget.clone());
        let mut source: &[u8] = &[7u8; 100];
        second.read_from(&mut source).unwrap();
        assert_eq!(second.read_from(&mut source).unwrap(), Fill::OverBudget);
        // Emptied, the first gives its share back.
        first.consume(first.len());
        assert_eq!(budget.used(), 0);
        second.read_from(&mut source).unwrap();
        drop(second);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_grown_write_buffer_is_full_while_the_budget_is_spent() {
        let budget = Arc::new(MemoryBudget::new(100));
        let mut buffer = WriteBuffer::new(16, 4096, budget.clone());
        buffer.tail().extend_from_slice(&[1u8; 8]);
        assert!(!buffer.is_full(), "within its initial size");
        buffer.tail().extend_from_slice(&[1u8; 200]);
        assert!(buffer.is_full(), "grown past the budget");
        assert!(budget.used() >= 100);
        let mut sink = Vec::new();
        while !buffer.is_empty() {
            buffer.write_to(&mut sink).unwrap();
        }
        assert!(!buffer.is_full());
        assert_eq!(budget.used(), 0);
    }
}
