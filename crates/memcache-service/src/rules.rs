//! memcached's item rules, once: pure decisions over an item's metadata.
//!
//! Whether a `cas` may store, what an `append` keeps, which `mg` wins the
//! right to recache a stale item, what `incr` does to a counter: every
//! backend applies these functions and supplies only what they cannot know
//! (reading, locking and writing the item, and handing out CAS values), so
//! that no backend holds memcached decision logic of its own and two
//! backends cannot disagree.
//!
//! A decision that writes leaves the CAS value for the backend to fill in
//! ([`ItemMeta::cas`] is then 0): CAS values are handed out only for writes
//! that happen.

use petrel_protocol_memcache::StoreMode;
use petrel_protocol_memcache::number::{Counter, next_counter};

use crate::expiry::Expiry;
use crate::store::{
    ArithmeticRequest, Counted, DeleteRequest, Deleted, FetchRequest, Found, ItemMeta, StoreRequest, Stored,
};

/// A fetch rewrites an item's access time at most this often (memcached's
/// `ITEM_UPDATE_INTERVAL`), so that reads of a hot item do not each write.
pub const ACCESS_UPDATE_INTERVAL: u64 = 60;

/// What an item stored under a key is to the protocol at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// There.
    Live,
    /// Past its expiry (counted in `get_expired`).
    Expired,
    /// Invalidated by a `flush_all` with a delay that has come.
    Flushed,
}

/// Whether the item is there at `now`, given the time before which a
/// delayed `flush_all` invalidates items (0 for none).
pub fn liveness(meta: &ItemMeta, now: u64, flushed_before: u64) -> Liveness {
    if meta.expiry.is_expired(now) {
        Liveness::Expired
    } else if flushed_before <= now && meta.stored_at < flushed_before {
        Liveness::Flushed
    } else {
        Liveness::Live
    }
}

/// What a fetch does to a live item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchOutcome {
    /// The item's metadata after the fetch; the backend writes it back when
    /// it differs from what was read.
    pub meta: ItemMeta,
    /// The answer.
    pub found: Found,
}

/// A fetch of a live item with a value of `size` bytes. `track_access`
/// says whether the backend records reads (`h`, `l`, `me`'s `fetch`).
pub fn fetch(
    read: &ItemMeta,
    size: usize,
    fetch: &FetchRequest,
    now: u64,
    track_access: bool,
) -> FetchOutcome {
    let mut meta = *read;
    if let Some(expiry) = fetch.touch {
        meta.expiry = expiry;
    }
    let ttl = meta.expiry.ttl(now);
    let wants_win = meta.stale
        || size == 0 && fetch.vivify.is_some()
        || matches!(fetch.recache_below, Some(below) if ttl != -1 && ttl < below);
    let (won, already_won) = match (wants_win, meta.win_sent) {
        (false, _) => (false, false),
        (true, true) => (false, true),
        (true, false) => {
            meta.win_sent = true;
            (true, false)
        }
    };
    let access_due = !meta.fetched || now >= meta.last_access + ACCESS_UPDATE_INTERVAL;
    if track_access && !fetch.no_bump && access_due {
        meta.fetched = true;
        meta.last_access = now;
    }
    let mut found = read.found(size, won, already_won, now);
    found.info.expiry = meta.expiry;
    FetchOutcome { meta, found }
}

/// A fetch that found nothing, and asked to create the item (meta `N`):
/// an empty item (its CAS to fill in) whose creator has won the right to
/// fill it, answered `meta.found(0, true, false, now)`.
pub fn vivified(expiry: Expiry, now: u64) -> ItemMeta {
    ItemMeta { win_sent: true, ..ItemMeta::new(0, expiry, now) }
}

/// Where a store's new value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewValue {
    /// The request's data.
    Data,
    /// The old value, then the data.
    Append,
    /// The data, then the old value.
    Prepend,
}

/// What a store request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreDecision {
    /// Nothing is written; the answer.
    Refuse(Stored),
    /// Write an item with this metadata (its CAS to fill in) and value,
    /// `size` bytes long.
    Write {
        /// The new item's metadata.
        meta: ItemMeta,
        /// Its value.
        value: NewValue,
        /// The value's length.
        size: usize,
    },
}

/// Whether [`store`] needs the item that is there: a plain `set` does not,
/// so a backend may skip reading it.
pub fn store_reads_existing(request: &StoreRequest) -> bool {
    request.mode != StoreMode::Set || request.compare_cas.is_some()
}

