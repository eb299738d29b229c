//! Parsing requests from the server's read buffer, as memcached 1.6 reads
//! them: the same words accepted, the same numbers (see
//! [`number::memcached`](crate::number::memcached)), the same reply to each
//! fault, and `noreply` silencing every reply of the commands that take it.

use memchr::memchr;
use petrel_protocol::line::{Line, first_line, split_word, words};
use petrel_protocol::{ParseError, Parsed, Recovery};

use crate::Error;
use crate::crawler::CrawlerCommand;
use crate::key::{Key, Keys, MAX_KEY_LEN};
use crate::meta::{MetaCommand, MetaFlags};
use crate::multiget::{self, TextState};
use crate::number::memcached;
use crate::request::{Limits, ParseResult, Request, StoreCommand};
use crate::slabs::SlabsCommand;
use crate::watch::WatchKinds;

/// Parses one request from the front of `input`.
pub fn parse<'a>(state: &mut TextState, input: &'a [u8], limits: &Limits) -> ParseResult<'a> {
    if let Some(multiget) = state.multiget {
        return multiget::resume(state, multiget, input, limits);
    }
    let Some(Line { text: line, len: line_len }) = first_line(input, limits.max_line) else {
        return if input.len() < limits.max_line {
            Err(ParseError::Incomplete)
        } else {
            multiget::start(state, input, &input[..limits.max_line])
        };
    };
    // memcached reads the line as a C string: it ends at the first NUL.
    let line = &line[..memchr(0, line).unwrap_or(line.len())];
    let rejected = |error| ParseError::Invalid { error, recovery: Recovery::Skip(line_len as u64) };

    let (command, rest) = split_word(line);
    let arguments = words(rest).count();
    let request = match command {
        b"get" | b"gets" => {
            Request::Get { keys: Keys::parse(rest).map_err(rejected)?, cas: command == b"gets", last: true }
        }
        b"gat" | b"gats" => {
            let (exptime, keys) = split_word(rest);
            if exptime.is_empty() {
                return Err(rejected(Error::UnknownCommand));
            }
            let exptime = memcached::i32(exptime).ok_or(Error::InvalidExptime).map_err(rejected)?;
            // memcached answers a gat of no keys with an empty list.
            let keys = match Keys::parse(keys) {
                Err(Error::UnknownCommand) => Keys::NONE,
                keys => keys.map_err(rejected)?,
            };
            Request::GetAndTouch { exptime: exptime.into(), keys, cas: command == b"gats", last: true }
        }
        // As memcached, a command with the wrong number of arguments is not
        // recognised: ERROR, and nothing more is read for it.
        b"set" | b"add" | b"replace" | b"append" | b"prepend" if !(4..=5).contains(&arguments) => {
            return Err(rejected(Error::UnknownCommand));
        }
        b"cas" if !(5..=6).contains(&arguments) => return Err(rejected(Error::UnknownCommand)),
        b"set" => return parse_store(StoreCommand::Set, rest, input, line_len, limits),
        b"add" => return parse_store(StoreCommand::Add, rest, input, line_len, limits),
        b"replace" => return parse_store(StoreCommand::Replace, rest, input, line_len, limits),
        b"append" => return parse_store(StoreCommand::Append, rest, input, line_len, limits),
        b"prepend" => return parse_store(StoreCommand::Prepend, rest, input, line_len, limits),
        b"cas" => return parse_store(StoreCommand::Cas, rest, input, line_len, limits),
        b"ms" if arguments == 0 => return Err(rejected(Error::UnknownCommand)),
        b"ms" => return parse_meta_set(rest, input, line_len, limits),
        _ => match parse_line_command(command, rest, arguments) {
            Ok(request) => request,
            Err(Error::HttpRequest) => {
                return Err(ParseError::Invalid { error: Error::HttpRequest, recovery: Recovery::Close });
            }
            // memcached reads `noreply` once it knows the command and its
            // argument count, and from then on sends nothing, errors included.
            Err(error) if error != Error::UnknownCommand && asks_no_reply(command, rest, arguments) => {
                return Err(rejected(Error::NoReply));
            }
            Err(error) => return Err(rejected(error)),
        },
    };
    Ok(Parsed { message: request, consumed: line_len })
}

