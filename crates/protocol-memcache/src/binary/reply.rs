//! The server's binary replies, composed straight into the write buffer.

use petrel_protocol::Flow;
use petrel_protocol::line::{lines, split_word};

use super::{HEADER_LEN, Header, Opcode, RESPONSE_MAGIC, Status};

/// A reply to a binary request: what it echoes, and what it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinaryResponse<'a> {
    /// The request's opcode byte.
    pub opcode: u8,
    /// The request's opaque.
    pub opaque: u32,
    /// What it says.
    pub reply: BinaryReply<'a>,
}

/// What a binary reply says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryReply<'a> {
    /// A hit: the flags as extras, the key if asked for, the value (none
    /// for Touch).
    Item {
        /// Client flags.
        flags: u32,
        /// The item's CAS.
        cas: u64,
        /// The key, for GetK and GatK.
        key: Option<&'a [u8]>,
        /// The value.
        value: &'a [u8],
    },
    /// Success with nothing to say but a CAS (stores, deletes, flush, noop).
    Done {
        /// The new item's CAS; 0 where there is none.
        cas: u64,
    },
    /// A counter's new value, 8 bytes big-endian.
    Counter {
        /// The value.
        value: u64,
        /// The item's CAS.
        cas: u64,
    },
    /// The server's version, as the value.
    Version(&'a str),
    /// `STAT <name> <value>` lines, sent one packet each (name as key,
    /// value as value), then an empty packet that ends the list.
    Stats(&'a [u8]),
    /// A miss: `Not found`, or for GetK and GatK the key and no message.
    Miss {
        /// The key, for GetK and GatK.
        key: Option<&'a [u8]>,
    },
    /// An error, with memcached's message for it.
    Error(Status),
    /// An error with a message of its own (why the store failed).
    Failed {
        /// The status.
        status: Status,
        /// The message.
        message: &'a str,
    },
    /// Nothing: a quiet command's success, or a quiet retrieval's miss.
    Silent,
    /// Quit: success (nothing for QuitQ), then close.
    Quit,
}

impl BinaryResponse<'_> {
    /// Appends the reply's packets to `out`.
    pub fn compose(&self, out: &mut Vec<u8>) -> Flow {
        let header = |status: Status, extras_len: u8, key_len: usize, body_len: usize, cas: u64| Header {
            magic: RESPONSE_MAGIC,
            opcode: self.opcode,
            key_len: key_len as u16,
            extras_len,
            data_type: 0,
            status: status as u16,
            body_len: body_len as u32,
            opaque: self.opaque,
            cas,
        };
        match self.reply {
            BinaryReply::Item { flags, cas, key, value } => {
                let key = key.unwrap_or_default();
                out.reserve(HEADER_LEN + 4 + key.len() + value.len());
                header(Status::Ok, 4, key.len(), 4 + key.len() + value.len(), cas).write(out);
                out.extend_from_slice(&flags.to_be_bytes());
                out.extend_from_slice(key);
                out.extend_from_slice(value);
            }
            BinaryReply::Done { cas } => header(Status::Ok, 0, 0, 0, cas).write(out),
            BinaryReply::Counter { value, cas } => {
                header(Status::Ok, 0, 0, 8, cas).write(out);
                out.extend_from_slice(&value.to_be_bytes());
            }
            BinaryReply::Version(version) => {
                header(Status::Ok, 0, 0, version.len(), 0).write(out);
                out.extend_from_slice(version.as_bytes());
            }
            BinaryReply::Stats(lines) => {
                for (name, value) in stat_lines(lines) {
                    header(Status::Ok, 0, name.len(), name.len() + value.len(), 0).write(out);
                    out.extend_from_slice(name);
                    out.extend_from_slice(value);
                }
                header(Status::Ok, 0, 0, 0, 0).write(out);
            }
            BinaryReply::Miss { key: Some(key) } => {
                header(Status::KeyNotFound, 0, key.len(), key.len(), 0).write(out);
                out.extend_from_slice(key);
            }
            BinaryReply::Miss { key: None } => compose_error(
                self.opcode,
                self.opaque,
                Status::KeyNotFound,
                Status::KeyNotFound.message(),
                out,
            ),
            BinaryReply::Error(status) => {
                compose_error(self.opcode, self.opaque, status, status.message(), out)
            }
            BinaryReply::Failed { status, message } => {
                compose_error(self.opcode, self.opaque, status, message, out)
            }
            BinaryReply::Silent => {}
            BinaryReply::Quit => {
                if self.opcode != Opcode::QuitQ as u8 {
                    header(Status::Ok, 0, 0, 0, 0).write(out);
                }
                return Flow::Close;
            }
        }
        Flow::Continue
    }
}

/// Appends an error packet: `status`, and `message` as its value.
pub(super) fn compose_error(opcode: u8, opaque: u32, status: Status, message: &str, out: &mut Vec<u8>) {
    Header {
        magic: RESPONSE_MAGIC,
        opcode,
        status: status as u16,
        body_len: message.len() as u32,
        opaque,
        ..Header::default()
    }
    .write(out);
    out.extend_from_slice(message.as_bytes());
}

/// The (name, value) pairs of `STAT <name> <value>\r\n` lines.
fn stat_lines(text: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    lines(text).filter_map(|line| Some(split_word(line.strip_prefix(b"STAT ")?)))
}
