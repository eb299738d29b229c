//! Requests: parsed from the server's read buffer, composed by clients.

use memchr::memchr;
use petrel_protocol::{ParseError, Parsed, Recovery};

use crate::Error;
use crate::key::{Key, Keys, encode_base64};
use crate::meta::{MetaCommand, MetaFlags, tokens};
use crate::number::{parse_i64, parse_u32, parse_u64, write_i64, write_u64};

/// Size limits that keep a server safe from what a client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest value accepted, in bytes (memcached's default item size, 1 MiB).
    pub max_value: usize,
    /// Longest command line, in bytes; a longer one closes the connection.
    pub max_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_value: 1 << 20, max_line: 16 << 10 }
    }
}

/// The six storage commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreCommand {
    /// `set`
    Set,
    /// `add`
    Add,
    /// `replace`
    Replace,
    /// `append`
    Append,
    /// `prepend`
    Prepend,
    /// `cas`
    Cas,
}

impl StoreCommand {
    /// The command's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            StoreCommand::Set => "set",
            StoreCommand::Add => "add",
            StoreCommand::Replace => "replace",
            StoreCommand::Append => "append",
            StoreCommand::Prepend => "prepend",
            StoreCommand::Cas => "cas",
        }
    }
}

/// A memcache request, borrowing keys and values from the read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// `get`/`gets <key>*`; `cas` for `gets`.
    Get {
        /// The keys.
        keys: Keys<'a>,
        /// Whether CAS values are returned (`gets`).
        cas: bool,
    },
    /// `gat`/`gats <exptime> <key>*`.
    GetAndTouch {
        /// New expiration time.
        exptime: i64,
        /// The keys.
        keys: Keys<'a>,
        /// Whether CAS values are returned (`gats`).
        cas: bool,
    },
    /// `set add replace append prepend cas`.
    Store {
        /// Which of the six.
        command: StoreCommand,
        /// The key.
        key: &'a [u8],
        /// Client flags, stored and returned opaque.
        flags: u32,
        /// Expiration time.
        exptime: i64,
        /// The data block.
        value: &'a [u8],
        /// The CAS value to compare (`cas` only).
        cas: u64,
        /// No reply wanted.
        noreply: bool,
    },
    /// `delete <key> [noreply]`.
    Delete {
        /// The key.
        key: &'a [u8],
        /// No reply wanted.
        noreply: bool,
    },
    /// `incr`/`decr <key> <delta> [noreply]`.
    Arithmetic {
        /// The key.
        key: &'a [u8],
        /// Amount to add or subtract.
        delta: u64,
        /// `incr` (true) or `decr`.
        increment: bool,
        /// No reply wanted.
        noreply: bool,
    },
    /// `touch <key> <exptime> [noreply]`.
    Touch {
        /// The key.
        key: &'a [u8],
        /// New expiration time.
        exptime: i64,
        /// No reply wanted.
        noreply: bool,
    },
    /// `flush_all [delay] [noreply]`.
    FlushAll {
        /// Seconds until the flush takes effect (0: now).
        delay: i64,
        /// No reply wanted.
        noreply: bool,
    },
    /// `version`.
    Version,
    /// `verbosity <level> [noreply]`.
    Verbosity {
        /// The level asked for.
        level: u32,
        /// No reply wanted.
        noreply: bool,
    },
    /// `stats [group]`.
    Stats {
        /// `stats settings`, `stats items`, ...; `None` for the general group.
        group: Option<&'a [u8]>,
    },
    /// `quit`.
    Quit,
    /// `mg <key> <flags>*`.
    MetaGet {
        /// The key.
        key: Key<'a>,
        /// The flags.
        flags: MetaFlags<'a>,
    },
    /// `ms <key> <datalen> <flags>*` and its data block.
    MetaSet {
        /// The key.
        key: Key<'a>,
        /// The flags.
        flags: MetaFlags<'a>,
        /// The data block.
        value: &'a [u8],
    },
    /// `md <key> <flags>*`.
    MetaDelete {
        /// The key.
        key: Key<'a>,
        /// The flags.
        flags: MetaFlags<'a>,
    },
    /// `ma <key> <flags>*`.
    MetaArithmetic {
        /// The key.
        key: Key<'a>,
        /// The flags.
        flags: MetaFlags<'a>,
    },
    /// `me <key> [b]`.
    MetaDebug {
        /// The key.
        key: Key<'a>,
        /// The flags (only `b`).
        flags: MetaFlags<'a>,
    },
    /// `mn`.
    MetaNoop,
}

