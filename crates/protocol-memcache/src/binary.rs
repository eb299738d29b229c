//! memcached's binary protocol, on the same port as the text protocol: a
//! connection whose first byte is [`REQUEST_MAGIC`] speaks it to the end.
//!
//! Every packet is a 24-byte [`Header`], then extras, key and value, their
//! lengths in the header:
//!
//! ```text
//!  0      1       2..4     4        5         6..8     8..12   12..16  16..24
//! magic  opcode  key len  extras   data type  status*  body    opaque  CAS
//!                         len                          len
//! ```
//! (*a request's two bytes there are reserved; a response's are its status).
//!
//! - `parse.rs` reads requests ([`BinaryRequest`]) as memcached 1.6 does:
//!   the same length checks, the same replies to faults, quiet variants.
//! - `reply.rs` composes the server's replies ([`BinaryResponse`]).
//! - `client.rs` is the other side, for clients, tools and tests: requests
//!   composed ([`BinaryRequest::compose`]), replies parsed ([`Packet`]).
//!
//! `petrel-memcache-service` serves the commands through the same fetch and
//! store paths as the text and meta commands, so the protocols cannot
//! disagree about an item.

mod client;
mod parse;
mod reply;

pub use client::{Packet, parse_packet};
pub use parse::{BinaryCommand, BinaryRequest, parse};
pub use reply::{BinaryReply, BinaryResponse};

/// The first byte of every request.
pub const REQUEST_MAGIC: u8 = 0x80;
/// The first byte of every response.
pub const RESPONSE_MAGIC: u8 = 0x81;
/// The length of a header.
pub const HEADER_LEN: usize = 24;
/// The expiration an increment or decrement carries to say "do not create
/// an absent counter".
pub const NO_VIVIFY: u32 = 0xffff_ffff;

/// The 24-byte header of a request or response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Header {
    /// [`REQUEST_MAGIC`] or [`RESPONSE_MAGIC`].
    pub magic: u8,
    /// The command (see [`Opcode`]); a response echoes the request's.
    pub opcode: u8,
    /// Length of the key.
    pub key_len: u16,
    /// Length of the extras.
    pub extras_len: u8,
    /// Data type: 0, raw bytes, the only one defined.
    pub data_type: u8,
    /// A response's [`Status`]; reserved (a vbucket id) in a request.
    pub status: u16,
    /// Length of extras, key and value together.
    pub body_len: u32,
    /// Anything the client likes, echoed in the response.
    pub opaque: u32,
    /// A CAS value: to compare in a request, the item's in a response.
    pub cas: u64,
}

impl Header {
    /// Reads a header from the first [`HEADER_LEN`] bytes of `bytes`.
    pub fn read(bytes: &[u8; HEADER_LEN]) -> Self {
        let u16_at = |at: usize| u16::from_be_bytes([bytes[at], bytes[at + 1]]);
        let u32_at = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        Header {
            magic: bytes[0],
            opcode: bytes[1],
            key_len: u16_at(2),
            extras_len: bytes[4],
            data_type: bytes[5],
            status: u16_at(6),
            body_len: u32_at(8),
            // The opaque is the client's bytes, echoed as they came.
            opaque: u32::from_ne_bytes(bytes[12..16].try_into().expect("4 bytes")),
            cas: u64::from_be_bytes(bytes[16..24].try_into().expect("8 bytes")),
        }
    }

    /// Appends the header's wire form.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(self.magic);
        out.push(self.opcode);
        out.extend_from_slice(&self.key_len.to_be_bytes());
        out.push(self.extras_len);
        out.push(self.data_type);
        out.extend_from_slice(&self.status.to_be_bytes());
        out.extend_from_slice(&self.body_len.to_be_bytes());
        out.extend_from_slice(&self.opaque.to_ne_bytes());
        out.extend_from_slice(&self.cas.to_be_bytes());
    }

    /// The value's length: what the body holds after extras and key.
    pub fn value_len(&self) -> Option<usize> {
        (self.body_len as usize).checked_sub(self.extras_len as usize + self.key_len as usize)
    }
}

macro_rules! opcodes {
    ($($name:ident = $code:literal, $doc:literal;)*) => {
        /// The commands memcached 1.6 serves over the binary protocol.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Opcode {
            $(#[doc = $doc] $name = $code,)*
        }

        impl Opcode {
            /// Every opcode, for tests and tools.
            pub const ALL: &[Opcode] = &[$(Opcode::$name,)*];

            /// The opcode of a byte, if it is one served.
            pub fn from_byte(byte: u8) -> Option<Opcode> {
                match byte {
                    $($code => Some(Opcode::$name),)*
                    _ => None,
                }
            }
        }
    };
}

