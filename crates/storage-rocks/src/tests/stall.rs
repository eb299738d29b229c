//! With `write_stall = "busy"`, a store whose writes RocksDB stalls answers
//! busy at once and goes on serving reads.

use std::sync::Arc;
use std::time::Duration;

use super::*;

#[test]
fn a_stalled_store_refuses_writes_as_busy_at_once_and_serves_reads() {
    let dir = tempfile::tempdir().unwrap();
    let busy = StorageConfig { write_stall: WriteStall::Busy, ..config(dir.path()) };
    let storage = Arc::new(RocksStorage::open(&busy).unwrap());
    storage.one_off(|s, w| s.store(w, b"kept", b"v", set(1), unix_now())).unwrap();
    storage.db.flush().unwrap();
    // Writes stop at one file in level 0, as when merges fall behind.
    storage
        .db
        .set_options(&[("level0_slowdown_writes_trigger", "1"), ("level0_stop_writes_trigger", "1")])
        .unwrap();

    let (answer_tx, answer_rx) = std::sync::mpsc::channel();
    let writer = storage.clone();
    std::thread::spawn(move || {
        let answer = writer.one_off(|s, w| s.store(w, b"new", b"v", set(1), unix_now()));
        let _ = answer_tx.send(answer);
    });
    let answer = answer_rx.recv_timeout(Duration::from_secs(10)).expect("the write waited for the stall");
    assert_eq!(answer.unwrap_err().reply, "307 busy", "the reply mcrouter reads as busy");
    assert_eq!(get(&storage, b"kept"), Some(b"v".to_vec()), "reads go on");
    assert_eq!(get(&storage, b"new"), None);

    // Writes resume once the stall is over.
    storage
        .db
        .set_options(&[("level0_stop_writes_trigger", "36"), ("level0_slowdown_writes_trigger", "20")])
        .unwrap();
    storage.one_off(|s, w| s.store(w, b"new", b"v", set(1), unix_now())).unwrap();
    assert_eq!(get(&storage, b"new"), Some(b"v".to_vec()));
}
