//! The classic text commands (retrievals are in `retrieval.rs`): the six
//! storage commands, `delete`, `incr`/`decr`, `touch` and `flush_all`.

use petrel_metrics::Timer;

use super::{Executor, quiet_if, store_failed};
use crate::expiry::Expiry;
use crate::store::{
    ArithmeticRequest, Counted, DeleteRequest, Deleted, FetchRequest, Fetched, Storage, StorageError,
    StoreMode, StoreRequest, Stored,
};
use petrel_protocol_memcache::{Error, Key, Response, StoreCommand};

impl<S: Storage> Executor<S> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn store(
        &mut self,
        command: StoreCommand,
        key: &[u8],
        flags: u32,
        exptime: i64,
        value: &[u8],
        cas: u64,
        noreply: bool,
    ) -> Response<'static> {
        let now = self.clock.now();
        let mode = match command {
            StoreCommand::Set | StoreCommand::Cas => StoreMode::Set,
            StoreCommand::Add => StoreMode::Add,
            StoreCommand::Replace => StoreMode::Replace,
            StoreCommand::Append => StoreMode::Append,
            StoreCommand::Prepend => StoreMode::Prepend,
        };
        let request = StoreRequest {
            mode,
            flags,
            expiry: Expiry::from_exptime(exptime, now),
            compare_cas: (command == StoreCommand::Cas).then_some(cas),
            invalidate: false,
            new_cas: None,
            vivify: None,
            max_size: self.limits.max_value(key.len()),
        };
        let response = match self.store_counted(key, value, request, now) {
            Ok(Stored::Stored { .. }) => Response::Stored,
            Ok(Stored::NotStored) => Response::NotStored,
            Ok(Stored::Exists) => Response::Exists,
            Ok(Stored::NotFound) => Response::NotFound,
            Ok(Stored::TooLarge) => Response::Error(Error::Server("out of memory storing object")),
            Err(error) => store_failed(error),
        };
        quiet_if(noreply, response)
    }

    /// Stores, counting the store as memcached does. A plain set that
    /// fails takes the old item with it, as in memcached, so that the
    /// application never reads the value it meant to replace.
    pub(super) fn store_counted(
        &mut self,
        key: &[u8],
        value: &[u8],
        request: StoreRequest,
        now: u64,
    ) -> Result<Stored, StorageError> {
        let _timer = Timer::start(self.latencies.set.histogram());
        self.counts.cmd_set += 1;
        let stored = self.storage.store(&mut self.worker, key, value, request, now);
        self.log_store(key, value.len(), &request, &stored, now);
        match stored {
            Ok(Stored::Stored { .. }) if request.compare_cas.is_some() => self.counts.cas_hits += 1,
            Ok(Stored::Exists) => self.counts.cas_badval += 1,
            Ok(Stored::NotFound) => self.counts.cas_misses += 1,
            Ok(Stored::TooLarge) => self.counts.store_too_large += 1,
            Err(_) if request.mode == StoreMode::Set && request.compare_cas.is_none() => {
                self.unlink_after_failed_set(key)
            }
            _ => {}
        }
        stored
    }

    /// A value over the size limit, refused unread. As memcached, a `set`
    /// or `ms` that fails takes the old item with it, so that the
    /// application never reads the value it meant to replace.
    pub(super) fn too_large(
        &mut self,
        key: Key<'_>,
        command: Option<StoreCommand>,
        noreply: bool,
    ) -> Response<'static> {
        self.refuse_too_large(&key, command);
        quiet_if(noreply, Response::Error(Error::TooLarge))
    }

    /// Counts a value refused for its size; for a `set` or `ms` (`None`),
    /// unlinks the old item.
    pub(super) fn refuse_too_large(&mut self, key: &[u8], command: Option<StoreCommand>) {
        self.counts.store_too_large += 1;
        if matches!(command, None | Some(StoreCommand::Set)) {
            self.unlink_after_failed_set(key);
        }
    }

    pub(super) fn unlink_after_failed_set(&mut self, key: &[u8]) {
        // When this fails too (a full disk, a stall), the old value stays.
        if let Err(error) =
            self.storage.delete(&mut self.worker, key, DeleteRequest::default(), self.clock.now())
        {
            super::log_store_failure(&error);
        }
    }

    pub(super) fn delete(&mut self, key: &[u8], noreply: bool) -> Response<'static> {
        let response = match self.delete_counted(key, DeleteRequest::default()) {
            Ok(Deleted::Deleted) => Response::Deleted,
            Ok(_) => Response::NotFound,
            Err(error) => store_failed(error),
        };
        quiet_if(noreply, response)
    }

    /// Deletes, counting hits and misses.
    pub(super) fn delete_counted(
        &mut self,
        key: &[u8],
        request: DeleteRequest,
    ) -> Result<Deleted, StorageError> {
        let _timer = Timer::start(self.latencies.delete.histogram());
        let deleted = self.storage.delete(&mut self.worker, key, request, self.clock.now());
        match deleted {
            Ok(Deleted::Deleted) => self.counts.delete_hits += 1,
            Ok(Deleted::NotFound) => self.counts.delete_misses += 1,
            _ => {}
        }
        deleted
    }

    pub(super) fn arithmetic(
        &mut self,
        key: &[u8],
        delta: u64,
        increment: bool,
        noreply: bool,
    ) -> Response<'static> {
        let request = ArithmeticRequest {
            increment,
            delta,
            compare_cas: None,
            new_cas: None,
            vivify: None,
            touch: None,
        };
        let response = match self.arithmetic_counted(key, request) {
            Ok(Counted::Value(value, _)) => Response::Number(value),
            Ok(Counted::NotFound | Counted::Exists) => Response::NotFound,
            Ok(Counted::NonNumeric) => Response::Error(Error::NonNumeric),
            Err(error) => store_failed(error),
        };
        quiet_if(noreply, response)
    }

    /// Increments or decrements, counting hits and misses.
    pub(super) fn arithmetic_counted(
        &mut self,
        key: &[u8],
        request: ArithmeticRequest,
    ) -> Result<Counted, StorageError> {
        let _timer = Timer::start(self.latencies.arithmetic.histogram());
        let counted = self.storage.arithmetic(&mut self.worker, key, request, self.clock.now());
        match counted {
            Ok(Counted::Value(..)) => self.counts.arithmetic(request.increment, true),
            Ok(Counted::NotFound) => self.counts.arithmetic(request.increment, false),
            _ => {}
        }
        counted
    }

    pub(super) fn touch(&mut self, key: &[u8], exptime: i64, noreply: bool) -> Response<'static> {
        let response = match self.touch_counted(key, exptime) {
            Ok(Fetched::Hit(_)) => Response::Touched,
            Ok(Fetched::Miss { .. }) => Response::NotFound,
            Err(error) => store_failed(error),
        };
        quiet_if(noreply, response)
    }

    /// Sets an item's expiry, counting hits and misses.
    pub(super) fn touch_counted(&mut self, key: &[u8], exptime: i64) -> Result<Fetched, StorageError> {
        let _timer = Timer::start(self.latencies.touch.histogram());
        self.counts.cmd_touch += 1;
        let now = self.clock.now();
        let fetch =
            FetchRequest { touch: Some(Expiry::from_exptime(exptime, now)), ..FetchRequest::default() };
        let fetched = self.storage.fetch(&mut self.worker, key, fetch, None, now);
        match fetched {
            Ok(Fetched::Hit(_)) => self.counts.touch_hits += 1,
            Ok(Fetched::Miss { .. }) => self.counts.touch_misses += 1,
            Err(_) => {}
        }
        fetched
    }

    pub(super) fn flush_all(&mut self, delay: i64, noreply: bool) -> Response<'static> {
        let response = match self.flush_counted(delay) {
            Ok(()) => Response::Ok,
            Err(error) => store_failed(error),
        };
        quiet_if(noreply, response)
    }

    /// Flushes every item stored before `delay` has passed, counted.
    pub(super) fn flush_counted(&mut self, delay: i64) -> Result<(), StorageError> {
        self.counts.cmd_flush += 1;
        let now = self.clock.now();
        // memcached's `oldest_live` is the flush time less a second, and
        // takes effect once reached: a delay of 1 is now, one of 2 a second
        // from now.
        let at = match Expiry::from_exptime(delay, now) {
            Expiry::At(at) if delay > 1 => at.saturating_sub(1).max(now),
            _ => now,
        };
        self.storage.flush_all(&mut self.worker, at, now)
    }
}
