//! Memcache, over the in-memory store wrapped so that its commit can be made
//! to fail: a failed commit costs each write it would have made durable a
//! `SERVER_ERROR`, not the connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use petrel_metrics::ServerInfo;
use petrel_protocol_admin::AdminService;
use petrel_protocol_memcache::{
    ArithmeticRequest, Counted, DeleteRequest, Deleted, FetchRequest, Fetched, Limits, Memcache,
    MemcacheService, MemoryStorage, Storage, StorageError, StorageStats, StoreRequest, Stored,
};
use petrel_testkit::Client;

use crate::one_worker_on_free_ports;

/// The in-memory store, counting each worker's writes, with a commit that
/// fails while `failing` is set.
struct FailingCommit {
    store: MemoryStorage,
    failing: Arc<AtomicBool>,
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

    fn stats(&self) -> StorageStats {
        self.store.stats()
    }

    fn commit(&self, _: &mut u64) -> Result<(), StorageError> {
        match self.failing.load(Ordering::Acquire) {
            true => Err(StorageError { reply: "unused", detail: "the log cannot be written".into() }),
            false => Ok(()),
        }
    }

    fn writes(&self, writes: &u64) -> u64 {
        *writes
    }
}

#[test]
fn a_failed_commit_answers_each_write_with_server_error_and_keeps_the_connection() {
    let core = one_worker_on_free_ports();
    let failing = Arc::new(AtomicBool::new(false));
    let storage = Arc::new(FailingCommit { store: MemoryStorage::new(), failing: failing.clone() });
    let info = Arc::new(ServerInfo::new("failed commit test", 1));
    let limits = Limits::default();
    let server = petrel_server::start(
        &core,
        Memcache { limits },
        |_| MemcacheService::new(storage.clone(), limits, info.clone()),
        AdminService::new(info.clone()),
    )
    .unwrap();
    let mut client = Client::connect(server.local_addr());
    client.send(b"set old 0 0 1\r\no\r\n");
    assert_eq!(client.read_line(), "STORED\r\n");

    failing.store(true, Ordering::Release);
    // One round: writes that acknowledge a change, a refused add, a read,
    // a silenced write, a quiet meta set, then a no-op to end the batch.
    let round = b"set a 0 0 1\r\nx\r\nadd old 0 0 1\r\ny\r\nget old\r\nset b 0 0 1 noreply\r\nz\r\n\
        ms c 1 q\r\nw\r\nincr nothing 1\r\ndelete old\r\nmn\r\n";
    client.send(round);
    let replies = client.read_until_line("MN\r\n");
    assert_eq!(
        replies,
        "SERVER_ERROR storage write failed\r\n\
         NOT_STORED\r\n\
         VALUE old 0 1\r\no\r\nEND\r\n\
         SERVER_ERROR storage write failed\r\n\
         NOT_FOUND\r\n\
         SERVER_ERROR storage write failed\r\n\
         MN\r\n"
    );

    // The connection goes on once commits succeed again.
    failing.store(false, Ordering::Release);
    client.send(b"set d 0 0 1\r\nv\r\n");
    assert_eq!(client.read_line(), "STORED\r\n", "the connection is still open");
    server.shutdown();
    server.wait();
}