/// The commands that are a single line.
fn parse_line_command<'a>(command: &'a [u8], rest: &'a [u8], arguments: usize) -> Result<Request<'a>, Error> {
    let mut args = words(rest);
    let noreply = asks_no_reply(command, rest, arguments);
    // Each command's range of argument counts; outside it memcached does
    // not recognise the command. Arguments past those a command uses are
    // ignored, as memcached ignores them.
    let expects = |range: std::ops::RangeInclusive<usize>| {
        if range.contains(&arguments) { Ok(()) } else { Err(Error::UnknownCommand) }
    };
    let request = match command {
        b"delete" => {
            expects(1..=3)?;
            let key = Key::parse(args.next().ok_or(Error::BadCommandLine)?)?;
            // "delete <key> 0" is accepted for old clients; any other time is not.
            let valid = match (args.next(), args.next()) {
                (None, _) => true,
                (Some(second), None) => second == b"0" || noreply,
                (Some(second), Some(_)) => second == b"0" && noreply,
            };
            if !valid {
                return Err(Error::BadDeleteFormat);
            }
            Request::Delete { key: key.as_plain(), noreply }
        }
        b"incr" | b"decr" => {
            expects(2..=3)?;
            let key = Key::parse(args.next().ok_or(Error::BadCommandLine)?)?.as_plain();
            let delta =
                memcached::u64(args.next().ok_or(Error::BadCommandLine)?).ok_or(Error::InvalidDelta)?;
            Request::Arithmetic { key, delta, increment: command == b"incr", noreply }
        }
        b"touch" => {
            expects(2..=3)?;
            let key = Key::parse(args.next().ok_or(Error::BadCommandLine)?)?.as_plain();
            let exptime =
                memcached::i32(args.next().ok_or(Error::BadCommandLine)?).ok_or(Error::InvalidExptime)?;
            Request::Touch { key, exptime: exptime.into(), noreply }
        }
        b"flush_all" => {
            expects(0..=2)?;
            let delay = match args.next() {
                Some(token) if !(noreply && arguments == 1) => {
                    memcached::i32(token).ok_or(Error::InvalidExptime)?.into()
                }
                _ => 0,
            };
            Request::FlushAll { delay, noreply }
        }
        b"version" => Request::Version,
        b"quit" => Request::Quit,
        b"verbosity" => {
            expects(1..=2)?;
            let level =
                memcached::u32(args.next().ok_or(Error::UnknownCommand)?).ok_or(Error::BadCommandLine)?;
            Request::Verbosity { level, noreply }
        }
        // A group and its argument (`stats detail dump`); memcached ignores
        // any words after those.
        b"stats" => Request::Stats { group: args.next(), argument: args.next() },
        b"lru_crawler" => {
            // Three words are more than any form takes: unknown, like more.
            let mut words: [&[u8]; 3] = [b""; 3];
            let count = arguments.min(words.len());
            for word in &mut words[..count] {
                *word = args.next().unwrap_or_default();
            }
            Request::LruCrawler(CrawlerCommand::parse(&words[..count])?)
        }
        b"slabs" => {
            // memcached looks at no more than four words.
            let mut words: [&[u8]; 4] = [b""; 4];
            let count = arguments.min(words.len());
            for word in &mut words[..count] {
                *word = args.next().unwrap_or_default();
            }
            // Only `automove` takes `noreply`, as in memcached.
            let noreply = words[0] == b"automove" && last_word_is_noreply(rest);
            match SlabsCommand::parse(&words[..count]) {
                Ok(command) => Request::Slabs { command, noreply },
                Err(_) if noreply => return Err(Error::NoReply),
                Err(error) => return Err(error),
            }
        }
        b"watch" => {
            let mut words = [&b""[..]; 4];
            let count = arguments.min(words.len());
            for word in &mut words[..count] {
                *word = args.next().unwrap_or_default();
            }
            if arguments > words.len() {
                return Err(Error::UnknownCommand);
            }
            let named = words[..count].iter().copied().filter(|word| *word != b"noreply");
            Request::Watch { kinds: WatchKinds::parse(named)?, noreply }
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
            let (key, flags) = split_word(rest);
            let flags = match meta {
                // `me` reads one flag, `b` right after the key, and ignores
                // the rest, as memcached does.
                MetaCommand::Debug => MetaFlags {
                    text: flags,
                    base64: words(flags).next() == Some(b"b"),
                    ..MetaFlags::default()
                },
                _ => MetaFlags::parse(meta, flags)?,
            };
            let key = meta_key(key, &flags)?;
            match meta {
                MetaCommand::Get => Request::MetaGet { key, flags },
                MetaCommand::Delete => Request::MetaDelete { key, flags },
                MetaCommand::Arithmetic => Request::MetaArithmetic { key, flags },
                _ => Request::MetaDebug { key, flags },
            }
        }
        b"mn" => Request::MetaNoop,
        _ if is_http_request_line(command, rest) => return Err(Error::HttpRequest),
        _ => return Err(Error::UnknownCommand),
    };
    Ok(request)
}

/// Whether a single-line command asks for no reply: memcached looks at the
/// last word, whatever the argument count, for the commands that take
/// `noreply` (`delete` only past its key: `delete noreply` deletes the key
/// `noreply`).
fn asks_no_reply(command: &[u8], rest: &[u8], arguments: usize) -> bool {
    let takes_noreply = match command {
        b"delete" => arguments > 1,
        b"incr" | b"decr" | b"touch" | b"flush_all" | b"verbosity" | b"watch" => true,
        _ => false,
    };
    takes_noreply && last_word_is_noreply(rest)
}

/// Whether the last word of the arguments is `noreply`.
fn last_word_is_noreply(rest: &[u8]) -> bool {
    words(rest).last() == Some(b"noreply")
}

