//! Byte buffers for the two directions of one connection: the read side
//! here, the write side in `write_buffer.rs`.
//!
//! Both hold nothing until first used, then `initial` bytes; they grow by
//! doubling when a request or a batch of responses needs more, never past
//! `max` (a soft limit for the write side, see [`WriteBuffer`]), and shrink
//! back to `initial` once empty again, so one large request does not pin
//! memory for the life of an idle connection. What they hold above
//! `initial` is counted against the server's [`MemoryBudget`].

use std::io::{self, Read};
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WriteBuffer;
    use crate::budget::unlimited;

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
}
