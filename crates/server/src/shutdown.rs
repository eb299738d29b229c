//! The signal that tells every thread to stop.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use mio::Waker;
use std::sync::Arc;

/// A stop flag plus the wakers of the threads that wait on it.
#[derive(Default)]
pub struct Shutdown {
    triggered: AtomicBool,
    /// Registered once per thread at startup; the lock is taken only then and
    /// at shutdown, never on the request path.
    wakers: Mutex<Vec<Arc<Waker>>>,
}

impl Shutdown {
    /// Whether shutdown has been asked for.
    pub fn is_triggered(&self) -> bool {
        self.triggered.load(Ordering::Acquire)
    }

    /// Asks every thread to stop, waking those blocked in `poll`.
    pub fn trigger(&self) {
        self.triggered.store(true, Ordering::Release);
        for waker in self.wakers.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            if let Err(error) = waker.wake() {
                log::warn!("cannot wake a thread for shutdown: {error}");
            }
        }
    }

    /// Registers a thread's waker, to be woken on [`trigger`](Self::trigger).
    pub(crate) fn register(&self, waker: Arc<Waker>) {
        self.wakers.lock().unwrap_or_else(|e| e.into_inner()).push(waker);
    }
}
