//! The client's side of the binary protocol: requests composed, replies
//! parsed into their parts.

use petrel_protocol::{ParseError, Parsed, Recovery};

use super::{BinaryCommand, BinaryRequest, HEADER_LEN, Header, REQUEST_MAGIC, RESPONSE_MAGIC, Status};
use crate::Error;

/// A packet split into its parts, borrowing from the buffer it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The header.
    pub header: Header,
    /// The extras (a hit's flags, ...).
    pub extras: &'a [u8],
    /// The key.
    pub key: &'a [u8],
    /// The value (an error's message, a counter's 8 bytes, ...).
    pub value: &'a [u8],
}

impl Packet<'_> {
    /// A response's status; `None` for a code memcached does not define.
    pub fn status(&self) -> Option<Status> {
        Status::from_code(self.header.status)
    }

    /// A hit's flags, from its extras.
    pub fn flags(&self) -> Option<u32> {
        Some(u32::from_be_bytes(self.extras.get(..4)?.try_into().ok()?))
    }
}

/// Parses a whole packet (a reply, with [`RESPONSE_MAGIC`]) from the front
/// of `input`. Incomplete until all of its body is there; a first byte that
/// is no magic, or a body shorter than its extras and key, is invalid, and
/// the stream cannot be read further.
pub fn parse_packet(input: &[u8]) -> Result<Parsed<Packet<'_>>, ParseError<Error>> {
    let Some(head) = input.first_chunk::<HEADER_LEN>() else {
        return Err(ParseError::Incomplete);
    };
    let header = Header::read(head);
    let invalid = || ParseError::Invalid { error: Error::BadMagic, recovery: Recovery::Close };
    if header.magic != RESPONSE_MAGIC && header.magic != REQUEST_MAGIC {
        return Err(invalid());
    }
    header.value_len().ok_or_else(invalid)?;
    let end = HEADER_LEN + header.body_len as usize;
    if input.len() < end {
        return Err(ParseError::Incomplete);
    }
    let key_start = HEADER_LEN + header.extras_len as usize;
    let value_start = key_start + header.key_len as usize;
    let packet = Packet {
        header,
        extras: &input[HEADER_LEN..key_start],
        key: &input[key_start..value_start],
        value: &input[value_start..end],
    };
    Ok(Parsed { message: packet, consumed: end })
}

impl BinaryRequest<'_> {
    /// Appends the request's wire form (client side); nothing for
    /// [`BinaryCommand::TooLarge`], whose value was never read.
    pub fn compose(&self, out: &mut Vec<u8>) {
        let mut extras = [0u8; 20];
        let (extras_len, key, value): (usize, &[u8], &[u8]) = match self.command {
            BinaryCommand::Get { key } | BinaryCommand::Delete { key } => (0, key, &[]),
            BinaryCommand::Touch { key, exptime } => {
                extras[..4].copy_from_slice(&exptime.to_be_bytes());
                (4, key, &[])
            }
            BinaryCommand::Store { mode, key, flags, exptime, value } => {
                if matches!(mode, crate::StoreMode::Append | crate::StoreMode::Prepend) {
                    (0, key, value)
                } else {
                    extras[..4].copy_from_slice(&flags.to_be_bytes());
                    extras[4..8].copy_from_slice(&exptime.to_be_bytes());
                    (8, key, value)
                }
            }
            BinaryCommand::TooLarge { .. } => return,
            BinaryCommand::Arithmetic { key, delta, initial, exptime } => {
                extras[..8].copy_from_slice(&delta.to_be_bytes());
                extras[8..16].copy_from_slice(&initial.to_be_bytes());
                extras[16..].copy_from_slice(&exptime.to_be_bytes());
                (20, key, &[])
            }
            BinaryCommand::Flush { delay: 0 } => (0, &[], &[]),
            BinaryCommand::Flush { delay } => {
                extras[..4].copy_from_slice(&delay.to_be_bytes());
                (4, &[], &[])
            }
            BinaryCommand::Noop | BinaryCommand::Version | BinaryCommand::Quit => (0, &[], &[]),
            BinaryCommand::Stat { group } => (0, group, &[]),
        };
        Header {
            magic: REQUEST_MAGIC,
            opcode: self.opcode as u8,
            key_len: key.len() as u16,
            extras_len: extras_len as u8,
            data_type: 0,
            status: 0,
            body_len: (extras_len + key.len() + value.len()) as u32,
            opaque: self.opaque,
            cas: self.cas,
        }
        .write(out);
        out.extend_from_slice(&extras[..extras_len]);
        out.extend_from_slice(key);
        out.extend_from_slice(value);
    }
}
