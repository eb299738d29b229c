//! Reading binary requests as memcached 1.6 reads them.
//!
//! A request is served once its header, extras and key are in, and its
//! value too for the commands that store one. Faults get memcached's reply:
//! - a first byte other than [`REQUEST_MAGIC`]: the connection closes, unanswered;
//! - a body shorter than its extras and key: `Unknown command`, then close;
//! - a key over 250 bytes, or lengths that do not fit the command (a Get
//!   with extras, a Set without them): `Invalid arguments`, then close;
//! - an opcode not served: `Unknown command`, and the packet is skipped;
//! - a value over the item size limit: `Too large.`, the value skipped
//!   unread (and, for a Set, the old item removed, as memcached does).
//!
//! The data type byte is not checked, as memcached does not check it.

use petrel_protocol::{ParseError, Parsed, Recovery};

use super::{BinaryError, HEADER_LEN, Header, Opcode, REQUEST_MAGIC, Status};
use crate::key::MAX_KEY_LEN;
use crate::request::{Limits, Request};
use crate::{Error, StoreMode};

/// A binary request: its header's fields that every reply echoes or uses,
/// and the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinaryRequest<'a> {
    /// The opcode, quiet variants included.
    pub opcode: Opcode,
    /// Echoed in the reply.
    pub opaque: u32,
    /// The CAS to compare (0: none).
    pub cas: u64,
    /// What to do.
    pub command: BinaryCommand<'a>,
}

/// What a binary request asks, by kind; [`BinaryRequest::opcode`] tells the
/// variant (GetK from Get, SetQ from Set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryCommand<'a> {
    /// Get, GetQ, GetK, GetKQ.
    Get {
        /// The key.
        key: &'a [u8],
    },
    /// Touch, Gat, GatQ, GatK, GatKQ.
    Touch {
        /// The key.
        key: &'a [u8],
        /// The new expiration time.
        exptime: u32,
    },
    /// Set, Add, Replace, Append, Prepend and their quiet variants.
    Store {
        /// How to treat an existing item.
        mode: StoreMode,
        /// The key.
        key: &'a [u8],
        /// Client flags (0 for Append and Prepend, which keep the item's).
        flags: u32,
        /// Expiration time (0 for Append and Prepend).
        exptime: u32,
        /// The value.
        value: &'a [u8],
    },
    /// A store whose value is over the size limit: refused, its value
    /// dropped unread.
    TooLarge {
        /// How the store would have treated an existing item.
        mode: StoreMode,
        /// The key.
        key: &'a [u8],
    },
    /// Delete, DeleteQ.
    Delete {
        /// The key.
        key: &'a [u8],
    },
    /// Increment, Decrement and their quiet variants.
    Arithmetic {
        /// The key.
        key: &'a [u8],
        /// The amount.
        delta: u64,
        /// The value an absent counter is created with.
        initial: u64,
        /// The created counter's expiration; [`NO_VIVIFY`](super::NO_VIVIFY): do not create.
        exptime: u32,
    },
    /// Flush, FlushQ.
    Flush {
        /// Seconds until it takes effect (0: now).
        delay: u32,
    },
    /// NoOp.
    Noop,
    /// Version.
    Version,
    /// Quit, QuitQ.
    Quit,
    /// Stat, with the group as its key (empty: the general group).
    Stat {
        /// `settings`, `items`, `detail dump`, `reset`, ...
        group: &'a [u8],
    },
}

