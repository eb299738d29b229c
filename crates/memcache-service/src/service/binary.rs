//! The binary commands, served by the same counted paths as the text and
//! meta commands (`fetch_counted`, `store_counted`, `delete_counted`,
//! `arithmetic_counted`, `touch_counted`, `flush_counted`, `write_stats`);
//! only the replies differ.
//!
//! As in memcached: a CAS in a Set, Add or Replace makes it a `cas` (store
//! only over that version, whatever the opcode); a quiet command is silent
//! on success, and a quiet retrieval on a miss too, but errors always reply.

use petrel_metrics::{ServerInfo, Timer};

use super::{Executor, Scratch, StatsWritten, note_store_failure};
use crate::expiry::Expiry;
use crate::store::{
    ArithmeticRequest, Counted, DeleteRequest, Deleted, FetchRequest, Fetched, Storage, StorageError,
    StoreMode, StoreRequest, Stored,
};
use petrel_protocol_memcache::binary::{
    BinaryCommand, BinaryReply, BinaryRequest, BinaryResponse, NO_VIVIFY, Opcode, Status,
};
use petrel_protocol_memcache::{Hit, Response, StoreCommand};

impl<S: Storage> Executor<S> {
    pub(super) fn binary<'s>(
        &mut self,
        scratch: &'s mut Scratch,
        server: &'s ServerInfo,
        request: BinaryRequest<'_>,
    ) -> Response<'s> {
        let BinaryRequest { opcode, opaque, cas, command } = request;
        let reply = match command {
            BinaryCommand::Get { key } => self.binary_get(scratch, opcode, key, None),
            BinaryCommand::Touch { key, exptime } if opcode == Opcode::Touch => {
                self.binary_touch(key, exptime)
            }
            BinaryCommand::Touch { key, exptime } => self.binary_get(scratch, opcode, key, Some(exptime)),
            BinaryCommand::Store { mode, key, flags, exptime, value } => {
                self.binary_store(mode, key, flags, exptime, value, cas)
            }
            BinaryCommand::TooLarge { mode, key } => self.binary_too_large(mode, key),
            BinaryCommand::Delete { key } => {
                let request = DeleteRequest { compare_cas: nonzero(cas), ..DeleteRequest::default() };
                match self.delete_counted(key, request) {
                    Ok(Deleted::Deleted) => BinaryReply::Done { cas: 0 },
                    Ok(Deleted::NotFound) => BinaryReply::Error(Status::KeyNotFound),
                    Ok(Deleted::Exists) => BinaryReply::Error(Status::KeyExists),
                    Err(error) => failed(error),
                }
            }
            BinaryCommand::Arithmetic { key, delta, initial, exptime } => {
                self.binary_arithmetic(opcode, key, delta, initial, exptime, cas)
            }
            BinaryCommand::Flush { delay } => match self.flush_counted(delay.into()) {
                Ok(()) => BinaryReply::Done { cas: 0 },
                Err(error) => failed(error),
            },
            BinaryCommand::Noop => BinaryReply::Done { cas: 0 },
            BinaryCommand::Version => BinaryReply::Version(&server.version),
            BinaryCommand::Quit => BinaryReply::Quit,
            BinaryCommand::Stat { group } => self.binary_stats(scratch, server, group),
        };
        let reply = match reply {
            BinaryReply::Done { .. } | BinaryReply::Counter { .. } | BinaryReply::Miss { .. }
                if opcode.quiet() =>
            {
                BinaryReply::Silent
            }
            reply => reply,
        };
        Response::Binary(BinaryResponse { opcode: opcode as u8, opaque, reply })
    }

    /// Get and GAT, with the counts of `get` and `gat`.
    fn binary_get<'s>(
        &mut self,
        scratch: &'s mut Scratch,
        opcode: Opcode,
        key: &[u8],
        exptime: Option<u32>,
    ) -> BinaryReply<'s> {
        let _timer = Timer::start(self.latencies.get.histogram());
        let now = self.clock.now();
        let touch = exptime.map(|exptime| Expiry::from_exptime(i64::from(exptime), now));
        let fetch = FetchRequest { touch, ..FetchRequest::default() };
        let hit = match self.fetch_counted(scratch, key, fetch, now) {
            Ok(hit) => hit,
            Err(error) => return failed(error),
        };
        match hit {
            Some(Hit { key: key_range, value, flags, cas }) => BinaryReply::Item {
                flags,
                cas,
                key: opcode.returns_key().then(|| &scratch.bytes[key_range]),
                value: &scratch.bytes[value],
            },
            // A GetK's miss carries the key back.
            None if opcode.returns_key() => {
                let key = scratch.push(key);
                BinaryReply::Miss { key: Some(&scratch.bytes[key]) }
            }
            None => BinaryReply::Miss { key: None },
        }
    }

    /// A value over the limit, dropped unread: as the text commands refuse
    /// it (a Set takes the old item with it).
    fn binary_too_large(&mut self, mode: StoreMode, key: &[u8]) -> BinaryReply<'static> {
        let command = match mode {
            StoreMode::Set => StoreCommand::Set,
            StoreMode::Add => StoreCommand::Add,
            StoreMode::Replace => StoreCommand::Replace,
            StoreMode::Append => StoreCommand::Append,
            StoreMode::Prepend => StoreCommand::Prepend,
        };
        self.refuse_too_large(key, Some(command));
        BinaryReply::Error(Status::ValueTooLarge)
    }

    /// Touch: a new expiration, and the item's flags in the reply.
    fn binary_touch(&mut self, key: &[u8], exptime: u32) -> BinaryReply<'static> {
        match self.touch_counted(key, exptime.into()) {
            Ok(Fetched::Hit(found)) => {
                BinaryReply::Item { flags: found.info.flags, cas: found.info.cas, key: None, value: &[] }
            }
            Ok(Fetched::Miss { .. }) => BinaryReply::Error(Status::KeyNotFound),
            Err(error) => failed(error),
        }
    }

    fn binary_store(
        &mut self,
        mode: StoreMode,
        key: &[u8],
        flags: u32,
        exptime: u32,
        value: &[u8],
        cas: u64,
    ) -> BinaryReply<'static> {
        let now = self.clock.now();
        let compare_cas = nonzero(cas);
        let request = StoreRequest {
            // With a CAS, a Set, Add or Replace is a `cas`.
            mode: match mode {
                StoreMode::Add | StoreMode::Replace if compare_cas.is_some() => StoreMode::Set,
                mode => mode,
            },
            flags,
            expiry: Expiry::from_exptime(exptime.into(), now),
            compare_cas,
            invalidate: false,
            new_cas: None,
            vivify: None,
            max_size: self.limits.max_value(key.len()),
        };
        match self.store_counted(key, value, request, now) {
            Ok(Stored::Stored { cas, .. }) => BinaryReply::Done { cas },
            Ok(Stored::Exists) => BinaryReply::Error(Status::KeyExists),
            Ok(Stored::NotFound) => BinaryReply::Error(Status::KeyNotFound),
            Ok(Stored::NotStored | Stored::TooLarge) => BinaryReply::Error(match request.mode {
                StoreMode::Add => Status::KeyExists,
                StoreMode::Replace => Status::KeyNotFound,
                _ => Status::NotStored,
            }),
            Err(error) => failed(error),
        }
    }

    fn binary_arithmetic(
        &mut self,
        opcode: Opcode,
        key: &[u8],
        delta: u64,
        initial: u64,
        exptime: u32,
        cas: u64,
    ) -> BinaryReply<'static> {
        let now = self.clock.now();
        let request = ArithmeticRequest {
            increment: opcode.loud() == Opcode::Increment,
            delta,
            compare_cas: nonzero(cas),
            new_cas: None,
            vivify: (exptime != NO_VIVIFY).then(|| (initial, Expiry::from_exptime(exptime.into(), now))),
            touch: None,
        };
        match self.arithmetic_counted(key, request) {
            Ok(Counted::Value(value, info)) => BinaryReply::Counter { value, cas: info.cas },
            Ok(Counted::NotFound) => BinaryReply::Error(Status::KeyNotFound),
            Ok(Counted::Exists) => BinaryReply::Error(Status::KeyExists),
            Ok(Counted::NonNumeric) => BinaryReply::Error(Status::NonNumeric),
            Err(error) => failed(error),
        }
    }

    /// Stat: the text protocol's groups, as packets; a group not known is
    /// `Not found`.
    fn binary_stats<'s>(
        &mut self,
        scratch: &'s mut Scratch,
        server: &ServerInfo,
        group: &[u8],
    ) -> BinaryReply<'s> {
        let mut words = group.splitn(2, |&byte| byte == b' ');
        let group = words.next().filter(|group| !group.is_empty());
        match self.write_stats(&mut scratch.bytes, server, group, words.next()) {
            Ok(StatsWritten::Lines) => BinaryReply::Stats(&scratch.bytes),
            Ok(StatsWritten::Reset | StatsWritten::Accepted) => BinaryReply::Stats(&[]),
            Err(_) => BinaryReply::Error(Status::KeyNotFound),
        }
    }
}

/// A request's CAS: 0 means none.
fn nonzero(cas: u64) -> Option<u64> {
    (cas != 0).then_some(cas)
}

/// The reply to a store that failed: memcached's `Out of memory` status,
/// with why as the message.
fn failed(error: StorageError) -> BinaryReply<'static> {
    note_store_failure(&error);
    BinaryReply::Failed { status: Status::OutOfMemory, message: error.reply }
}
