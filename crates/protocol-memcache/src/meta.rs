//! Meta command flags: `mg`, `ms`, `md`, `ma`, `me`.
//!
//! A flag is one character, optionally followed by a token (`T30`, `Oabc`).
//! Flags that ask for something back (`c`, `f`, `k`, `O`, `s`, `t`, ...) are
//! answered in the order they were given, so the flags text is kept as sent
//! ([`MetaFlags::text`]) alongside the decoded values.

use petrel_protocol::line::words;

use crate::Error;
use crate::number::memcached;
use crate::store_mode::StoreMode;

/// The longest opaque (`O`) token, in bytes.
pub const MAX_OPAQUE_LEN: usize = 32;

/// Which meta command the flags belong to; each takes its own set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaCommand {
    /// `mg`
    Get,
    /// `ms`
    Set,
    /// `md`
    Delete,
    /// `ma`
    Arithmetic,
    /// `me`
    Debug,
}

impl MetaCommand {
    /// The flags the command takes (`P` and `L`, proxy hints, are accepted
    /// and ignored by all).
    fn accepts(self, flag: u8) -> bool {
        let accepted: &[u8] = match self {
            MetaCommand::Get => b"bcCfhklOqstuvENRT",
            MetaCommand::Set => b"bcCEFIkOqsTMN",
            MetaCommand::Delete => b"bCEIkOqTx",
            MetaCommand::Arithmetic => b"bCENJDTMOqtcvk",
            MetaCommand::Debug => b"b",
        };
        flag == b'P' || flag == b'L' || accepted.contains(&flag)
    }

    /// The two-letter command code.
    pub fn code(self) -> &'static str {
        match self {
            MetaCommand::Get => "mg",
            MetaCommand::Set => "ms",
            MetaCommand::Delete => "md",
            MetaCommand::Arithmetic => "ma",
            MetaCommand::Debug => "me",
        }
    }
}

/// `ma` mode (`M` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArithmeticMode {
    /// `MI` or `M+`, the default.
    #[default]
    Increment,
    /// `MD` or `M-`.
    Decrement,
}

/// A flag that asks for something back in the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Return {
    /// `c`: the CAS value.
    Cas,
    /// `f`: the client flags.
    Flags,
    /// `h`: whether the item was fetched before.
    Hit,
    /// `k`: the key (followed by `b` when it was sent in base64).
    Key,
    /// `l`: seconds since the last access.
    LastAccess,
    /// `O`: the opaque token.
    Opaque,
    /// `s`: the value's size.
    Size,
    /// `t`: the remaining time to live.
    Ttl,
}

impl Return {
    fn of(flag: u8) -> Option<Self> {
        Some(match flag {
            b'c' => Return::Cas,
            b'f' => Return::Flags,
            b'h' => Return::Hit,
            b'k' => Return::Key,
            b'l' => Return::LastAccess,
            b'O' => Return::Opaque,
            b's' => Return::Size,
            b't' => Return::Ttl,
            _ => return None,
        })
    }
}

/// The return flags of a request, in the order given: the order the reply
/// writes them in. Each flag comes at most once, so eight fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Returns {
    flags: [Option<Return>; 8],
}

impl Returns {
    fn push(&mut self, flag: Return) {
        if let Some(slot) = self.flags.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some(flag);
        }
    }

    /// The flags, in request order.
    pub fn iter(&self) -> impl Iterator<Item = Return> + '_ {
        self.flags.iter().map_while(|flag| *flag)
    }
}