/// A request parsed from the front of a buffer, or why not.
pub type ParseResult<'a> = Result<Parsed<Request<'a>>, ParseError<Error>>;

/// Parses one request from the front of `input`.
pub fn parse<'a>(input: &'a [u8], limits: &Limits) -> ParseResult<'a> {
    let window = &input[..input.len().min(limits.max_line)];
    let Some(newline) = memchr(b'\n', window) else {
        return Err(if input.len() >= limits.max_line {
            ParseError::Invalid { error: Error::LineTooLong, recovery: Recovery::Close }
        } else {
            ParseError::Incomplete
        });
    };
    let line_len = newline + 1;
    let line = &input[..newline];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let rejected = |error| ParseError::Invalid { error, recovery: Recovery::Skip(line_len as u64) };

    let (command, rest) = split_token(line);
    let request = match command {
        b"get" => Request::Get { keys: Keys::parse(rest).map_err(rejected)?, cas: false },
        b"gets" => Request::Get { keys: Keys::parse(rest).map_err(rejected)?, cas: true },
        b"gat" | b"gats" => {
            let (exptime, keys) = split_token(rest);
            if exptime.is_empty() {
                return Err(rejected(Error::UnknownCommand));
            }
            let exptime = parse_i64(exptime).ok_or(Error::InvalidExptime).map_err(rejected)?;
            // memcached answers a gat of no keys with an empty list.
            let keys = match Keys::parse(keys) {
                Err(Error::UnknownCommand) => Keys::NONE,
                keys => keys.map_err(rejected)?,
            };
            Request::GetAndTouch { exptime, keys, cas: command == b"gats" }
        }
        // As memcached, a command with the wrong number of arguments is not
        // recognised: ERROR, and nothing more is read for it.
        b"set" | b"add" | b"replace" | b"append" | b"prepend" if !(4..=5).contains(&arity(rest)) => {
            return Err(rejected(Error::UnknownCommand));
        }
        b"cas" if !(5..=6).contains(&arity(rest)) => return Err(rejected(Error::UnknownCommand)),
        b"set" => return parse_store(StoreCommand::Set, rest, input, line_len, limits),
        b"add" => return parse_store(StoreCommand::Add, rest, input, line_len, limits),
        b"replace" => return parse_store(StoreCommand::Replace, rest, input, line_len, limits),
        b"append" => return parse_store(StoreCommand::Append, rest, input, line_len, limits),
        b"prepend" => return parse_store(StoreCommand::Prepend, rest, input, line_len, limits),
        b"cas" => return parse_store(StoreCommand::Cas, rest, input, line_len, limits),
        b"ms" if arity(rest) == 0 => return Err(rejected(Error::UnknownCommand)),
        b"ms" => return parse_meta_set(rest, input, line_len, limits),
        _ => parse_line_command(command, rest).map_err(rejected)?,
    };
    Ok(Parsed { message: request, consumed: line_len })
}

