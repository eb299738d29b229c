//! The service's side of `watch`: starting a watcher, and the `item_get`
//! and `item_store` lines its requests log while anyone watches.

use petrel_protocol::ConnectionEvent;

use super::{Executor, quiet_if};
use crate::expiry::Expiry;
use crate::store::{Storage, StorageError, StoreMode, StoreRequest, Stored};
use petrel_protocol_memcache::{Error, Response, WatchKinds};

impl<S: Storage> Executor<S> {
    /// `watch`: `OK`, then the session streams the log to this connection.
    pub(super) fn watch(&mut self, kinds: WatchKinds, noreply: bool) -> Response<'static> {
        match self.watchers.watch(kinds, self.max_watchers) {
            Some(stream) => {
                self.unfinished = Some(stream);
                quiet_if(noreply, Response::Ok)
            }
            None => Response::Error(Error::TooManyWatchers),
        }
    }

    /// Logs a key looked up: `size` is the value's length when found.
    pub(super) fn log_fetch(&mut self, key: &[u8], size: Option<usize>) {
        if !self.watch_log.wants(WatchKinds::FETCHERS) {
            return;
        }
        self.watch_log.publish(WatchKinds::FETCHERS, |line| {
            line.text(b"type=item_get key=").key(key);
            match size {
                Some(size) => line.text(b" status=found clsid=1 cfd=0 size=").number(size as u64),
                None => line.text(b" status=not_found clsid=0 cfd=0 size=0"),
            };
        });
    }

    /// Logs a storage request and how it went; `sent` is the value's size
    /// as sent (the size logged unless an append made a larger item).
    pub(super) fn log_store(
        &mut self,
        key: &[u8],
        sent: usize,
        request: &StoreRequest,
        stored: &Result<Stored, StorageError>,
        now: u64,
    ) {
        if !self.watch_log.wants(WatchKinds::MUTATIONS) {
            return;
        }
        let status: &[u8] = match stored {
            Ok(Stored::Stored { .. }) => b"stored",
            Ok(Stored::NotStored) => b"not_stored",
            Ok(Stored::Exists) => b"exists",
            Ok(Stored::NotFound) => b"not_found",
            Ok(Stored::TooLarge) => b"too_large",
            Err(_) => b"error",
        };
        let command: &[u8] = match (request.compare_cas, request.mode) {
            (Some(_), _) => b"cas",
            (None, StoreMode::Set) => b"set",
            (None, StoreMode::Add) => b"add",
            (None, StoreMode::Replace) => b"replace",
            (None, StoreMode::Append) => b"append",
            (None, StoreMode::Prepend) => b"prepend",
        };
        let size = match stored {
            Ok(Stored::Stored { size, .. }) => *size,
            _ => sent as u64,
        };
        let ttl = match request.expiry {
            Expiry::Never => 0,
            Expiry::At(at) => at.saturating_sub(now),
        };
        self.watch_log.publish(WatchKinds::MUTATIONS, |line| {
            line.text(b"type=item_store key=").key(key).text(b" status=").text(status);
            line.text(b" cmd=").text(command).text(b" ttl=").number(ttl);
            line.text(b" clsid=1 cfd=0 size=").number(size);
        });
    }

    /// Logs a client connection opening or closing (`connevents`).
    pub(super) fn log_connection(&mut self, event: ConnectionEvent) {
        if !self.watch_log.wants(WatchKinds::CONNEVENTS) {
            return;
        }
        self.watch_log.publish(WatchKinds::CONNEVENTS, |line| {
            line.text(if event.closed.is_some() { b"type=conn_close" } else { b"type=conn_new" });
            let mut address = [0u8; 64];
            let ip = {
                use std::io::Write;
                let mut cursor = &mut address[..];
                let _ = write!(cursor, "{}", event.peer.ip());
                64 - cursor.len()
            };
            line.text(b" rip=").text(&address[..ip]).text(b" rport=").number(u64::from(event.peer.port()));
            line.text(if event.tls { b" transport=tls" } else { b" transport=tcp" });
            if let Some(reason) = event.closed {
                line.text(b" reason=").text(reason.name().as_bytes());
            }
            line.text(b" cfd=0");
        });
    }
}
