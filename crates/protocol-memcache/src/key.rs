//! Keys: validation, and decoding of base64 keys in meta commands.

use std::fmt;
use std::ops::Deref;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::Error;

/// The longest key memcached accepts, in bytes.
pub const MAX_KEY_LEN: usize = 250;

/// A key, borrowed from the request, or decoded from base64 into the request
/// itself (no allocation either way).
// The decoded variant is large on purpose: decoding into the request keeps
// base64 keys off the heap, and a request lives only while it is served.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy)]
pub enum Key<'a> {
    /// The key as sent.
    Plain(&'a [u8]),
    /// A key sent base64-encoded (meta flag `b`), decoded.
    Decoded(DecodedKey),
}

/// Storage for a decoded base64 key.
#[derive(Clone, Copy)]
pub struct DecodedKey {
    len: u8,
    bytes: [u8; MAX_KEY_LEN],
}

impl<'a> Key<'a> {
    /// Validates a key as sent in a text command: 1 to 250 bytes without a
    /// space. Like memcached, any other byte is accepted, control bytes
    /// included (memaslap's keys begin with them).
    pub fn parse(token: &'a [u8]) -> Result<Self, Error> {
        if is_valid(token) { Ok(Key::Plain(token)) } else { Err(Error::BadCommandLine) }
    }

    /// Decodes a base64 key (meta flag `b`). Decoded keys may hold any bytes.
    pub fn decode_base64(token: &[u8]) -> Result<Self, Error> {
        let mut bytes = [0u8; MAX_KEY_LEN];
        if token.is_empty() || base64::decoded_len_estimate(token.len()) > MAX_KEY_LEN + 2 {
            return Err(Error::BadCommandLine);
        }
        let len = BASE64.decode_slice(token, &mut bytes).map_err(|_| Error::BadKeyEncoding)?;
        if len == 0 {
            return Err(Error::BadKeyEncoding);
        }
        Ok(Key::Decoded(DecodedKey { len: len as u8, bytes }))
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Plain(bytes) => bytes,
            Key::Decoded(key) => &key.bytes[..key.len as usize],
        }
    }

    /// Whether the key came base64-encoded.
    pub fn is_base64(&self) -> bool {
        matches!(self, Key::Decoded(_))
    }
}

/// Percent-encodes all but letters, digits and `-._~`, as memcached does
/// in dumps and logs: `emit` gets each byte kept or its `%XX`.
pub fn percent_encode(key: &[u8], mut emit: impl FnMut(&[u8])) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in key {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            emit(&[byte]);
        } else {
            emit(&[b'%', HEX[(byte >> 4) as usize], HEX[(byte & 15) as usize]]);
        }
    }
}

/// Appends `key` base64-encoded.
pub fn encode_base64(key: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + base64::encoded_len(key.len(), true).unwrap_or(0), 0);
    let written = BASE64.encode_slice(key, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
}

/// 1 to 250 bytes, none of them a space or a line end: the keys memcached's
/// text protocol accepts.
pub fn is_valid(key: &[u8]) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && !key.iter().any(|&b| b == b' ' || b == b'\n')
}

impl Deref for Key<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for Key<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes() && self.is_base64() == other.is_base64()
    }
}

impl Eq for Key<'_> {}

impl fmt::Debug for Key<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = if self.is_base64() { "b64:" } else { "" };
        write!(f, "{prefix}{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// The keys of a multi-key retrieval, kept as the text they arrived in and
/// split on demand, so parsing a `get` of many keys allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Keys<'a> {
    text: &'a [u8],
}

impl<'a> Keys<'a> {
    /// No keys (`gat` with none answers an empty list).
    pub const NONE: Keys<'static> = Keys { text: &[] };

    /// Validates space-separated keys; at least one.
    pub fn parse(text: &'a [u8]) -> Result<Self, Error> {
        let keys = Self { text };
        let mut count = 0;
        for key in keys.iter() {
            if !is_valid(key) {
                return Err(Error::BadCommandLine);
            }
            count += 1;
        }
        if count == 0 {
            return Err(Error::UnknownCommand);
        }
        Ok(keys)
    }

    /// The keys, in request order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.text.split(|&b| b == b' ').filter(|key| !key.is_empty())
    }

    /// The keys as sent, separated by spaces.
    pub fn as_text(&self) -> &'a [u8] {
        self.text
    }
}

impl fmt::Debug for Keys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(String::from_utf8_lossy)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rules() {
        assert!(is_valid(b"a"));
        assert!(is_valid(&[b'k'; 250]));
        assert!(!is_valid(&[b'k'; 251]));
        assert!(!is_valid(b""));
        assert!(!is_valid(b"a b"));
        assert!(is_valid(b"\x10\x10abc"));
        assert!(is_valid(b"a\x7f"));
        assert!(is_valid("ключ".as_bytes()));
    }

    #[test]
    fn base64_keys_decode_and_encode_back() {
        let key = Key::decode_base64(b"Zm9vAGJhcg==").unwrap();
        assert_eq!(key.as_bytes(), b"foo\0bar");
        let mut out = Vec::new();
        encode_base64(key.as_bytes(), &mut out);
        assert_eq!(out, b"Zm9vAGJhcg==");
        assert_eq!(Key::decode_base64(b"!!").unwrap_err(), Error::BadKeyEncoding);
    }

    #[test]
    fn multi_keys() {
        let keys = Keys::parse(b"a  b c").unwrap();
        assert_eq!(keys.iter().collect::<Vec<_>>(), vec![&b"a"[..], b"b", b"c"]);
        assert_eq!(Keys::parse(b"").unwrap_err(), Error::UnknownCommand);
        assert_eq!(Keys::parse(&[b'x'; 251]).unwrap_err(), Error::BadCommandLine);
    }
}
