//! The open connections of a server, for memcached's `stats conns`: who is
//! connected, to which listener, doing what, and since when silent.
//!
//! An entry is added when a connection opens and removed when it closes
//! (its [`ConnectionEntry`] handle is dropped), under the table's lock; what
//! changes while it lives (its state, when it last sent a command) is in
//! the entry's atomics, written by the one worker that owns the connection.
//! So the request path never takes the lock.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::stat_line;

/// What a connection is doing, by memcached's names for its states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ConnectionState {
    /// A listening socket.
    Listening,
    /// Waiting for the client's next request.
    Read,
    /// Replies wait for the client to read them.
    Write,
    /// Streaming the log to a watcher.
    Watch,
}

impl ConnectionState {
    fn name(self) -> &'static str {
        match self {
            Self::Listening => "conn_listening",
            Self::Read => "conn_read",
            Self::Write => "conn_mwrite",
            Self::Watch => "conn_watch",
        }
    }

    fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Listening,
            2 => Self::Write,
            3 => Self::Watch,
            _ => Self::Read,
        }
    }
}

/// The connections of one server (its data port).
#[derive(Debug)]
pub struct ConnectionTable {
    started: Instant,
    entries: Mutex<BTreeMap<u64, Arc<Entry>>>,
}

#[derive(Debug)]
struct Entry {
    peer: SocketAddr,
    /// The listener's address; `None` for a listener.
    local: Option<SocketAddr>,
    state: AtomicU8,
    /// Seconds from the table's start to the last command.
    last_command: AtomicU64,
}

impl ConnectionTable {
    /// An empty table, its clock starting now.
    pub fn new() -> Arc<Self> {
        Arc::new(Self { started: Instant::now(), entries: Mutex::new(BTreeMap::new()) })
    }

    /// Seconds since the table started: what [`ConnectionEntry::touch`]
    /// takes, read once per round by a worker.
    pub fn now(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Lists a listening socket, numbered `id` (its file descriptor), for
    /// as long as the handle lives.
    pub fn listen(self: &Arc<Self>, id: u64, address: SocketAddr) -> ConnectionEntry {
        self.add(id, Entry::new(address, None, ConnectionState::Listening, self.now()))
    }

    /// Lists a client connection, numbered `id` (its file descriptor), from
    /// `peer` to the listener at `local`, for as long as the handle lives.
    pub fn open(self: &Arc<Self>, id: u64, peer: SocketAddr, local: SocketAddr) -> ConnectionEntry {
        self.add(id, Entry::new(peer, Some(local), ConnectionState::Read, self.now()))
    }

    fn add(self: &Arc<Self>, id: u64, entry: Entry) -> ConnectionEntry {
        let entry = Arc::new(entry);
        self.lock().insert(id, entry.clone());
        ConnectionEntry { table: self.clone(), id, entry }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Entry>>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends memcached's `stats conns` lines: `<id>:addr`, `<id>:listen_addr`
    /// (not for a listener), `<id>:state` and `<id>:secs_since_last_cmd` per
    /// connection, in the order of their numbers.
    pub fn write_stats(&self, out: &mut Vec<u8>) {
        let now = self.now();
        for (id, entry) in self.lock().iter() {
            stat_line(out, &format!("{id}:addr"), socket_name(entry.peer));
            if let Some(local) = entry.local {
                stat_line(out, &format!("{id}:listen_addr"), socket_name(local));
            }
            let state = ConnectionState::from_u8(entry.state.load(Ordering::Relaxed));
            stat_line(out, &format!("{id}:state"), state.name());
            let last = entry.last_command.load(Ordering::Relaxed);
            stat_line(out, &format!("{id}:secs_since_last_cmd"), now.saturating_sub(last));
        }
    }
}

impl Entry {
    fn new(peer: SocketAddr, local: Option<SocketAddr>, state: ConnectionState, now: u64) -> Self {
        Self { peer, local, state: AtomicU8::new(state as u8), last_command: AtomicU64::new(now) }
    }
}

/// memcached's form of a TCP address: `tcp:127.0.0.1:11211`, `tcp6:[::1]:11211`.
fn socket_name(address: SocketAddr) -> String {
    match address {
        SocketAddr::V4(address) => format!("tcp:{address}"),
        SocketAddr::V6(address) => format!("tcp6:{address}"),
    }
}

/// One connection's place in its [`ConnectionTable`], removed when dropped.
#[derive(Debug)]
pub struct ConnectionEntry {
    table: Arc<ConnectionTable>,
    id: u64,
    entry: Arc<Entry>,
}

impl ConnectionEntry {
    /// The connection sent a command at `now` ([`ConnectionTable::now`]).
    pub fn touch(&self, now: u64) {
        if self.entry.last_command.load(Ordering::Relaxed) != now {
            self.entry.last_command.store(now, Ordering::Relaxed);
        }
    }

    /// The connection is now doing `state`.
    pub fn set_state(&self, state: ConnectionState) {
        self.entry.state.store(state as u8, Ordering::Relaxed);
    }
}

impl Drop for ConnectionEntry {
    fn drop(&mut self) {
        let mut entries = self.table.lock();
        // A number is reused once its connection has closed: remove only
        // this entry, not a newer one under the same number.
        if entries.get(&self.id).is_some_and(|entry| Arc::ptr_eq(entry, &self.entry)) {
            entries.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_and_go_with_their_handles_in_memcacheds_words() {
        let table = ConnectionTable::new();
        let listener = table.listen(3, "127.0.0.1:11211".parse().unwrap());
        let client = table.open(7, "[::1]:5000".parse().unwrap(), "127.0.0.1:11211".parse().unwrap());
        client.set_state(ConnectionState::Write);
        let mut out = Vec::new();
        table.write_stats(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "STAT 3:addr tcp:127.0.0.1:11211\r\nSTAT 3:state conn_listening\r\nSTAT 3:secs_since_last_cmd 0\r\n\
             STAT 7:addr tcp6:[::1]:5000\r\nSTAT 7:listen_addr tcp:127.0.0.1:11211\r\nSTAT 7:state conn_mwrite\r\n\
             STAT 7:secs_since_last_cmd 0\r\n"
        );
        // A newer connection under a number whose old handle is still
        // being dropped keeps its entry.
        let reused = table.open(7, "127.0.0.1:6000".parse().unwrap(), "127.0.0.1:11211".parse().unwrap());
        drop(client);
        drop(listener);
        let mut out = Vec::new();
        table.write_stats(&mut out);
        assert!(String::from_utf8(out).unwrap().starts_with("STAT 7:addr tcp:127.0.0.1:6000\r\n"));
        drop(reused);
        let mut out = Vec::new();
        table.write_stats(&mut out);
        assert!(out.is_empty());
    }
}
