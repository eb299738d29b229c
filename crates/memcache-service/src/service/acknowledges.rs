//! What a request's reply acknowledges, so that a failed commit can take
//! it back: the note a session keeps of each reply, and what it becomes.

use petrel_protocol_memcache::Request;
use petrel_protocol_memcache::binary::{BinaryCommand, BinaryRequest, Opcode};

/// The reply to a write whose commit failed, when the store gave no reason.
pub(super) const COMMIT_FAILED: &str = "storage write failed";

/// Whether a request's reply tells the client that something changed, and
/// in which protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Acknowledges {
    Nothing,
    Text,
    Binary { opcode: u8, opaque: u32 },
}

impl Acknowledges {
    /// The note a session keeps of a reply to replace if the commit fails
    /// (`IfCommitFails::Replace`); `None` when the reply stands.
    pub(super) fn note(self) -> Option<u64> {
        match self {
            Self::Nothing => None,
            Self::Text => Some(0),
            Self::Binary { opcode, opaque } => Some(1 << 40 | u64::from(opcode) << 32 | u64::from(opaque)),
        }
    }

    pub(super) fn from_note(note: u64) -> Self {
        match note >> 40 {
            0 => Self::Text,
            _ => Self::Binary { opcode: (note >> 32) as u8, opaque: note as u32 },
        }
    }
}

/// Whether `request`'s reply tells the client that something changed:
/// storage commands and deletes, arithmetic, touch and flush, unless
/// `noreply` (or a quiet binary opcode) silences them. A retrieval's reply
/// stands even when it wrote (an access time, a touch by `gat`): it carries
/// data, not an acknowledgement.
pub(super) fn acknowledges_change(request: &Request<'_>) -> Acknowledges {
    let text = |noreply: bool| if noreply { Acknowledges::Nothing } else { Acknowledges::Text };
    match request {
        Request::Store { noreply, .. }
        | Request::Delete { noreply, .. }
        | Request::Arithmetic { noreply, .. }
        | Request::Touch { noreply, .. }
        | Request::FlushAll { noreply, .. } => text(*noreply),
        Request::MetaSet { .. } | Request::MetaDelete { .. } | Request::MetaArithmetic { .. } => {
            Acknowledges::Text
        }
        Request::Binary(BinaryRequest { opcode, opaque, command, .. }) => match command {
            BinaryCommand::Store { .. }
            | BinaryCommand::Delete { .. }
            | BinaryCommand::Arithmetic { .. }
            | BinaryCommand::Flush { .. }
            | BinaryCommand::Touch { .. }
                if !opcode.quiet() && !matches!(opcode, Opcode::Gat | Opcode::GatK) =>
            {
                Acknowledges::Binary { opcode: *opcode as u8, opaque: *opaque }
            }
            _ => Acknowledges::Nothing,
        },
        _ => Acknowledges::Nothing,
    }
}