/// A store of `data_len` bytes over `existing` (the live item and its
/// value's length, if any).
pub fn store(
    existing: Option<(&ItemMeta, usize)>,
    request: &StoreRequest,
    data_len: usize,
    now: u64,
) -> StoreDecision {
    let refuse = StoreDecision::Refuse;
    let mut stale = false;
    let concatenates = matches!(request.mode, StoreMode::Append | StoreMode::Prepend);
    match (existing, request.compare_cas) {
        // An append or prepend to nothing is not stored, whatever its CAS.
        (None, Some(_)) if !concatenates => return refuse(Stored::NotFound),
        // An invalidating set (meta `I`) with an older CAS stores, stale.
        (Some((meta, _)), Some(cas)) if meta.cas != cas => {
            if request.invalidate && cas < meta.cas {
                stale = true;
            } else {
                return refuse(Stored::Exists);
            }
        }
        _ => {}
    }
    let (flags, expiry, value, size) = match (request.mode, existing) {
        (StoreMode::Add, Some(_)) | (StoreMode::Replace, None) => return refuse(Stored::NotStored),
        (StoreMode::Append | StoreMode::Prepend, None) => match request.vivify {
            Some(expiry) => (request.flags, expiry, NewValue::Data, data_len),
            None => return refuse(Stored::NotStored),
        },
        (StoreMode::Append, Some((meta, len))) => (meta.flags, meta.expiry, NewValue::Append, len + data_len),
        (StoreMode::Prepend, Some((meta, len))) => {
            (meta.flags, meta.expiry, NewValue::Prepend, len + data_len)
        }
        (StoreMode::Set | StoreMode::Add | StoreMode::Replace, _) => {
            (request.flags, request.expiry, NewValue::Data, data_len)
        }
    };
    if size > request.max_size {
        return refuse(Stored::TooLarge);
    }
    let meta = ItemMeta { stale, ..ItemMeta::new(flags, expiry, now) };
    StoreDecision::Write { meta, value, size }
}

/// What a delete request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteDecision {
    /// Nothing changes; the answer.
    Refuse(Deleted),
    /// The item goes.
    Remove,
    /// The item stays with this metadata (its CAS to fill in): invalidated
    /// (meta `I`) and/or emptied (meta `x`, `keep_value` false).
    Rewrite {
        /// The item's new metadata.
        meta: ItemMeta,
        /// Whether the value stays.
        keep_value: bool,
    },
}

/// A delete of the live item `meta`.
pub fn delete(meta: &ItemMeta, request: &DeleteRequest) -> DeleteDecision {
    if matches!(request.compare_cas, Some(cas) if cas != meta.cas) {
        return DeleteDecision::Refuse(Deleted::Exists);
    }
    if !(request.invalidate || request.remove_value) {
        return DeleteDecision::Remove;
    }
    let mut meta = ItemMeta { cas: 0, ..*meta };
    if request.invalidate {
        meta.stale = true;
        meta.win_sent = false;
        if let Some(expiry) = request.touch {
            meta.expiry = expiry;
        }
    }
    DeleteDecision::Rewrite { meta, keep_value: !request.remove_value }
}

/// What an `incr`/`decr` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithmeticDecision {
    /// Nothing changes; the answer.
    Refuse(Counted),
    /// Write the counter with this metadata (its CAS to fill in).
    Write {
        /// The item's new metadata.
        meta: ItemMeta,
        /// The new value, and how it is stored.
        counter: Counter,
    },
}

/// Arithmetic on the live item `meta` whose value is `value`, or on a miss
/// (`None`), which creates the counter if the request says so (meta `N`).
pub fn arithmetic(
    item: Option<(&ItemMeta, &[u8])>,
    request: &ArithmeticRequest,
    now: u64,
) -> ArithmeticDecision {
    let Some((meta, value)) = item else {
        return match request.vivify {
            Some((initial, expiry)) => ArithmeticDecision::Write {
                meta: ItemMeta::new(0, expiry, now),
                counter: Counter::fresh(initial),
            },
            None => ArithmeticDecision::Refuse(Counted::NotFound),
        };
    };
    if matches!(request.compare_cas, Some(cas) if cas != meta.cas) {
        return ArithmeticDecision::Refuse(Counted::Exists);
    }
    let Some(counter) = next_counter(value, request.increment, request.delta) else {
        return ArithmeticDecision::Refuse(Counted::NonNumeric);
    };
    let mut meta = ItemMeta { cas: 0, stored_at: now, ..*meta };
    if let Some(expiry) = request.touch {
        meta.expiry = expiry;
    }
    ArithmeticDecision::Write { meta, counter }
}

#[cfg(test)]
mod tests;
