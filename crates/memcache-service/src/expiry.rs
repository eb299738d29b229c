//! When items expire: memcached's exptime rules and the clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Relative expiration times up to this many seconds (30 days); larger ones
/// are absolute Unix times, as in memcached.
pub const MAX_RELATIVE_EXPTIME: i64 = 60 * 60 * 24 * 30;

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Where a service reads the time, in whole seconds as memcached does.
///
/// Servers use the system's clock. Tests use a manual one, so that a reply
/// giving the seconds an item has left does not depend on whether a second
/// ticked between two requests, and so that time can pass at once.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The system's clock: [`unix_now`].
    #[default]
    System,
    /// A clock that moves only when told, shared by its clones.
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// A manual clock showing `seconds` since the Unix epoch.
    pub fn manual(seconds: u64) -> Self {
        Self::Manual(Arc::new(AtomicU64::new(seconds)))
    }

    /// Seconds since the Unix epoch, now.
    pub fn now(&self) -> u64 {
        match self {
            Self::System => unix_now(),
            Self::Manual(seconds) => seconds.load(Ordering::Relaxed),
        }
    }

    /// Moves a manual clock `seconds` forward.
    ///
    /// # Panics
    /// On the system's clock, which no one can move.
    pub fn advance(&self, seconds: u64) {
        match self {
            Self::System => panic!("the system's clock cannot be moved"),
            Self::Manual(now) => {
                now.fetch_add(seconds, Ordering::Relaxed);
            }
        }
    }
}

/// When an item expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expiry {
    /// Never.
    Never,
    /// At this Unix time; from then on the item is gone.
    At(u64),
}

impl Expiry {
    /// memcached's rules for an exptime sent at `now`: 0 never expires; a
    /// negative value has already expired; up to 30 days is relative; more is
    /// an absolute Unix time.
    pub fn from_exptime(exptime: i64, now: u64) -> Self {
        match exptime {
            0 => Expiry::Never,
            e if e < 0 => Expiry::At(0),
            e if e <= MAX_RELATIVE_EXPTIME => Expiry::At(now + e as u64),
            e => Expiry::At(e as u64),
        }
    }

    /// Whether the item is gone at `now`.
    pub fn is_expired(self, now: u64) -> bool {
        match self {
            Expiry::Never => false,
            Expiry::At(at) => at <= now,
        }
    }

    /// Seconds left at `now`, or -1 for never (the meta `t` flag).
    pub fn ttl(self, now: u64) -> i64 {
        match self {
            Expiry::Never => -1,
            Expiry::At(at) => at.saturating_sub(now) as i64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exptime_follows_memcached() {
        let now = 1_700_000_000;
        assert_eq!(Expiry::from_exptime(0, now), Expiry::Never);
        assert_eq!(Expiry::from_exptime(10, now), Expiry::At(now + 10));
        assert_eq!(
            Expiry::from_exptime(MAX_RELATIVE_EXPTIME, now),
            Expiry::At(now + MAX_RELATIVE_EXPTIME as u64)
        );
        assert_eq!(
            Expiry::from_exptime(MAX_RELATIVE_EXPTIME + 1, now),
            Expiry::At(MAX_RELATIVE_EXPTIME as u64 + 1)
        );
        assert!(
            Expiry::from_exptime(MAX_RELATIVE_EXPTIME + 1, now).is_expired(now),
            "an absolute time in the past"
        );
        assert!(Expiry::from_exptime(-1, now).is_expired(now));
        assert_eq!(Expiry::from_exptime(now as i64 + 100, now).ttl(now), 100);
        assert_eq!(Expiry::Never.ttl(now), -1);
    }
}
