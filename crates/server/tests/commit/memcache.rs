//! Memcache, over the in-memory store wrapped so that its commit can be made
//! to fail: a failed commit costs each write it would have made durable a
//! `SERVER_ERROR`, not the connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use petrel_memcache_service::{
    ArithmeticRequest, Counted, DeleteRequest, Deleted, FetchRequest, Fetched, ItemCursor, MemcacheService,
    MemoryStorage, Storage, StorageError, StorageStats, StoreRequest, Stored, Watchers,
};
use petrel_metrics::ServerInfo;
use petrel_protocol_admin::AdminService;
use petrel_protocol_memcache::{Limits, Memcache};
use petrel_testkit::Client;

use crate::one_worker_on_free_ports;

/// The in-memory store, counting each worker's writes, with a commit that
/// fails as many times as `failures` says once `successes` more have
/// passed, and a read of the key `gate` that waits until the gate opens.
#[derive(Default)]
struct FailingCommit {
    store: MemoryStorage,
    successes: Arc<AtomicU64>,
    failures: Arc<AtomicU64>,
    gate: Arc<Gate>,
}

/// Holds the worker inside a request, so that input for several
/// connections gathers and is served in its next round.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn pass(&self) {
        let open = self.open.lock().unwrap();
        drop(self.opened.wait_while(open, |open| !*open).unwrap());
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

impl Storage for FailingCommit {
    type Worker = u64;

    fn worker(&self) -> u64 {
        0
    }

    fn fetch(
        &self,
        _: &mut u64,
        key: &[u8],
        fetch: FetchRequest,
        value: Option<&mut Vec<u8>>,
        now: u64,
    ) -> Result<Fetched, StorageError> {
        if key == b"gate" {
            self.gate.pass();
        }
        self.store.fetch(&mut (), key, fetch, value, now)
    }

    fn store(
        &self,
        writes: &mut u64,
        key: &[u8],
        value: &[u8],
        request: StoreRequest,
        now: u64,
    ) -> Result<Stored, StorageError> {
        let stored = self.store.store(&mut (), key, value, request, now)?;
        *writes += matches!(stored, Stored::Stored { .. }) as u64;
        Ok(stored)
    }

    fn delete(
        &self,
        writes: &mut u64,
        key: &[u8],
        request: DeleteRequest,
        now: u64,
    ) -> Result<Deleted, StorageError> {
        let deleted = self.store.delete(&mut (), key, request, now)?;
        *writes += (deleted == Deleted::Deleted) as u64;
        Ok(deleted)
    }

    fn arithmetic(
        &self,
        writes: &mut u64,
        key: &[u8],
        request: ArithmeticRequest,
        now: u64,
    ) -> Result<Counted, StorageError> {
        let counted = self.store.arithmetic(&mut (), key, request, now)?;
        *writes += matches!(counted, Counted::Value(..)) as u64;
        Ok(counted)
    }

    fn flush_all(&self, writes: &mut u64, at: u64, now: u64) -> Result<(), StorageError> {
        *writes += 1;
        self.store.flush_all(&mut (), at, now)
    }

    fn items(&self) -> Box<dyn ItemCursor> {
        self.store.items()
    }

    fn stats(&self) -> StorageStats {
        self.store.stats()
    }

    fn commit(&self, _: &mut u64) -> Result<(), StorageError> {
        let less = |left: u64| left.checked_sub(1);
        if self.successes.fetch_update(Ordering::AcqRel, Ordering::Acquire, less).is_ok() {
            return Ok(());
        }
        match self.failures.fetch_update(Ordering::AcqRel, Ordering::Acquire, less) {
            Ok(_) => {
                Err(StorageError { reply: "log write failed", detail: "the log cannot be written".into() })
            }
            Err(_) => Ok(()),
        }
    }

    fn writes(&self, writes: &u64) -> u64 {
        *writes
    }
}

