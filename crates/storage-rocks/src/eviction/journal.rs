//! The write journal: which keys were written when, kept beside the items
//! so that eviction can look at the items of the oldest file before it
//! goes.
//!
//! RocksDB drops its oldest table file whole and offers no way to read one
//! file's keys. So each worker notes the key and CAS of every item it
//! writes in a [`JournalBuffer`], and every few KiB of entries, every
//! thirty-second of a memtable of items, or every [`RECORD_AGE`], the
//! buffer goes into the worker's next batch as one record under a journal
//! key. A record is written with the items it names, so it lands in the
//! same memtable and, after the flush, in the same file as they do, and
//! leaves with that file. Journal keys sort after every item key (a run of
//! 0xff longer than any memcached key, then the record's position), so the
//! largest key of a file is its newest record: files are ordered by it,
//! and the records of the oldest file are read in order from where the
//! last pass stopped (`retirement.rs`).
//!
//! A worker that goes quiet leaves its buffer with the journal, which the
//! eviction thread writes out once it is [`RECORD_AGE`] old
//! ([`Journal::write_idle`]).
//!
//! The journal is a hint, not a log: a record lost in a crash, or one that
//! lands a file later than some of its items, only means those items are
//! evicted without being considered for reinsertion. No item key can be a
//! journal key: memcached keys are at most 250 bytes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use petrel_protocol_memcache::MAX_KEY_LEN;
use rocksdb::{DB, WriteBatch, WriteOptions};

/// What every journal key starts with: longer than any item key, and at
/// the end of the key space. `flush_all`'s range tombstone ends here.
pub(crate) const PREFIX: [u8; MAX_KEY_LEN + 1] = [0xff; MAX_KEY_LEN + 1];
/// A journal key: the prefix, then the record's position, big-endian.
pub(crate) type JournalKey = [u8; MAX_KEY_LEN + 1 + 8];

/// A buffer this large goes into the worker's next batch ...
const RECORD_BYTES: usize = 4 << 10;
/// ... and so does one naming a memtable divided by this of items, so
/// that every flushed file holds records ...
pub(crate) const RECORDS_PER_MEMTABLE: u64 = 32;
/// ... and so does one this old, so that a record stays close to its items.
const RECORD_AGE: Duration = Duration::from_millis(20);

/// The journal key of the record at `position`.
pub(crate) fn key(position: u64) -> JournalKey {
    let mut key = [0xff; MAX_KEY_LEN + 1 + 8];
    key[PREFIX.len()..].copy_from_slice(&position.to_be_bytes());
    key
}

/// The position of a journal key; `None` for an item key.
pub(crate) fn position(key: &[u8]) -> Option<u64> {
    let position = key.strip_prefix(&PREFIX[..])?;
    Some(u64::from_be_bytes(position.try_into().ok()?))
}

/// Whether `key` is a journal key rather than an item's.
pub(crate) fn is_journal(key: &[u8]) -> bool {
    key.len() > MAX_KEY_LEN
}

/// The entries of a record: each item's key and CAS.
pub(crate) fn entries(record: &[u8]) -> impl Iterator<Item = (&[u8], u64)> {
    let mut rest = record;
    std::iter::from_fn(move || {
        let (&len, tail) = rest.split_first()?;
        let (key, tail) = tail.split_at_checked(len as usize)?;
        let (cas, tail) = tail.split_at_checked(8)?;
        rest = tail;
        Some((key, u64::from_le_bytes(cas.try_into().expect("8 bytes"))))
    })
}

/// A worker's buffer, which the journal also holds.
pub(crate) type SharedBuffer = Arc<Mutex<JournalBuffer>>;

/// The journal of a store: positions of records, and every worker's buffer.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    next: AtomicU64,
    buffers: Mutex<Vec<SharedBuffer>>,
}