/// The commands that are a single line.
fn parse_line_command<'a>(command: &'a [u8], rest: &'a [u8]) -> Result<Request<'a>, Error> {
    let arguments = arity(rest);
    let mut args = tokens(rest);
    // Each command's range of argument counts; outside it memcached does
    // not recognise the command. Arguments past those a command uses are
    // ignored, as memcached ignores them.
    let expects = |range: std::ops::RangeInclusive<usize>| {
        if range.contains(&arguments) { Ok(()) } else { Err(Error::UnknownCommand) }
    };
    let request = match command {
        b"delete" => {
            expects(1..=3)?;
            let key = Key::parse(args.next().ok_or(Error::BadCommandLine)?)?.as_plain();
            // "delete <key> 0" is accepted for old clients; any other time is not.
            let (second, third) = (args.next(), args.next());
            let valid = match (second, third) {
                (None, _) => true,
                (Some(second), None) => second == b"0" || second == b"noreply",
                (Some(second), Some(third)) => second == b"0" && third == b"noreply",
            };
            if !valid {
                return Err(Error::BadDeleteFormat);
            }
            Request::Delete { key, noreply: third.or(second) == Some(b"noreply") }
        }
        b"incr" | b"decr" => {
            expects(2..=3)?;
            let key = Key::parse(args.next().ok_or(Error::BadCommandLine)?)?.as_plain();
            let delta = parse_u64(args.next().ok_or(Error::BadCommandLine)?).ok_or(Error::InvalidDelta)?;
            Request::Arithmetic { key, delta, increment: command == b"incr", noreply: noreply(args.next()) }
        }
        b"touch" => {
            expects(2..=3)?;
            let key = Key::parse(args.next().ok_or(Error::BadCommandLine)?)?.as_plain();
            let exptime =
                parse_i64(args.next().ok_or(Error::BadCommandLine)?).ok_or(Error::InvalidExptime)?;
            Request::Touch { key, exptime, noreply: noreply(args.next()) }
        }
        b"flush_all" => {
            expects(0..=2)?;
            let mut next = args.next();
            let mut delay = 0;
            if let Some(token) = next.filter(|token| *token != b"noreply") {
                delay = parse_i64(token).ok_or(Error::InvalidExptime)?;
                next = args.next();
            }
            Request::FlushAll { delay, noreply: noreply(next) }
        }
        b"version" => Request::Version,
        b"quit" => Request::Quit,
        b"verbosity" => {
            expects(1..=2)?;
            let level = parse_u32(args.next().ok_or(Error::UnknownCommand)?).ok_or(Error::BadCommandLine)?;
            Request::Verbosity { level, noreply: noreply(args.next()) }
        }
        b"stats" => {
            // A group and up to two arguments (`stats cachedump 1 10`,
            // `stats detail on`); the arguments of the groups Petrel answers
            // carry nothing, so only the group is kept.
            expects(0..=3)?;
            Request::Stats { group: args.next() }
        }
        b"mg" | b"md" | b"ma" | b"me" => {
            let meta = match command {
                b"mg" => MetaCommand::Get,
                b"md" => MetaCommand::Delete,
                b"ma" => MetaCommand::Arithmetic,
                _ => MetaCommand::Debug,
            };
            if arguments == 0 && meta != MetaCommand::Debug {
                return Err(Error::UnknownCommand);
            }
            let (key, flags) = split_token(rest);
            let flags = MetaFlags::parse(meta, flags)?;
            let key = meta_key(key, &flags)?;
            match meta {
                MetaCommand::Get => Request::MetaGet { key, flags },
                MetaCommand::Delete => Request::MetaDelete { key, flags },
                MetaCommand::Arithmetic => Request::MetaArithmetic { key, flags },
                _ => Request::MetaDebug { key, flags },
            }
        }
        b"mn" => Request::MetaNoop,
        _ => return Err(Error::UnknownCommand),
    };
    Ok(request)
}

/// How many space-separated arguments follow the command.
fn arity(rest: &[u8]) -> usize {
    tokens(rest).count()
}

