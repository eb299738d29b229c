//! `slabs automove` and `slabs reassign`: memcached's commands for moving
//! memory between its slab classes. Petrel has no slabs (items live in
//! RocksDB), so these are accepted and answered as memcached answers them
//! where it has no page to move: operators' scripts and tools that send
//! them keep working, and bad arguments are refused in memcached's words.

use crate::Error;
use crate::number::memcached;

/// Slab classes memcached numbers (0, the global page pool, to 63).
const CLASSES: std::ops::RangeInclusive<i32> = 0..=63;

/// A `slabs` request, answered from its arguments alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlabsCommand {
    /// `slabs automove 0|1|2` or `slabs automove ratio <ratio>`: `OK`.
    Automove,
    /// `slabs reassign <src> <dst>` naming one class twice:
    /// `SAME src and dst class are identical`.
    SameClass,
    /// `slabs reassign` naming a class out of range:
    /// `BADCLASS invalid src or dst class id`.
    BadClass,
    /// `slabs reassign` between classes: `NOSPARE source class has no spare
    /// pages` (there are none to move).
    NoSpare,
}

impl SlabsCommand {
    /// Parses the words after `slabs`, as memcached 1.6 does: `reassign`
    /// takes exactly two numbers; `automove` a level or `ratio` and a
    /// number, words after those ignored; anything else is `ERROR`.
    pub(crate) fn parse(words: &[&[u8]]) -> Result<Self, Error> {
        match *words {
            [b"reassign", source, destination] => {
                let (Some(source), Some(destination)) = (memcached::i32(source), memcached::i32(destination))
                else {
                    return Err(Error::BadCommandLine);
                };
                Ok(if source == destination {
                    Self::SameClass
                } else if CLASSES.contains(&source) && CLASSES.contains(&destination) {
                    Self::NoSpare
                } else {
                    // -1 asks memcached to pick a source with a spare page:
                    // there is none.
                    Self::BadClass
                })
            }
            [b"automove", b"ratio", ratio, ..] => {
                match std::str::from_utf8(ratio).ok().and_then(|r| r.parse::<f64>().ok()) {
                    Some(_) => Ok(Self::Automove),
                    None => Err(Error::UnknownCommand),
                }
            }
            [b"automove", b"ratio"] => Err(Error::UnknownCommand),
            [b"automove", level, ..] => match memcached::u32(level) {
                Some(0..=2) => Ok(Self::Automove),
                Some(_) => Err(Error::UnknownCommand),
                None => Err(Error::BadCommandLine),
            },
            _ => Err(Error::UnknownCommand),
        }
    }

    /// The reply line, without its `\r\n`.
    pub fn reply(self) -> &'static str {
        match self {
            Self::Automove => "OK",
            Self::SameClass => "SAME src and dst class are identical",
            Self::BadClass => "BADCLASS invalid src or dst class id",
            Self::NoSpare => "NOSPARE source class has no spare pages",
        }
    }

    /// The request's wire form, for clients.
    pub(crate) fn compose(self, out: &mut Vec<u8>) {
        out.extend_from_slice(match self {
            Self::Automove => b"slabs automove 1",
            Self::SameClass => b"slabs reassign 1 1",
            Self::BadClass => b"slabs reassign 1 99",
            Self::NoSpare => b"slabs reassign 1 2",
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<SlabsCommand, Error> {
        let words: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        SlabsCommand::parse(&words)
    }

    #[test]
    fn memcached_answers_where_no_page_can_move() {
        use SlabsCommand::*;
        for level in ["0", "1", "2"] {
            assert_eq!(parse(&format!("automove {level}")), Ok(Automove));
        }
        assert_eq!(parse("automove 1 extra"), Ok(Automove));
        assert_eq!(parse("automove ratio 0.8"), Ok(Automove));
        assert_eq!(parse("automove invalid"), Err(Error::BadCommandLine), "memcached's t/strtol-testing.t");
        assert_eq!(parse("automove 3"), Err(Error::UnknownCommand));
        assert_eq!(parse("automove ratio"), Err(Error::UnknownCommand));
        assert_eq!(parse("automove ratio x"), Err(Error::UnknownCommand));
        assert_eq!(parse("reassign 1 2"), Ok(NoSpare));
        assert_eq!(parse("reassign 3 3"), Ok(SameClass));
        assert_eq!(parse("reassign 1 64"), Ok(BadClass));
        assert_eq!(parse("reassign -1 5"), Ok(BadClass));
        assert_eq!(parse("reassign a 5"), Err(Error::BadCommandLine));
        assert_eq!(parse("reassign 1"), Err(Error::UnknownCommand));
        assert_eq!(parse("reassign 1 2 3"), Err(Error::UnknownCommand));
        assert_eq!(parse("other"), Err(Error::UnknownCommand));
    }
}
