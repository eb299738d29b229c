//! Per-key locks, held by a worker from its first write to a key until the
//! commit that makes the write visible.
//!
//! A worker's writes wait in its batch until the round commits (see
//! `write.rs`), so a key written this round must stay locked until then:
//! another worker that read it and wrote would otherwise decide on the
//! value from before, and lose this one. Keys hash to one of [`STRIPES`]
//! locks (`key_hash.rs`); a worker keeps the stripes it took in [`HeldStripes`].
//!
//! **No deadlock.** A worker only blocks on a stripe while holding none:
//! when a stripe it wants is taken, it first commits its batch, which
//! releases every stripe it holds (`RocksStorage::lock_for_write`). Fills
//! of the item cache never block at all ([`FillLock`]).

use std::sync::Arc;

use parking_lot::RawMutex;
use parking_lot::lock_api::RawMutex as _;

/// Number of lock stripes. Each costs one byte; many make it rare that two
/// workers' rounds want the same one.
pub const STRIPES: usize = 1 << 14;

/// The stripes of one store.
#[derive(Clone)]
pub(crate) struct Stripes(Arc<[RawMutex]>);

impl Stripes {
    pub(crate) fn new() -> Self {
        Self((0..STRIPES).map(|_| RawMutex::INIT).collect())
    }

    /// Takes `stripe` for a fill if no one holds it: `None` when another
    /// worker does, and the fill must be skipped.
    pub(crate) fn try_fill(&self, stripe: usize) -> Option<FillLock<'_>> {
        self.0[stripe].try_lock().then(|| FillLock { lock: &self.0[stripe] })
    }
}

/// A stripe taken for one fill, released when dropped.
pub(crate) struct FillLock<'a> {
    lock: &'a RawMutex,
}

impl Drop for FillLock<'_> {
    fn drop(&mut self) {
        // SAFETY: the lock was taken when this guard was made.
        unsafe { self.lock.unlock() }
    }
}

/// The stripes one worker holds, released together at its commit, or when
/// the worker is dropped.
pub(crate) struct HeldStripes {
    stripes: Stripes,
    /// Held stripes, in the order taken, and the same as one bit each.
    held: Vec<u16>,
    bits: Box<[u64]>,
}

impl HeldStripes {
    pub(crate) fn new(stripes: Stripes) -> Self {
        Self { stripes, held: Vec::new(), bits: vec![0; STRIPES / 64].into_boxed_slice() }
    }

    /// Whether this worker holds `stripe`.
    pub(crate) fn holds(&self, stripe: usize) -> bool {
        self.bits[stripe / 64] & (1 << (stripe % 64)) != 0
    }

    /// Whether this worker holds any stripe.
    pub(crate) fn any(&self) -> bool {
        !self.held.is_empty()
    }

    /// Takes `stripe` if it is free; false when another worker holds it.
    pub(crate) fn try_take(&mut self, stripe: usize) -> bool {
        debug_assert!(!self.holds(stripe));
        let taken = self.stripes.0[stripe].try_lock();
        if taken {
            self.note(stripe);
        }
        taken
    }

    /// Takes `stripe`, waiting for its holder's commit. Only with no stripe
    /// held, so that two workers can never wait on each other.
    pub(crate) fn take_waiting(&mut self, stripe: usize) {
        assert!(!self.any(), "a worker waits for a stripe only when it holds none");
        self.stripes.0[stripe].lock();
        self.note(stripe);
    }

    fn note(&mut self, stripe: usize) {
        self.bits[stripe / 64] |= 1 << (stripe % 64);
        self.held.push(stripe as u16);
    }

    /// Releases every stripe held.
    pub(crate) fn release_all(&mut self) {
        for stripe in self.held.drain(..) {
            let stripe = stripe as usize;
            self.bits[stripe / 64] &= !(1 << (stripe % 64));
            // SAFETY: the stripe was taken by `try_take` or `take_waiting`
            // and is released only here, once.
            unsafe { self.stripes.0[stripe].unlock() }
        }
    }
}

impl Drop for HeldStripes {
    fn drop(&mut self) {
        self.release_all();
    }
}

impl std::fmt::Debug for HeldStripes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldStripes").field("held", &self.held.len()).finish()
    }
}