opcodes! {
    Get = 0x00, "Get: flags and value, or key not found.";
    Set = 0x01, "Set: store whatever is there (with a CAS: only over that version).";
    Add = 0x02, "Add: store only if absent.";
    Replace = 0x03, "Replace: store only if present.";
    Delete = 0x04, "Delete.";
    Increment = 0x05, "Increment a counter, creating an absent one unless told not to.";
    Decrement = 0x06, "Decrement a counter, stopping at zero.";
    Quit = 0x07, "Reply, then close.";
    Flush = 0x08, "Invalidate every item, now or after a delay.";
    GetQ = 0x09, "Get, silent on a miss.";
    Noop = 0x0a, "Nothing; its reply ends a pipeline of quiet commands.";
    Version = 0x0b, "The server's version.";
    GetK = 0x0c, "Get, with the key in the reply.";
    GetKQ = 0x0d, "GetK, silent on a miss.";
    Append = 0x0e, "Add data after a present value.";
    Prepend = 0x0f, "Add data before a present value.";
    Stat = 0x10, "Statistics, one packet each, then an empty one.";
    SetQ = 0x11, "Set, silent on success.";
    AddQ = 0x12, "Add, silent on success.";
    ReplaceQ = 0x13, "Replace, silent on success.";
    DeleteQ = 0x14, "Delete, silent on success.";
    IncrementQ = 0x15, "Increment, silent on success.";
    DecrementQ = 0x16, "Decrement, silent on success.";
    QuitQ = 0x17, "Close without a reply.";
    FlushQ = 0x18, "Flush, silent on success.";
    AppendQ = 0x19, "Append, silent on success.";
    PrependQ = 0x1a, "Prepend, silent on success.";
    Touch = 0x1c, "Set an item's expiration; flags in the reply.";
    Gat = 0x1d, "Get and touch.";
    GatQ = 0x1e, "Get and touch, silent on a miss.";
    GatK = 0x23, "Get and touch, with the key in the reply.";
    GatKQ = 0x24, "GatK, silent on a miss.";
}

impl Opcode {
    /// Whether the opcode is a quiet variant: its success (or, for the
    /// retrievals, its miss) gets no reply.
    pub fn quiet(self) -> bool {
        matches!(
            self,
            Opcode::GetQ
                | Opcode::GetKQ
                | Opcode::SetQ
                | Opcode::AddQ
                | Opcode::ReplaceQ
                | Opcode::DeleteQ
                | Opcode::IncrementQ
                | Opcode::DecrementQ
                | Opcode::QuitQ
                | Opcode::FlushQ
                | Opcode::AppendQ
                | Opcode::PrependQ
                | Opcode::GatQ
                | Opcode::GatKQ
        )
    }

    /// The command with the quiet variant folded into the loud one.
    pub fn loud(self) -> Opcode {
        match self {
            Opcode::GetQ => Opcode::Get,
            Opcode::GetKQ => Opcode::GetK,
            Opcode::SetQ => Opcode::Set,
            Opcode::AddQ => Opcode::Add,
            Opcode::ReplaceQ => Opcode::Replace,
            Opcode::DeleteQ => Opcode::Delete,
            Opcode::IncrementQ => Opcode::Increment,
            Opcode::DecrementQ => Opcode::Decrement,
            Opcode::QuitQ => Opcode::Quit,
            Opcode::FlushQ => Opcode::Flush,
            Opcode::AppendQ => Opcode::Append,
            Opcode::PrependQ => Opcode::Prepend,
            Opcode::GatQ => Opcode::Gat,
            Opcode::GatKQ => Opcode::GatK,
            loud => loud,
        }
    }

    /// Whether a hit's reply carries the key (GetK, GatK and their quiet
    /// variants).
    pub fn returns_key(self) -> bool {
        matches!(self.loud(), Opcode::GetK | Opcode::GatK)
    }
}

/// A response's status, with memcached's message for each error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Status {
    /// Success.
    Ok = 0x0000,
    /// No such item (or a CAS given for an absent one).
    KeyNotFound = 0x0001,
    /// The CAS did not match, or an add found the key present.
    KeyExists = 0x0002,
    /// A value over the item size limit; its data was skipped.
    ValueTooLarge = 0x0003,
    /// A request whose lengths do not fit its command; the connection closes.
    InvalidArguments = 0x0004,
    /// An append or prepend to an absent item.
    NotStored = 0x0005,
    /// An increment or decrement of a value that is not a number.
    NonNumeric = 0x0006,
    /// An opcode not served.
    UnknownCommand = 0x0081,
    /// The store failed.
    OutOfMemory = 0x0082,
}

impl Status {
    /// memcached's message for the status, sent as the error reply's value.
    pub fn message(self) -> &'static str {
        match self {
            Status::Ok => "",
            Status::KeyNotFound => "Not found",
            Status::KeyExists => "Data exists for key.",
            Status::ValueTooLarge => "Too large.",
            Status::InvalidArguments => "Invalid arguments",
            Status::NotStored => "Not stored.",
            Status::NonNumeric => "Non-numeric server-side value for incr or decr",
            Status::UnknownCommand => "Unknown command",
            Status::OutOfMemory => "Out of memory",
        }
    }

    /// The status of a code, if it is one defined.
    pub fn from_code(code: u16) -> Option<Status> {
        [
            Status::Ok,
            Status::KeyNotFound,
            Status::KeyExists,
            Status::ValueTooLarge,
            Status::InvalidArguments,
            Status::NotStored,
            Status::NonNumeric,
            Status::UnknownCommand,
            Status::OutOfMemory,
        ]
        .into_iter()
        .find(|status| *status as u16 == code)
    }
}

/// A request refused before it reached the store, with what the reply needs
/// to echo: memcached's error packet (see [`crate::Error::Binary`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinaryError {
    /// Why.
    pub status: Status,
    /// The request's opcode byte, echoed.
    pub opcode: u8,
    /// The request's opaque, echoed.
    pub opaque: u32,
}

impl BinaryError {
    /// Appends the error packet: the status and its message.
    pub fn compose(&self, out: &mut Vec<u8>) {
        reply::compose_error(self.opcode, self.opaque, self.status, self.status.message(), out);
    }
}