/// Locks a buffer whatever a panic left in it: the worst is a stray entry.
pub(crate) fn lock(buffer: &SharedBuffer) -> MutexGuard<'_, JournalBuffer> {
    buffer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Journal {
    /// Positions continue after `last`, the newest record on disk.
    pub(crate) fn continue_after(&self, last: Option<u64>) {
        self.next.store(last.map_or(0, |last| last + 1), Ordering::Release);
    }

    fn take(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// The position the next record takes.
    pub(crate) fn next(&self) -> u64 {
        self.next.load(Ordering::Relaxed)
    }

    /// A buffer for a new worker of a store whose memtables hold `memtable`
    /// bytes. The worker locks it once per batch; nobody else does but the
    /// eviction thread, every few dozen milliseconds.
    pub(crate) fn buffer(&self, memtable: u64) -> SharedBuffer {
        let buffer = Arc::new(Mutex::new(JournalBuffer::new(memtable)));
        self.buffers.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(buffer.clone());
        buffer
    }

    /// Writes out the buffers of workers that went quiet (and forgets those
    /// of workers that are gone), so that what they wrote is named too.
    pub(crate) fn write_idle(&self, db: &DB, options: &WriteOptions) {
        let mut idle = JournalBuffer::new(0);
        let mut buffers = self.buffers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        buffers.retain(|buffer| {
            let Ok(mut quiet) = buffer.try_lock() else { return true };
            if quiet.since.elapsed() >= RECORD_AGE {
                idle.entries.extend_from_slice(&quiet.entries);
                idle.item_bytes += quiet.item_bytes;
                quiet.clear();
            }
            Arc::strong_count(buffer) > 1
        });
        drop(buffers);
        // One record for them all.
        if let Some((key, record)) = idle.record(self) {
            let mut batch = WriteBatch::default();
            batch.put(key, record);
            if let Err(error) = db.write_opt(batch, options) {
                log::debug!("a journal record was not written: {error}");
            }
        }
    }
}

/// Items the store holds: entries of live files and memtables that are
/// not deletions, less the journal's records. Versions of a key not yet
/// merged away count each. (RocksDB's own estimate takes each deletion to
/// remove an entry, and probation's leave many more behind than that.)
pub(crate) fn count_items(db: &DB, journal: &Journal) -> u64 {
    let property = |name: &str| db.property_int_value(name).ok().flatten().unwrap_or(0);
    let in_files: u64 = db
        .live_files()
        .map(|files| {
            files
                .iter()
                .filter(|file| file.column_family_name == rocksdb::DEFAULT_COLUMN_FAMILY_NAME)
                .map(|file| file.num_entries.saturating_sub(file.num_deletions))
                .sum()
        })
        .unwrap_or(0);
    let in_memtables = (property("rocksdb.num-entries-active-mem-table")
        + property("rocksdb.num-entries-imm-mem-tables"))
    .saturating_sub(
        property("rocksdb.num-deletes-active-mem-table") + property("rocksdb.num-deletes-imm-mem-tables"),
    );
    (in_files + in_memtables).saturating_sub(journal.next().saturating_sub(oldest_record(db, journal)))
}

/// The position of the oldest journal record on disk (the next to be
/// written if there is none).
pub(crate) fn oldest_record(db: &DB, journal: &Journal) -> u64 {
    let mut records = db.raw_iterator();
    records.seek(PREFIX);
    records.key().and_then(position).unwrap_or(journal.next())
}

/// One worker's entries not yet in a record: reused, so that noting a
/// write allocates nothing in steady state.
#[derive(Debug)]
pub(crate) struct JournalBuffer {
    entries: Vec<u8>,
    since: Instant,
    /// Bytes of the items named.
    item_bytes: u64,
    /// A record is due once it names this many bytes of items.
    record_every: u64,
}

impl JournalBuffer {
    /// A buffer for a store whose memtables hold `memtable` bytes.
    pub(crate) fn new(memtable: u64) -> Self {
        Self {
            entries: Vec::with_capacity(RECORD_BYTES + MAX_KEY_LEN + 9),
            since: Instant::now(),
            item_bytes: 0,
            record_every: memtable / RECORDS_PER_MEMTABLE,
        }
    }

    /// Notes that the item under `key` with CAS `cas`, `len` bytes stored,
    /// is being written.
    pub(crate) fn note(&mut self, key: &[u8], cas: u64, len: usize) {
        if self.entries.is_empty() {
            self.since = Instant::now();
        }
        self.item_bytes += (key.len() + len) as u64;
        self.entries.push(key.len() as u8);
        self.entries.extend_from_slice(key);
        self.entries.extend_from_slice(&cas.to_le_bytes());
    }

    /// The record to add to the batch being written, if the buffer is due:
    /// its key and its entries. `clear` empties the buffer once added.
    pub(crate) fn due(&self, journal: &Journal) -> Option<(JournalKey, &[u8])> {
        let due = self.entries.len() >= RECORD_BYTES
            || self.item_bytes >= self.record_every
            || (!self.entries.is_empty() && self.since.elapsed() >= RECORD_AGE);
        if due { self.record(journal) } else { None }
    }

    /// The record of what the buffer holds, due or not; `None` if empty.
    pub(crate) fn record(&self, journal: &Journal) -> Option<(JournalKey, &[u8])> {
        if self.entries.is_empty() {
            return None;
        }
        Some((key(journal.take()), &self.entries[..]))
    }

    /// What the buffer holds, encoded as a record's entries.
    pub(crate) fn entries(&self) -> &[u8] {
        &self.entries
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.item_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_keys_sort_after_every_item_key_and_in_position_order() {
        let longest_item_key = [0xffu8; MAX_KEY_LEN];
        assert!(key(0).as_slice() > longest_item_key.as_slice());
        assert!(key(1) > key(0) && key(256) > key(255));
        assert_eq!(position(&key(77)), Some(77));
        assert_eq!(position(&longest_item_key), None);
        assert!(is_journal(&key(3)) && !is_journal(&longest_item_key));
    }

    #[test]
    fn a_buffer_is_due_once_large_enough_and_names_its_entries() {
        let positions = Journal::default();
        positions.continue_after(Some(9));
        let mut buffer = JournalBuffer::new(32 << 20);
        buffer.note(b"a", 1, 100);
        buffer.note(&[7u8; 250], u64::MAX, 100);
        assert!(buffer.due(&positions).is_none(), "small and young: not yet");
        while buffer.entries.len() < RECORD_BYTES {
            buffer.note(b"filler", 2, 100);
        }
        let (record_key, record) = buffer.due(&positions).expect("due");
        assert_eq!(position(&record_key), Some(10));
        let mut seen = entries(record);
        assert_eq!(seen.next(), Some((&b"a"[..], 1)));
        assert_eq!(seen.next(), Some((&[7u8; 250][..], u64::MAX)));
        assert!(seen.all(|entry| entry == (&b"filler"[..], 2)));
        drop(seen);
        buffer.clear();
        assert!(buffer.due(&positions).is_none());
        buffer.note(b"b", 3, 100);
        let (record_key, _) = buffer.record(&positions).expect("not empty");
        assert_eq!(position(&record_key), Some(11));
    }

    #[test]
    fn a_buffer_naming_a_thirty_second_of_a_memtable_of_items_is_due() {
        let positions = Journal::default();
        let mut buffer = JournalBuffer::new(32 << 20);
        buffer.note(b"big", 1, (1 << 20) - 10);
        assert!(buffer.due(&positions).is_none());
        buffer.note(b"small", 2, 10);
        assert!(buffer.due(&positions).is_some());
    }
}
