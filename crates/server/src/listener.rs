//! The listener thread: accepts connections and deals them out to workers.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};
use metriken::{Counter, metric};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use petrel_net::Listener;

use crate::shutdown::Shutdown;
use crate::worker::CURR_CONNECTIONS;

#[metric(name = "total_connections", description = "client connections accepted since start")]
static TOTAL_CONNECTIONS: Counter = Counter::new();

#[metric(
    name = "rejected_connections",
    description = "connections refused because max_connections were open"
)]
static REJECTED_CONNECTIONS: Counter = Counter::new();

#[metric(name = "dropped_connections", description = "connections dropped because a worker's queue was full")]
static DROPPED_CONNECTIONS: Counter = Counter::new();

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);

/// How long to wait before accepting again after running out of file
/// descriptors, rather than spinning on the error.
const EXHAUSTED_BACKOFF: Duration = Duration::from_millis(50);

/// The way to one worker: its queue of new connections and its waker.
pub(crate) struct WorkerQueue {
    pub sender: Sender<TcpStream>,
    pub waker: Arc<Waker>,
}

/// Accepts connections and hands each to the next worker in turn.
pub(crate) struct Acceptor {
    poll: Poll,
    listener: Listener,
    workers: Vec<WorkerQueue>,
    next: usize,
    max_connections: usize,
    shutdown: Arc<Shutdown>,
}

impl Acceptor {
    pub fn new(
        mut listener: Listener,
        workers: Vec<WorkerQueue>,
        max_connections: usize,
        shutdown: Arc<Shutdown>,
    ) -> std::io::Result<Self> {
        let poll = Poll::new()?;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        shutdown.register(Arc::new(Waker::new(poll.registry(), WAKER)?));
        Ok(Self { poll, listener, workers, next: 0, max_connections, shutdown })
    }

    pub fn run(mut self) {
        let mut events = Events::with_capacity(64);
        let mut backoff = None;
        while !self.shutdown.is_triggered() {
            if let Err(error) = self.poll.poll(&mut events, backoff) {
                if error.kind() != std::io::ErrorKind::Interrupted {
                    log::error!("listener poll failed: {error}");
                }
                continue;
            }
            if self.shutdown.is_triggered() {
                break;
            }
            // Accept on any wake-up: after a back-off no event comes for the
            // connections that were already waiting.
            backoff = self.accept_all();
        }
        log::debug!("listener stopped");
    }

    /// Accepts every waiting connection; returns a back-off if the process
    /// ran out of file descriptors.
    fn accept_all(&mut self) -> Option<Duration> {
        loop {
            match self.listener.accept() {
                Ok(Some((stream, _peer))) => self.dispatch(stream),
                Ok(None) => return None,
                Err(error) if petrel_net::is_resource_exhaustion(&error) => {
                    log::warn!("cannot accept: {error}; retrying shortly");
                    return Some(EXHAUSTED_BACKOFF);
                }
                Err(error) => {
                    log::warn!("accept failed: {error}");
                    return None;
                }
            }
        }
    }

    fn dispatch(&mut self, mut stream: TcpStream) {
        TOTAL_CONNECTIONS.increment();
        if CURR_CONNECTIONS.value() >= self.max_connections as i64 {
            REJECTED_CONNECTIONS.increment();
            // Best effort: the socket is new, so the short reply fits its
            // send buffer; the connection closes when dropped.
            let _ = stream.write(b"SERVER_ERROR too many open connections\r\n");
            return;
        }
        let worker = &self.workers[self.next];
        self.next = (self.next + 1) % self.workers.len();
        match worker.sender.try_send(stream) {
            Ok(()) => {
                // Counted here, before the worker sees it, so a burst of
                // connects cannot overshoot max_connections.
                CURR_CONNECTIONS.increment();
                if let Err(error) = worker.waker.wake() {
                    log::error!("cannot wake a worker: {error}");
                }
            }
            Err(TrySendError::Full(_)) => {
                DROPPED_CONNECTIONS.increment();
            }
            Err(TrySendError::Disconnected(_)) => {
                log::error!("a worker has stopped; dropping its connection");
            }
        }
    }
}