/// The flags of one meta command, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetaFlags<'a> {
    /// The flags as sent, for answering in order.
    pub text: &'a [u8],
    /// `b`: the key is base64.
    pub base64: bool,
    /// `c f h k l O s t`: what the reply returns, in the order given.
    pub returns: Returns,
    /// `q`: quiet; suppress the usual success (or miss, for `mg`) reply.
    pub quiet: bool,
    /// `u`: do not bump the item or mark it accessed.
    pub no_bump: bool,
    /// `v`: return the value.
    pub return_value: bool,
    /// `I`: invalidate (mark stale) instead of delete, or accept an older CAS on set.
    pub invalidate: bool,
    /// `x`: (md) remove the value but keep the item.
    pub remove_value: bool,
    /// `C`: compare CAS.
    pub compare_cas: Option<u64>,
    /// `E`: use this as the new CAS value.
    pub new_cas: Option<u64>,
    /// `F`: client flags to store.
    pub client_flags: Option<u32>,
    /// `T`: new TTL (an exptime, as in the text commands).
    pub ttl: Option<i64>,
    /// `N`: vivify on miss with this TTL.
    pub vivify: Option<i64>,
    /// `R`: win the recache if the remaining TTL is below this.
    pub recache: Option<i64>,
    /// `J`: (ma) initial value when vivifying.
    pub initial: Option<u64>,
    /// `D`: (ma) delta, default 1.
    pub delta: Option<u64>,
    /// `M`: (ms) how to treat an existing item (set, add, replace, append, prepend).
    pub set_mode: StoreMode,
    /// `M`: (ma) arithmetic mode.
    pub arithmetic_mode: ArithmeticMode,
    /// `O`: opaque token, copied back.
    pub opaque: Option<&'a [u8]>,
}

impl<'a> MetaFlags<'a> {
    /// Decodes the flags of `command` from the space-separated `text`.
    /// memcached words every fault in the flags of `md` and `ma` alike.
    pub fn parse(command: MetaCommand, text: &'a [u8]) -> Result<Self, Error> {
        Self::decode(command, text).map_err(|error| match command {
            MetaCommand::Delete | MetaCommand::Arithmetic => Error::InvalidOrDuplicateFlag,
            _ => error,
        })
    }

