//! Whether RocksDB's files or memtables changed since a thread last looked:
//! the store's threads look often while the store is written, so that a
//! flush is followed within milliseconds, seldom once it has been quiet
//! for a while, and work only when something changed, so that an idle
//! store costs next to nothing.

use std::time::{Duration, Instant};

use rocksdb::DB;

/// Looks this often while the store changes ...
const BUSY_INTERVAL: Duration = Duration::from_millis(10);
/// ... this often once nothing changed for [`QUIET_AFTER`] (a wake-up
/// costs tens of microseconds on a virtual machine) ...
const QUIET_INTERVAL: Duration = Duration::from_millis(100);
const QUIET_AFTER: Duration = Duration::from_secs(1);

/// RocksDB installs a new "super version" (the memtables and files a read
/// sees) on every memtable switch, flush and merge, and numbers them.
const SUPER_VERSION: &str = "rocksdb.current-super-version-number";

/// The super version a thread saw last.
pub(crate) struct VersionWatch {
    seen: Option<u64>,
    changed_at: Instant,
}

impl Default for VersionWatch {
    fn default() -> Self {
        Self { seen: None, changed_at: Instant::now() }
    }
}

impl VersionWatch {
    /// How long to wait before the next look.
    pub(crate) fn interval(&self) -> Duration {
        if self.changed_at.elapsed() < QUIET_AFTER { BUSY_INTERVAL } else { QUIET_INTERVAL }
    }

    /// Whether the items family changed since the last call (always, the
    /// first time, and when RocksDB cannot say).
    pub(crate) fn changed(&mut self, db: &DB) -> bool {
        let now = db.property_int_value(SUPER_VERSION).ok().flatten();
        let changed = now.is_none() || now != self.seen;
        self.seen = now;
        if changed {
            self.changed_at = Instant::now();
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flush_is_a_change_and_a_look_without_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let db = DB::open_default(dir.path()).unwrap();
        let mut watch = VersionWatch::default();
        assert!(watch.changed(&db), "the first look");
        assert!(!watch.changed(&db), "nothing happened");
        db.put(b"key", b"value").unwrap();
        assert!(!watch.changed(&db), "a write within the memtable changes no version");
        db.flush().unwrap();
        assert!(watch.changed(&db), "a flush");
        assert!(!watch.changed(&db));
    }

    #[test]
    fn a_quiet_store_is_looked_at_seldom_and_a_change_brings_the_looks_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = DB::open_default(dir.path()).unwrap();
        let mut watch = VersionWatch { seen: None, changed_at: Instant::now() - QUIET_AFTER };
        assert_eq!(watch.interval(), QUIET_INTERVAL, "quiet for a second");
        assert!(watch.changed(&db));
        assert_eq!(watch.interval(), BUSY_INTERVAL, "just changed");
    }
}
