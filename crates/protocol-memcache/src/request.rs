//! Requests: what the server parses (`parse.rs`) and clients compose
//! (`request/compose.rs`).

use petrel_protocol::{ParseError, Parsed};

use crate::Error;
use crate::binary::BinaryRequest;
use crate::crawler::CrawlerCommand;
use crate::key::{Key, Keys};
use crate::meta::MetaFlags;
use crate::slabs::SlabsCommand;
use crate::watch::WatchKinds;

/// A request parsed from the front of a buffer, or why not.
pub type ParseResult<'a> = Result<Parsed<Request<'a>>, ParseError<Error>>;

mod compose;

/// What memcached counts in an item besides its key and value (its header,
/// the CAS value, the key's terminating NUL and the value's CRLF), so that an
/// item fits exactly when it would fit memcached's `item_size_max`.
pub const ITEM_OVERHEAD: usize = 59;

/// Size limits that keep a server safe from what a client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest item, as memcached's `-I` counts it: key, value and
    /// [`ITEM_OVERHEAD`] (memcached's default, 1 MiB).
    pub item_size_max: usize,
    /// Longest command line, in bytes; a longer one closes the connection,
    /// but for a retrieval (`get`, `gets`, `gat`, `gats`), whose keys are
    /// served as they arrive however long the line.
    pub max_line: usize,
}

impl Limits {
    /// The largest value an item under a key of `key_len` bytes may hold.
    pub fn max_value(&self, key_len: usize) -> usize {
        self.item_size_max.saturating_sub(key_len + ITEM_OVERHEAD)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self { item_size_max: 1 << 20, max_line: 16 << 10 }
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
        /// Whether these keys end the line. A line too long to buffer whole
        /// is served in pieces as its keys arrive; only the last piece ends
        /// the reply with `END`.
        last: bool,
    },
    /// `gat`/`gats <exptime> <key>*`.
    GetAndTouch {
        /// New expiration time.
        exptime: i64,
        /// The keys.
        keys: Keys<'a>,
        /// Whether CAS values are returned (`gats`).
        cas: bool,
        /// Whether these keys end the line (see [`Request::Get`]).
        last: bool,
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
    /// A storage command (`set` ... `cas`, `ms`) whose value is over the
    /// size limit, served from its line alone: its data block is dropped
    /// unread (the parse's `consumed` counts it).
    TooLarge {
        /// The key.
        key: Key<'a>,
        /// The command; `None` for `ms`.
        command: Option<StoreCommand>,
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
    /// `stats [group] [argument]`.
    Stats {
        /// `stats settings`, `stats items`, ...; `None` for the general group.
        group: Option<&'a [u8]>,
        /// The group's first argument (`stats detail on`).
        argument: Option<&'a [u8]>,
    },
    /// `quit`.
    Quit,
    /// `lru_crawler <command> [<argument>]`.
    LruCrawler(CrawlerCommand),
    /// `slabs automove ...` or `slabs reassign ...` (no slabs here: see
    /// [`SlabsCommand`]).
    Slabs {
        /// Which, and its answer.
        command: SlabsCommand,
        /// No reply wanted (`slabs automove`'s `noreply`).
        noreply: bool,
    },
    /// `watch [fetchers] [mutations] [evictions] [connevents] [noreply]`.
    Watch {
        /// What to watch.
        kinds: WatchKinds,
        /// No `OK` wanted.
        noreply: bool,
    },
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
    /// A binary-protocol request.
    Binary(BinaryRequest<'a>),
}

/// What the command log records of a request: the command, its key or
/// keys, and a stored value's length. Keys are written as sent, bytes that
/// are not UTF-8 replaced.
impl std::fmt::Display for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        match self {
            Request::Get { keys, cas, .. } | Request::GetAndTouch { keys, cas, .. } => {
                let touch = matches!(self, Request::GetAndTouch { .. });
                f.write_str(match (touch, cas) {
                    (false, false) => "get",
                    (false, true) => "gets",
                    (true, false) => "gat",
                    (true, true) => "gats",
                })?;
                keys.iter().try_for_each(|key| write!(f, " {}", text(key)))
            }
            Request::Store { command, key, value, .. } => {
                write!(f, "{} {} {}", command.name(), text(key), value.len())
            }
            Request::TooLarge { key, command, .. } => {
                write!(f, "{} {} too-large", command.map_or("ms", StoreCommand::name), text(key))
            }
            Request::Delete { key, .. } => write!(f, "delete {}", text(key)),
            Request::Arithmetic { key, delta, increment, .. } => {
                write!(f, "{} {} {delta}", if *increment { "incr" } else { "decr" }, text(key))
            }
            Request::Touch { key, exptime, .. } => write!(f, "touch {} {exptime}", text(key)),
            Request::FlushAll { delay, .. } => write!(f, "flush_all {delay}"),
            Request::Version => f.write_str("version"),
            Request::Verbosity { level, .. } => write!(f, "verbosity {level}"),
            Request::Stats { group, .. } => write!(f, "stats {}", text(group.unwrap_or_default())),
            Request::Quit => f.write_str("quit"),
            Request::LruCrawler(command) => write!(f, "lru_crawler {command:?}"),
            Request::Slabs { command, .. } => write!(f, "slabs {command:?}"),
            Request::Watch { kinds, .. } => write!(f, "watch {kinds:?}"),
            Request::MetaGet { key, .. } => write!(f, "mg {}", text(key)),
            Request::MetaSet { key, value, .. } => write!(f, "ms {} {}", text(key), value.len()),
            Request::MetaDelete { key, .. } => write!(f, "md {}", text(key)),
            Request::MetaArithmetic { key, .. } => write!(f, "ma {}", text(key)),
            Request::MetaDebug { key, .. } => write!(f, "me {}", text(key)),
            Request::MetaNoop => f.write_str("mn"),
            Request::Binary(request) => {
                write!(f, "binary {:?}", request.opcode)?;
                request.command.key().map_or(Ok(()), |key| write!(f, " {}", text(key)))
            }
        }
    }
}