#[test]
fn a_failed_commit_answers_each_write_with_the_stores_reason_and_keeps_the_connection() {
    let storage = Arc::new(FailingCommit::default());
    let failures = storage.failures.clone();
    let server = start(storage);
    let mut client = Client::connect(server.local_addr());
    client.send(b"set old 0 0 1\r\no\r\n");
    assert_eq!(client.read_line(), "STORED\r\n");

    failures.store(u64::MAX, Ordering::Release);
    // One round: writes that acknowledge a change, a refused add, a read,
    // a silenced write, a quiet meta set, then a no-op to end the batch.
    let round = b"set a 0 0 1\r\nx\r\nadd old 0 0 1\r\ny\r\nget old\r\nset b 0 0 1 noreply\r\nz\r\n\
        ms c 1 q\r\nw\r\nincr nothing 1\r\ndelete old\r\nmn\r\n";
    client.send(round);
    let replies = client.read_until_line("MN\r\n");
    assert_eq!(
        replies,
        "SERVER_ERROR log write failed\r\n\
         NOT_STORED\r\n\
         VALUE old 0 1\r\no\r\nEND\r\n\
         SERVER_ERROR log write failed\r\n\
         NOT_FOUND\r\n\
         SERVER_ERROR log write failed\r\n\
         MN\r\n"
    );

    // The connection goes on once commits succeed again.
    failures.store(0, Ordering::Release);
    client.send(b"set d 0 0 1\r\nv\r\n");
    assert_eq!(client.read_line(), "STORED\r\n", "the connection is still open");
    server.shutdown();
    server.wait();
}

/// A commit made in the middle of a round, because one connection's write
/// buffer filled, covers the writes of the connections served before it in
/// that round: when it fails, their acknowledgements are withdrawn too,
/// even though the commit at the round's end succeeds.
#[test]
fn a_commit_failing_mid_round_withdraws_the_replies_of_every_connection_it_covered() {
    let storage = Arc::new(FailingCommit::default());
    let (successes, failures, gate) =
        (storage.successes.clone(), storage.failures.clone(), storage.gate.clone());
    let server = start(storage);
    let mut writer = Client::connect(server.local_addr());
    writer.send(b"version\r\n");
    assert!(writer.read_line().starts_with("VERSION "));
    let mut big = Client::connect(server.local_addr());
    let value = vec![b'v'; 512 << 10];
    big.send(format!("set big 0 0 {}\r\n", value.len()).as_bytes());
    big.send(&value);
    big.send(b"\r\n");
    assert_eq!(big.read_line(), "STORED\r\n");

    // Hold the worker while the two connections' input gathers.
    let mut holder = Client::connect(server.local_addr());
    holder.send(b"get gate\r\n");
    std::thread::sleep(std::time::Duration::from_millis(100));
    writer.send(b"set a 0 0 1\r\nx\r\n");
    // Enough replies to fill the write buffer several times over.
    big.send(&b"get big\r\n".repeat(64));
    std::thread::sleep(std::time::Duration::from_millis(100));
    // The holder's round commits; the next commit, in the middle of the
    // round that serves the writer and then fills the reader's buffer, fails.
    successes.store(1, Ordering::Release);
    failures.store(1, Ordering::Release);
    gate.open();

    assert_eq!(holder.read_line(), "END\r\n");
    let mut replies = 0;
    while replies < 64 {
        let line = big.read_line();
        if line == "END\r\n" {
            replies += 1;
        }
    }
    assert_eq!(failures.load(Ordering::Acquire), 0, "no commit failed mid-round");
    assert_eq!(writer.read_line(), "SERVER_ERROR log write failed\r\n");
    server.shutdown();
    server.wait();
}

fn start(storage: Arc<FailingCommit>) -> petrel_server::RunningServer {
    let info = Arc::new(ServerInfo::new("failed commit test", 1));
    let limits = Limits::default();
    let watchers = Watchers::new();
    petrel_server::start(
        &one_worker_on_free_ports(),
        Memcache::new(limits),
        move |_| MemcacheService::new(storage.clone(), limits, info.clone(), &watchers),
        AdminService::new(ServerInfo::new("failed commit test", 1).into()),
    )
    .unwrap()
}