    fn decode(command: MetaCommand, text: &'a [u8]) -> Result<Self, Error> {
        let mut flags = MetaFlags { text, ..MetaFlags::default() };
        let mut seen = [false; 128];
        for token in words(text) {
            let flag = token[0];
            if flag >= 128 || !command.accepts(flag) {
                return Err(Error::InvalidFlag);
            }
            if seen[flag as usize] {
                return Err(Error::DuplicateFlag);
            }
            seen[flag as usize] = true;
            let arg = &token[1..];
            if let Some(returned) = Return::of(flag) {
                if flag != b'O' && !arg.is_empty() {
                    return Err(Error::BadToken);
                }
                flags.returns.push(returned);
            }
            let no_arg = |value: &mut bool| {
                if !arg.is_empty() {
                    return Err(Error::BadToken);
                }
                *value = true;
                Ok(())
            };
            match flag {
                b'b' => no_arg(&mut flags.base64)?,
                b'q' => no_arg(&mut flags.quiet)?,
                b'u' => no_arg(&mut flags.no_bump)?,
                b'v' => no_arg(&mut flags.return_value)?,
                b'I' => no_arg(&mut flags.invalidate)?,
                b'x' => no_arg(&mut flags.remove_value)?,
                // Numbers are read as memcached reads them (number.rs).
                b'C' => flags.compare_cas = Some(memcached::u64(arg).ok_or(Error::BadToken)?),
                b'E' => flags.new_cas = Some(memcached::u64(arg).ok_or(Error::BadToken)?),
                b'F' => flags.client_flags = Some(memcached::u32(arg).ok_or(Error::BadCommandLine)?),
                b'T' => flags.ttl = Some(memcached::i32(arg).ok_or(Error::BadToken)?.into()),
                b'N' => flags.vivify = Some(memcached::i32(arg).ok_or(Error::BadToken)?.into()),
                b'R' => flags.recache = Some(memcached::i32(arg).ok_or(Error::BadToken)?.into()),
                b'J' => flags.initial = Some(memcached::u64(arg).ok_or(Error::BadToken)?),
                b'D' => flags.delta = Some(memcached::u64(arg).ok_or(Error::BadToken)?),
                b'O' if arg.len() > MAX_OPAQUE_LEN => return Err(Error::OpaqueTooLong),
                b'O' => flags.opaque = Some(arg),
                b'M' => match (command, arg) {
                    (MetaCommand::Set, b"S" | b"s") => flags.set_mode = StoreMode::Set,
                    (MetaCommand::Set, b"E" | b"e") => flags.set_mode = StoreMode::Add,
                    (MetaCommand::Set, b"R" | b"r") => flags.set_mode = StoreMode::Replace,
                    (MetaCommand::Set, b"A" | b"a") => flags.set_mode = StoreMode::Append,
                    (MetaCommand::Set, b"P" | b"p") => flags.set_mode = StoreMode::Prepend,
                    (MetaCommand::Arithmetic, b"I" | b"i" | b"+") => {
                        flags.arithmetic_mode = ArithmeticMode::Increment
                    }
                    (MetaCommand::Arithmetic, b"D" | b"d" | b"-") => {
                        flags.arithmetic_mode = ArithmeticMode::Decrement
                    }
                    _ => return Err(Error::InvalidMode),
                },
                // P and L: hints for proxies, ignored.
                _ => {}
            }
        }
        Ok(flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_mg_flag() {
        let flags = MetaFlags::parse(
            MetaCommand::Get,
            b"b c C12 f h k l Oabc q s t u v E99 N30 R10 T60 Pproxy Lpath",
        )
        .unwrap();
        assert!(flags.base64 && flags.quiet && flags.no_bump && flags.return_value);
        assert_eq!(
            flags.returns.iter().collect::<Vec<_>>(),
            [
                Return::Cas,
                Return::Flags,
                Return::Hit,
                Return::Key,
                Return::LastAccess,
                Return::Opaque,
                Return::Size,
                Return::Ttl
            ]
        );
        assert_eq!(flags.compare_cas, Some(12));
        assert_eq!(flags.new_cas, Some(99));
        assert_eq!(flags.vivify, Some(30));
        assert_eq!(flags.recache, Some(10));
        assert_eq!(flags.ttl, Some(60));
        assert_eq!(flags.opaque, Some(&b"abc"[..]));
    }

    #[test]
    fn decodes_ms_md_ma_flags() {
        let set = MetaFlags::parse(MetaCommand::Set, b"F7 T-1 MA N30 I C5 E6 c k s q").unwrap();
        assert_eq!(
            (set.client_flags, set.ttl, set.set_mode, set.vivify),
            (Some(7), Some(-1), StoreMode::Append, Some(30))
        );
        let delete = MetaFlags::parse(MetaCommand::Delete, b"I T30 x C1").unwrap();
        assert!(delete.invalidate && delete.remove_value);
        let arith = MetaFlags::parse(MetaCommand::Arithmetic, b"N0 J10 D5 M- v t c").unwrap();
        assert_eq!(
            (arith.initial, arith.delta, arith.arithmetic_mode),
            (Some(10), Some(5), ArithmeticMode::Decrement)
        );
    }

    #[test]
    fn rejects_bad_flags() {
        assert_eq!(MetaFlags::parse(MetaCommand::Get, b"v z").unwrap_err(), Error::InvalidFlag);
        assert_eq!(MetaFlags::parse(MetaCommand::Get, b"F1").unwrap_err(), Error::InvalidFlag);
        assert_eq!(MetaFlags::parse(MetaCommand::Get, b"v v").unwrap_err(), Error::DuplicateFlag);
        assert_eq!(MetaFlags::parse(MetaCommand::Get, b"Tabc").unwrap_err(), Error::BadToken);
        assert_eq!(MetaFlags::parse(MetaCommand::Get, b"vx").unwrap_err(), Error::BadToken);
        assert_eq!(
            MetaFlags::parse(MetaCommand::Get, &[b"O".as_slice(), &[b'o'; 33]].concat()).unwrap_err(),
            Error::OpaqueTooLong
        );
        assert_eq!(MetaFlags::parse(MetaCommand::Set, b"MX").unwrap_err(), Error::InvalidMode);
        assert_eq!(MetaFlags::parse(MetaCommand::Debug, b"v").unwrap_err(), Error::InvalidFlag);
        assert_eq!(MetaFlags::parse(MetaCommand::Get, "é".as_bytes()).unwrap_err(), Error::InvalidFlag);
    }
}
