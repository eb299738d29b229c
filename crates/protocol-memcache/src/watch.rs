//! What `watch [fetchers] [mutations] [evictions] [connevents]` asks to
//! see; the watchers themselves are the service's
//! (`petrel-memcache-service`).

use crate::Error;

/// What a watcher asked to see.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchKinds(u8);

impl WatchKinds {
    /// Retrievals: one `item_get` line per key looked up.
    pub const FETCHERS: Self = Self(1);
    /// Storage commands: one `item_store` line each.
    pub const MUTATIONS: Self = Self(2);
    /// Items evicted: one `eviction` line each, from the store's
    /// background work.
    pub const EVICTIONS: Self = Self(4);
    /// Connections opened and closed.
    pub const CONNEVENTS: Self = Self(8);

    /// The kinds named by `watch`'s arguments; none means fetchers, as in
    /// memcached. An unknown name is an error (`ERROR`).
    pub fn parse<'a>(words: impl Iterator<Item = &'a [u8]>) -> Result<Self, Error> {
        let mut kinds = 0;
        for word in words {
            kinds |= match word {
                b"fetchers" => Self::FETCHERS.0,
                b"mutations" => Self::MUTATIONS.0,
                b"evictions" => Self::EVICTIONS.0,
                b"connevents" => Self::CONNEVENTS.0,
                _ => return Err(Error::UnknownCommand),
            };
        }
        Ok(if kinds == 0 { Self::FETCHERS } else { Self(kinds) })
    }

    /// Whether these kinds include any of `other`.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// The kinds as bits, to keep in an atomic ...
    pub fn bits(self) -> u8 {
        self.0
    }

    /// ... and back.
    pub fn from_bits(bits: u8) -> Self {
        Self(bits)
    }

    /// These kinds and `other`'s.
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The words that ask for these kinds, for composing the request.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        [
            (Self::FETCHERS, "fetchers"),
            (Self::MUTATIONS, "mutations"),
            (Self::EVICTIONS, "evictions"),
            (Self::CONNEVENTS, "connevents"),
        ]
        .into_iter()
        .filter(move |(kind, _)| self.contains(*kind))
        .map(|(_, name)| name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_as_memcached_takes_them() {
        let parse = |words: &[&[u8]]| WatchKinds::parse(words.iter().copied());
        assert_eq!(parse(&[]).unwrap(), WatchKinds::FETCHERS);
        let both = parse(&[b"mutations", b"fetchers", b"fetchers"]).unwrap();
        assert!(both.contains(WatchKinds::FETCHERS) && both.contains(WatchKinds::MUTATIONS));
        assert!(!both.contains(WatchKinds::EVICTIONS));
        assert_eq!(both.names().collect::<Vec<_>>(), ["fetchers", "mutations"]);
        assert!(matches!(parse(&[b"deletions"]), Err(Error::UnknownCommand)));
    }
}