impl BinaryCommand<'_> {
    /// The command's key, if it has one.
    pub fn key(&self) -> Option<&[u8]> {
        match *self {
            BinaryCommand::Get { key }
            | BinaryCommand::Touch { key, .. }
            | BinaryCommand::Store { key, .. }
            | BinaryCommand::TooLarge { key, .. }
            | BinaryCommand::Delete { key }
            | BinaryCommand::Arithmetic { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// Parses one binary request from the front of `input`.
pub fn parse<'a>(input: &'a [u8], limits: &Limits) -> Result<Parsed<Request<'a>>, ParseError<Error>> {
    // Checked on the first byte, without waiting for a whole header.
    if input.first().is_some_and(|&magic| magic != REQUEST_MAGIC) {
        return Err(ParseError::Invalid { error: Error::BadMagic, recovery: Recovery::Close });
    }
    let Some(head) = input.first_chunk::<HEADER_LEN>() else {
        return Err(ParseError::Incomplete);
    };
    let header = Header::read(head);
    let refuse = |status, recovery| {
        let error = Error::Binary(BinaryError { status, opcode: header.opcode, opaque: header.opaque });
        Err(ParseError::Invalid { error, recovery })
    };
    let (extras_len, key_len) = (header.extras_len as usize, header.key_len as usize);
    let Some(value_len) = header.value_len() else {
        return refuse(Status::UnknownCommand, Recovery::Close);
    };
    if key_len > MAX_KEY_LEN {
        return refuse(Status::InvalidArguments, Recovery::Close);
    }
    let packet_len = HEADER_LEN as u64 + header.body_len as u64;
    let Some(opcode) = Opcode::from_byte(header.opcode) else {
        if !sasl_lengths_fit(&header) {
            return refuse(Status::InvalidArguments, Recovery::Close);
        }
        return refuse(Status::UnknownCommand, Recovery::Skip(packet_len));
    };
    if !lengths_fit(opcode, &header) {
        return refuse(Status::InvalidArguments, Recovery::Close);
    }
    let key_end = HEADER_LEN + extras_len + key_len;
    if input.len() < key_end {
        return Err(ParseError::Incomplete);
    }
    let extras = &input[HEADER_LEN..HEADER_LEN + extras_len];
    let key = &input[HEADER_LEN + extras_len..key_end];
    let request = |command| BinaryRequest { opcode, opaque: header.opaque, cas: header.cas, command };
    let served = |command, consumed| Ok(Parsed { message: Request::Binary(request(command)), consumed });
    let command = match opcode.loud() {
        Opcode::Get | Opcode::GetK => BinaryCommand::Get { key },
        Opcode::Touch | Opcode::Gat | Opcode::GatK => {
            BinaryCommand::Touch { key, exptime: be_u32(extras, 0) }
        }
        Opcode::Delete => BinaryCommand::Delete { key },
        Opcode::Increment | Opcode::Decrement => BinaryCommand::Arithmetic {
            key,
            delta: be_u64(extras, 0),
            initial: be_u64(extras, 8),
            exptime: be_u32(extras, 16),
        },
        Opcode::Flush => BinaryCommand::Flush { delay: if extras_len == 4 { be_u32(extras, 0) } else { 0 } },
        Opcode::Noop => BinaryCommand::Noop,
        Opcode::Version => BinaryCommand::Version,
        Opcode::Quit => BinaryCommand::Quit,
        Opcode::Stat => BinaryCommand::Stat { group: key },
        store => {
            let mode = match store {
                Opcode::Set => StoreMode::Set,
                Opcode::Add => StoreMode::Add,
                Opcode::Replace => StoreMode::Replace,
                Opcode::Append => StoreMode::Append,
                _ => StoreMode::Prepend,
            };
            if value_len > limits.max_value(key_len) {
                return served(BinaryCommand::TooLarge { mode, key }, packet_len as usize);
            }
            if input.len() < packet_len as usize {
                return Err(ParseError::Incomplete);
            }
            let (flags, exptime) = match extras_len {
                8 => (be_u32(extras, 0), be_u32(extras, 4)),
                _ => (0, 0),
            };
            let value = &input[key_end..packet_len as usize];
            return served(BinaryCommand::Store { mode, key, flags, exptime, value }, packet_len as usize);
        }
    };
    // The other commands are served from header, extras and key. A body
    // longer than those (a Stat or Touch with a value) is left in the
    // stream to be read as the next request, as memcached leaves it.
    served(command, key_end)
}

/// SASL's opcodes, which memcached knows but answers `Unknown command`
/// while SASL is off, as it is here: their lengths are checked first.
fn sasl_lengths_fit(header: &Header) -> bool {
    const LIST_MECHANISMS: u8 = 0x20;
    const AUTHENTICATE: u8 = 0x21;
    const STEP: u8 = 0x22;
    match header.opcode {
        LIST_MECHANISMS => header.extras_len == 0 && header.key_len == 0 && header.body_len == 0,
        AUTHENTICATE | STEP => header.extras_len == 0 && header.key_len != 0,
        _ => true,
    }
}

/// Whether the header's lengths are what `opcode` takes, as memcached checks.
fn lengths_fit(opcode: Opcode, header: &Header) -> bool {
    let (extras, key, body) = (header.extras_len as u32, header.key_len as u32, header.body_len);
    match opcode.loud() {
        Opcode::Version | Opcode::Noop | Opcode::Quit => extras == 0 && key == 0 && body == 0,
        Opcode::Flush => key == 0 && body == extras && (extras == 0 || extras == 4),
        Opcode::Set | Opcode::Add | Opcode::Replace => extras == 8 && key != 0,
        Opcode::Get | Opcode::GetK | Opcode::Delete => extras == 0 && key != 0 && body == key,
        Opcode::Increment | Opcode::Decrement => extras == 20 && key != 0 && body == key + extras,
        Opcode::Append | Opcode::Prepend => extras == 0 && key != 0,
        Opcode::Stat => extras == 0,
        Opcode::Touch | Opcode::Gat | Opcode::GatK => extras == 4 && key != 0,
        quiet => unreachable!("{quiet:?} is folded into its loud opcode"),
    }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().expect("extras length checked"))
}

fn be_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(bytes[at..at + 8].try_into().expect("extras length checked"))
}
