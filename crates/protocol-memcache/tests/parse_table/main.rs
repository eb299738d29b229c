//! Request bytes → parsed request, and request bytes → error reply, for
//! every command, flag and error string of the protocol: the commands in
//! `commands.rs`, the errors and limits in `errors.rs`.

use petrel_protocol::{ParseError, Parsed, Protocol, Recovery};
use petrel_protocol_memcache::{
    ArithmeticMode, ConnectionState, Error, ITEM_OVERHEAD, Key, Keys, Limits, Memcache, MetaCommand,
    MetaFlags, Request, Return, StoreCommand, StoreMode,
};

pub(crate) fn parse(input: &[u8]) -> Result<Parsed<Request<'_>>, ParseError<Error>> {
    Memcache::default().parse(&mut ConnectionState::default(), input)
}

pub(crate) fn parsed(input: &[u8]) -> Request<'_> {
    let parsed = parse(input).unwrap_or_else(|e| panic!("{:?}: {e:?}", String::from_utf8_lossy(input)));
    assert_eq!(parsed.consumed, input.len(), "{:?}", String::from_utf8_lossy(input));
    parsed.message
}

pub(crate) fn rejected(input: &[u8]) -> (Error, Recovery) {
    match parse(input) {
        Err(ParseError::Invalid { error, recovery }) => (error, recovery),
        other => panic!("{:?} was not rejected: {other:?}", String::from_utf8_lossy(input)),
    }
}

pub(crate) fn keys(text: &[u8]) -> Keys<'_> {
    Keys::parse(text).unwrap()
}

mod commands;
mod errors;
