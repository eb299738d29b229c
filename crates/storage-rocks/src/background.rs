//! RocksDB's flush and merge threads run only when the workers leave the
//! CPU idle.
//!
//! Where those threads share a core with a worker, a request that arrives
//! during a flush must not wait behind it. Linux's `SCHED_IDLE` gives that:
//! a waking worker preempts an idle-class thread at once, whatever its
//! share so far. A lower nice value does not: the scheduler lets a running
//! nice-19 thread finish its time slice, milliseconds, before the worker
//! runs. If the workers keep the core busy for long, flushes fall behind,
//! RocksDB stalls the next write, and the stalled worker then leaves the
//! core to the flush; so writes slow down rather than the store filling up.
//!
//! RocksDB's own `Env::lower_thread_pool_cpu_priority` must not be used as
//! well: each thread applies it at its next job by switching itself back to
//! `SCHED_OTHER` at nice 19, undoing the idle class.

use std::io;

/// RocksDB names its thread pools' threads `rocksdb:low`, `rocksdb:high`
/// and `rocksdb:bottom`.
const THREAD_NAME_PREFIX: &str = "rocksdb:";

/// Puts every RocksDB thread of this process in the idle scheduling class;
/// returns how many it moved. RocksDB starts its pools' threads when a
/// database opens, so this runs after each open.
#[cfg(target_os = "linux")]
pub(crate) fn idle_background_threads() -> io::Result<usize> {
    let mut moved = 0;
    for task in std::fs::read_dir("/proc/self/task")? {
        let task = task?;
        // A thread that exits meanwhile has nothing left to move.
        let Ok(name) = std::fs::read_to_string(task.path().join("comm")) else { continue };
        if !name.starts_with(THREAD_NAME_PREFIX) {
            continue;
        }
        let Some(tid) = task.file_name().to_str().and_then(|tid| tid.parse::<libc::pid_t>().ok()) else {
            continue;
        };
        idle(tid)?;
        moved += 1;
    }
    Ok(moved)
}

/// Puts the calling thread in the idle scheduling class (the store's own
/// background thread, `eviction/merging.rs`).
#[cfg(target_os = "linux")]
pub(crate) fn idle_current_thread() -> io::Result<()> {
    // For sched_setscheduler, 0 is the calling thread.
    idle(0)
}

#[cfg(target_os = "linux")]
fn idle(tid: libc::pid_t) -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param for the duration of the call.
    if unsafe { libc::sched_setscheduler(tid, libc::SCHED_IDLE, &param) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Elsewhere there is no idle class; RocksDB's threads keep their priority.
#[cfg(not(target_os = "linux"))]
pub(crate) fn idle_background_threads() -> io::Result<usize> {
    Ok(0)
}

/// Elsewhere there is no idle class; the thread keeps its priority.
#[cfg(not(target_os = "linux"))]
pub(crate) fn idle_current_thread() -> io::Result<()> {
    Ok(())
}
