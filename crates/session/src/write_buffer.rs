//! Responses on their way to the socket; see `buffer.rs` for what both
//! directions' buffers share.

use std::io::{self, Write};
use std::sync::Arc;

use crate::MemoryBudget;

/// Responses composed and not yet sent.
///
/// `max` is a soft limit: the session stops taking new requests (and
/// composing parts of a streamed response) once it is reached, or once the
/// memory budget is spent while this buffer holds part of it, but the
/// response or part being composed is always completed, so the buffer can
/// exceed `max` (and the budget) by one response or one part of a streamed
/// one.
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
    use crate::budget::unlimited;

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
