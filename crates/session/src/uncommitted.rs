//! The replies composed since the last commit, and what each becomes if
//! that commit fails: a failed commit costs the requests that wrote an
//! error reply each (as the service chooses), not the connection.

use std::ops::Range;

use petrel_protocol::IfCommitFails;

use crate::WriteBuffer;

/// Past this many bytes of prepared replacements, the buffer is freed once
/// the commit succeeds, so an idle connection holds nothing.
const KEPT_CAPACITY: usize = 1024;

#[derive(Debug, Default)]
pub(crate) struct Uncommitted {
    /// Replies to replace if the commit fails: where each is among the
    /// write buffer's unsent bytes, and where its replacement is in
    /// `replacements`.
    replaced: Vec<(Range<usize>, Range<usize>)>,
    replacements: Vec<u8>,
    /// A reply that cannot be replaced was composed: a failed commit closes
    /// the connection.
    close: bool,
}

impl Uncommitted {
    /// Notes what becomes of `reply` (a range of the write buffer's unsent
    /// bytes) if the commit fails, composing a replacement with `compose`.
    pub(crate) fn note<R>(
        &mut self,
        reply: Range<usize>,
        fate: IfCommitFails<R>,
        compose: impl FnOnce(&R, &mut Vec<u8>),
    ) {
        match fate {
            IfCommitFails::ReplyStands => {}
            IfCommitFails::Close => self.close = true,
            IfCommitFails::Reply(instead) => {
                let start = self.replacements.len();
                compose(&instead, &mut self.replacements);
                self.replaced.push((reply, start..self.replacements.len()));
            }
        }
    }

    /// The commit succeeded: every reply stands.
    pub(crate) fn committed(&mut self) {
        self.replaced.clear();
        self.close = false;
        if self.replacements.capacity() > KEPT_CAPACITY {
            self.replacements = Vec::new();
            self.replaced = Vec::new();
        } else {
            self.replacements.clear();
        }
    }

    /// The commit failed: replaces the noted replies in `write`. False when
    /// a reply cannot be replaced, and the connection must close.
    pub(crate) fn withdraw(&mut self, write: &mut WriteBuffer) -> bool {
        if self.close {
            return false;
        }
        if !self.replaced.is_empty() {
            let unsent = write.bytes();
            let mut rewritten = Vec::with_capacity(unsent.len() + self.replacements.len());
            let mut copied = 0;
            for (reply, replacement) in &self.replaced {
                rewritten.extend_from_slice(&unsent[copied..reply.start]);
                rewritten.extend_from_slice(&self.replacements[replacement.clone()]);
                copied = reply.end;
            }
            rewritten.extend_from_slice(&unsent[copied..]);
            write.replace_unsent(rewritten);
        }
        self.committed();
        true
    }
}