/// memcached closes, without a reply, a connection whose line is not a
/// command it knows and ends in an HTTP version (`GET / HTTP/1.1`), so that
/// a web page cannot make a browser talk to a cache on a private network.
/// Names that begin as memcached's own commands do (`a c d g i s t`, a
/// two-letter `m…`, any single letter) get `ERROR` instead, as there.
fn is_http_request_line(command: &[u8], rest: &[u8]) -> bool {
    let Some(&first) = command.first() else { return false };
    let own = command.len() == 1
        || matches!(first, b'a' | b'c' | b'd' | b'g' | b'i' | b's' | b't')
        || (first == b'm' && command.len() == 2);
    let last = words(rest).last().unwrap_or(command);
    !own && last.starts_with(b"HTTP/")
}

/// `<command> <key> <flags> <exptime> <bytes> [<cas>] [noreply]` and the data block.
fn parse_store<'a>(
    command: StoreCommand,
    rest: &'a [u8],
    input: &'a [u8],
    line_len: usize,
    limits: &Limits,
) -> ParseResult<'a> {
    let noreply = last_word_is_noreply(rest);
    let reply = |error| if noreply { Error::NoReply } else { error };
    let mut args = words(rest);
    let mut next = || args.next().ok_or(Error::BadCommandLine);
    let header = (|| {
        let key = Key::parse(next()?)?;
        let flags = memcached::u32(next()?).ok_or(Error::BadCommandLine)?;
        let exptime = memcached::i32(next()?).ok_or(Error::BadCommandLine)?;
        let bytes = value_length(next()?).ok_or(Error::BadCommandLine)?;
        let cas = match command {
            StoreCommand::Cas => memcached::u64(next()?).ok_or(Error::BadCommandLine)?,
            _ => 0,
        };
        Ok((key, flags, exptime, bytes, cas))
    })();
    let (key, flags, exptime, bytes, cas) = header.map_err(|error| ParseError::Invalid {
        error: reply(error),
        recovery: Recovery::Skip(line_len as u64),
    })?;
    if bytes > limits.max_value(key.len()) {
        let message = Request::TooLarge { key, command: Some(command), noreply };
        return Ok(Parsed { message, consumed: line_len + bytes + 2 });
    }
    let value = data_block(input, line_len, bytes).map_err(|error| match error {
        ParseError::Invalid { error, recovery } => ParseError::Invalid { error: reply(error), recovery },
        incomplete => incomplete,
    })?;
    Ok(Parsed {
        message: Request::Store {
            command,
            key: key.as_plain(),
            flags,
            exptime: exptime.into(),
            value,
            cas,
            noreply,
        },
        consumed: line_len + value.len() + 2,
    })
}

/// A value length as memcached accepts it: what its `safe_strtol` reads,
/// from 0 to 2^31 - 3, so that the length and its CRLF fit an `int`.
fn value_length(token: &[u8]) -> Option<usize> {
    let bytes = memcached::i32(token)?;
    (0..=i32::MAX - 2).contains(&bytes).then_some(bytes as usize)
}

/// `ms <key> <datalen> <flags>*` and the data block.
fn parse_meta_set<'a>(rest: &'a [u8], input: &'a [u8], line_len: usize, limits: &Limits) -> ParseResult<'a> {
    let rejected = |error| ParseError::Invalid { error, recovery: Recovery::Skip(line_len as u64) };
    let (key, rest) = split_word(rest);
    let (datalen, flags) = split_word(rest);
    // Before anything else, and without swallowing the value: memcached
    // checks the key's length as sent.
    if key.len() > MAX_KEY_LEN {
        return Err(rejected(Error::BadCommandLine));
    }
    let datalen = value_length(datalen).ok_or(Error::BadCommandLine).map_err(rejected)?;
    // Read the size before the flags, so that a bad flag still swallows
    // the value, as memcached does.
    let flags = MetaFlags::parse(MetaCommand::Set, flags);
    let swallowed =
        |error| ParseError::Invalid { error, recovery: Recovery::Skip((line_len + datalen + 2) as u64) };
    let flags = flags.map_err(swallowed)?;
    let key = meta_key(key, &flags).map_err(swallowed)?;
    if datalen > limits.max_value(key.len()) {
        let message = Request::TooLarge { key, command: None, noreply: false };
        return Ok(Parsed { message, consumed: line_len + datalen + 2 });
    }
    let value = data_block(input, line_len, datalen)?;
    Ok(Parsed { message: Request::MetaSet { key, flags, value }, consumed: line_len + value.len() + 2 })
}

/// The data block of `bytes` bytes after a line of `line_len`, ending in CRLF.
fn data_block(input: &[u8], line_len: usize, bytes: usize) -> Result<&[u8], ParseError<Error>> {
    let total = line_len + bytes + 2;
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

impl<'a> Key<'a> {
    /// The bytes of a key known to be plain (text commands never decode).
    fn as_plain(self) -> &'a [u8] {
        match self {
            Key::Plain(bytes) => bytes,
            Key::Decoded(_) => unreachable!("text commands have no base64 keys"),
        }
    }
}
