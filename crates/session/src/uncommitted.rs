//! The replies composed since the last commit, and what each becomes if
//! that commit fails: a failed commit costs the requests that wrote an
//! error reply each (as the service chooses), not the connection.

use std::ops::Range;

use petrel_protocol::IfCommitFails;

use crate::WriteBuffer;

/// Past this many noted replies, the list is freed once the commit
/// succeeds, so an idle connection holds nothing.
const KEPT_CAPACITY: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct Uncommitted {
    /// Replies to replace if the commit fails: where each is among the
    /// write buffer's unsent bytes, and the service's note for composing
    /// its replacement.
    replaced: Vec<(Range<usize>, u64)>,
    /// A reply that cannot be replaced was composed: a failed commit closes
    /// the connection.
    close: bool,
}

impl Uncommitted {
    /// Notes what becomes of `reply` (a range of the write buffer's unsent
    /// bytes) if the commit fails.
    pub(crate) fn note(&mut self, reply: Range<usize>, fate: IfCommitFails) {
        match fate {
            IfCommitFails::ReplyStands => {}
            IfCommitFails::Close => self.close = true,
            IfCommitFails::Replace(note) => self.replaced.push((reply, note)),
        }
    }

    /// The commit succeeded: every reply stands.
    pub(crate) fn committed(&mut self) {
        self.close = false;
        if self.replaced.capacity() > KEPT_CAPACITY {
            self.replaced = Vec::new();
        } else {
            self.replaced.clear();
        }
    }

    /// The commit failed: replaces the noted replies in `write` with what
    /// `compose` makes of their notes (false: that reply cannot be
    /// replaced). False when a reply cannot be replaced, and the
    /// connection must close.
    pub(crate) fn withdraw(
        &mut self,
        write: &mut WriteBuffer,
        mut compose: impl FnMut(u64, &mut Vec<u8>) -> bool,
    ) -> bool {
        if self.close {
            return false;
        }
        if !self.replaced.is_empty() {
            let unsent = write.bytes();
            let mut rewritten = Vec::with_capacity(unsent.len());
            let mut copied = 0;
            for &(ref reply, note) in &self.replaced {
                rewritten.extend_from_slice(&unsent[copied..reply.start]);
                if !compose(note, &mut rewritten) {
                    return false;
                }
                copied = reply.end;
            }
            rewritten.extend_from_slice(&unsent[copied..]);
            write.replace_unsent(rewritten);
        }
        self.committed();
        true
    }
}