/// `<command> <key> <flags> <exptime> <bytes> [<cas>] [noreply]` and the data block.
fn parse_store<'a>(
    command: StoreCommand,
    rest: &'a [u8],
    input: &'a [u8],
    line_len: usize,
    limits: &Limits,
) -> ParseResult<'a> {
    let mut args = tokens(rest);
    let mut next = || args.next().ok_or(Error::BadCommandLine);
    let header = (|| {
        let key = Key::parse(next()?)?.as_plain();
        let flags = parse_u32(next()?).ok_or(Error::BadCommandLine)?;
        let exptime = parse_i64(next()?).ok_or(Error::BadCommandLine)?;
        let bytes = parse_u64(next()?).ok_or(Error::BadCommandLine)?;
        let cas = match command {
            StoreCommand::Cas => parse_u64(next()?).ok_or(Error::BadCommandLine)?,
            _ => 0,
        };
        Ok((key, flags, exptime, bytes, cas, noreply(next().ok())))
    })();
    let (key, flags, exptime, bytes, cas, noreply) =
        header.map_err(|error| ParseError::Invalid { error, recovery: Recovery::Skip(line_len as u64) })?;
    let value = data_block(input, line_len, bytes, limits)?;
    Ok(Parsed {
        message: Request::Store { command, key, flags, exptime, value, cas, noreply },
        consumed: line_len + value.len() + 2,
    })
}

/// `ms <key> <datalen> <flags>*` and the data block.
fn parse_meta_set<'a>(rest: &'a [u8], input: &'a [u8], line_len: usize, limits: &Limits) -> ParseResult<'a> {
    let rejected = |error| ParseError::Invalid { error, recovery: Recovery::Skip(line_len as u64) };
    let (key, rest) = split_token(rest);
    let (datalen, flags) = split_token(rest);
    let datalen = parse_u64(datalen).ok_or(Error::BadCommandLine).map_err(rejected)?;
    // Check the size before the flags, so that a bad flag on a large value
    // still swallows the value, as memcached does.
    let flags = MetaFlags::parse(MetaCommand::Set, flags);
    let value = data_block(input, line_len, datalen, limits)?;
    let swallowed =
        |error| ParseError::Invalid { error, recovery: Recovery::Skip((line_len + value.len() + 2) as u64) };
    let flags = flags.map_err(swallowed)?;
    let key = meta_key(key, &flags).map_err(swallowed)?;
    Ok(Parsed { message: Request::MetaSet { key, flags, value }, consumed: line_len + value.len() + 2 })
}

/// The data block of `bytes` bytes after a line of `line_len`, ending in CRLF.
fn data_block<'a>(
    input: &'a [u8],
    line_len: usize,
    bytes: u64,
    limits: &Limits,
) -> Result<&'a [u8], ParseError<Error>> {
    let total = (line_len as u64).saturating_add(bytes).saturating_add(2);
    if bytes > limits.max_value as u64 {
        return Err(ParseError::Invalid { error: Error::TooLarge, recovery: Recovery::Skip(total) });
    }
    let total = total as usize;
    if input.len() < total {
        return Err(ParseError::Incomplete);
    }
    if &input[total - 2..total] != b"\r\n" {
        return Err(ParseError::Invalid {
            error: Error::BadDataChunk,
            recovery: Recovery::Skip(total as u64),
        });
    }
    Ok(&input[line_len..total - 2])
}

fn meta_key<'a>(token: &'a [u8], flags: &MetaFlags<'a>) -> Result<Key<'a>, Error> {
    if token.is_empty() {
        return Err(Error::BadCommandLine);
    }
    if flags.base64 { Key::decode_base64(token) } else { Key::parse(token) }
}

/// Whether the last argument asks for no reply; memcached ignores any other
/// word in its place.
fn noreply(token: Option<&[u8]>) -> bool {
    token == Some(b"noreply")
}

/// Splits off the first space-separated token; the rest keeps its spacing.
fn split_token(text: &[u8]) -> (&[u8], &[u8]) {
    let text = trim_start(text);
    match memchr(b' ', text) {
        Some(space) => (&text[..space], trim_start(&text[space + 1..])),
        None => (text, &[]),
    }
}

fn trim_start(text: &[u8]) -> &[u8] {
    let start = text.iter().position(|&b| b != b' ').unwrap_or(text.len());
    &text[start..]
}

impl<'a> Key<'a> {
    /// The bytes of a key known to be plain (text commands never decode).
    fn as_plain(self) -> &'a [u8] {
        match self {
            Key::Plain(bytes) => bytes,
            Key::Decoded(_) => unreachable!("text commands have no base64 keys"),
        }
    }
}

