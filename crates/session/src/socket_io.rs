//! The session's two system calls: one read into the read buffer, and
//! writes of what is pending until the socket would block.

use std::io::{self, Read, Write};

use metriken::Counter;

use crate::counters::{BYTES_READ, BYTES_WRITTEN, MEMORY_LIMIT_CLOSES};
use crate::{Committed, Fill, Session, Traffic};

impl<S: Read + Write, T: Default> Session<S, T> {
    /// Reads once. A short read means the socket is drained until its next
    /// readiness event; the end of the stream ends input.
    pub(crate) fn fill(&mut self) -> io::Result<()> {
        match self.read.read_from(&mut self.stream) {
            Ok(Fill::Read(0)) => self.input_ended = true,
            Ok(Fill::Read(read)) => {
                self.count(&BYTES_READ, read);
                // Had the read filled all the room there was, more may wait.
                self.drained = self.read.spare() > 0 && !self.peer_closed;
            }
            // Full of a request that is still incomplete; serve() closes.
            Ok(Fill::Full) => self.drained = true,
            Ok(Fill::OverBudget) => {
                // The request needs more memory than the server has left for
                // buffers: closing frees what it held for the others.
                self.count(&MEMORY_LIMIT_CLOSES, 1);
                log::debug!("closing a connection whose request needs more buffer memory than is left");
                self.closing = true;
                self.drained = true;
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => self.drained = true,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
        Ok(())
    }

    pub(crate) fn count(&self, counter: &Counter, amount: usize) {
        if self.traffic == Traffic::Client {
            counter.add(amount as u64);
        }
    }

    /// Writes what is pending, until done or the socket would block.
    pub(crate) fn flush(&mut self, _committed: &Committed) -> io::Result<()> {
        self.uncommitted.committed();
        while !self.write.is_empty() {
            match self.write.write_to(&mut self.stream) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => {
                    self.count(&BYTES_WRITTEN, written);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        // A stream may hold bytes of its own (TLS records, handshake
        // messages): they count as pending output until the socket takes them.
        self.stream_holds_output = match self.stream.flush() {
            Ok(()) => false,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => true,
            Err(error) => return Err(error),
        };
        Ok(())
    }
}