impl Request<'_> {
    /// Appends the request's wire form to `out` (client side).
    pub fn compose(&self, out: &mut Vec<u8>) {
        let noreply = |out: &mut Vec<u8>, noreply: bool| {
            if noreply {
                out.extend_from_slice(b" noreply");
            }
        };
        match *self {
            Request::Get { keys, cas } => {
                out.extend_from_slice(if cas { b"gets " } else { b"get " });
                out.extend_from_slice(keys.as_text());
            }
            Request::GetAndTouch { exptime, keys, cas } => {
                out.extend_from_slice(if cas { b"gats " } else { b"gat " });
                write_i64(out, exptime);
                out.push(b' ');
                out.extend_from_slice(keys.as_text());
            }
            Request::Store { command, key, flags, exptime, value, cas, noreply: quiet } => {
                out.extend_from_slice(command.name().as_bytes());
                out.push(b' ');
                out.extend_from_slice(key);
                out.push(b' ');
                write_u64(out, flags as u64);
                out.push(b' ');
                write_i64(out, exptime);
                out.push(b' ');
                write_u64(out, value.len() as u64);
                if command == StoreCommand::Cas {
                    out.push(b' ');
                    write_u64(out, cas);
                }
                noreply(out, quiet);
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(value);
            }
            Request::Delete { key, noreply: quiet } => {
                out.extend_from_slice(b"delete ");
                out.extend_from_slice(key);
                noreply(out, quiet);
            }
            Request::Arithmetic { key, delta, increment, noreply: quiet } => {
                out.extend_from_slice(if increment { b"incr " } else { b"decr " });
                out.extend_from_slice(key);
                out.push(b' ');
                write_u64(out, delta);
                noreply(out, quiet);
            }
            Request::Touch { key, exptime, noreply: quiet } => {
                out.extend_from_slice(b"touch ");
                out.extend_from_slice(key);
                out.push(b' ');
                write_i64(out, exptime);
                noreply(out, quiet);
            }
            Request::FlushAll { delay, noreply: quiet } => {
                out.extend_from_slice(b"flush_all");
                if delay != 0 {
                    out.push(b' ');
                    write_i64(out, delay);
                }
                noreply(out, quiet);
            }
            Request::Version => out.extend_from_slice(b"version"),
            Request::Quit => out.extend_from_slice(b"quit"),
            Request::Verbosity { level, noreply: quiet } => {
                out.extend_from_slice(b"verbosity ");
                write_u64(out, level as u64);
                noreply(out, quiet);
            }
            Request::Stats { group } => {
                out.extend_from_slice(b"stats");
                if let Some(group) = group {
                    out.push(b' ');
                    out.extend_from_slice(group);
                }
            }
            Request::MetaGet { key, flags } => compose_meta(out, MetaCommand::Get, &key, None, &flags),
            Request::MetaSet { key, flags, value } => {
                compose_meta(out, MetaCommand::Set, &key, Some(value.len()), &flags);
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(value);
            }
            Request::MetaDelete { key, flags } => compose_meta(out, MetaCommand::Delete, &key, None, &flags),
            Request::MetaArithmetic { key, flags } => {
                compose_meta(out, MetaCommand::Arithmetic, &key, None, &flags)
            }
            Request::MetaDebug { key, flags } => compose_meta(out, MetaCommand::Debug, &key, None, &flags),
            Request::MetaNoop => out.extend_from_slice(b"mn"),
        }
        out.extend_from_slice(b"\r\n");
    }
}

fn compose_meta(
    out: &mut Vec<u8>,
    command: MetaCommand,
    key: &Key<'_>,
    datalen: Option<usize>,
    flags: &MetaFlags<'_>,
) {
    out.extend_from_slice(command.code().as_bytes());
    out.push(b' ');
    if key.is_base64() {
        encode_base64(key, out);
    } else {
        out.extend_from_slice(key);
    }
    if let Some(datalen) = datalen {
        out.push(b' ');
        write_u64(out, datalen as u64);
    }
    if !flags.text.is_empty() {
        out.push(b' ');
        out.extend_from_slice(flags.text);
    }
}
