//! A worker thread: one mio event loop serving the sessions it owns.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use metriken::{Counter, Gauge, metric};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use petrel_metrics::{ConnectionEntry, ConnectionState, ConnectionTable};
use petrel_net::tls::TlsAcceptor;
use petrel_net::{Listener, Stream};
use petrel_protocol::{CloseReason, Protocol, Service};
use petrel_session::{Committed, Limits, Progress, Readiness, Session};
use slab::Slab;

use crate::shutdown::Shutdown;

mod drain;
mod intake;

use intake::close_reason;

#[metric(name = "curr_connections", description = "client connections open now")]
pub(crate) static CURR_CONNECTIONS: Gauge = Gauge::new();

#[metric(name = "idle_kicks", description = "connections closed for staying silent past idle_timeout")]
static IDLE_KICKS: Counter = Counter::new();

/// How often a worker with an idle timeout looks for silent connections;
/// one is closed between `idle_timeout` and this much later.
const IDLE_SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Tokens above every slab key: the waker and, for the admin loop, its listener.
const WAKER: Token = Token(usize::MAX);
const LISTENER: Token = Token(usize::MAX - 1);

/// How often a worker asks a stream that waits for events (a `watch`) for
/// more: the delay a watcher sees, against wake-ups while nothing happens.
const WAIT_PAUSE: Duration = Duration::from_millis(10);

/// How long a stopping worker waits for slow clients to take their last
/// responses before closing on them.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);

/// Where a worker's connections come from.
pub(crate) enum Intake {
    /// Handed over by the listener thread (data workers).
    Queue(Receiver<TcpStream>),
    /// Accepted by the worker itself (the admin loop, which is small).
    Listener(Listener),
}

/// How a worker serves its connections.
#[derive(Clone)]
pub(crate) struct WorkerSettings {
    pub limits: Limits,
    /// Requests served from one connection before the others' turn.
    pub requests_per_turn: usize,
    /// Silent connections are closed after this long.
    pub idle_timeout: Option<Duration>,
    /// TLS for every connection, or none.
    pub tls: Option<Arc<TlsAcceptor>>,
    /// Where the connections are listed for `stats conns` (the data port's).
    pub connections: Option<Arc<ConnectionTable>>,
}

/// A session and the readiness its socket is registered for.
struct Connection<T> {
    session: Session<Stream, T>,
    /// Registered for writable as well as readable: only while responses
    /// wait for the socket, so that a write that completes at once does not
    /// cost a second wake-up.
    writable: bool,
    /// When the socket last had an event or the connection's responses were
    /// delivered (kept only with an idle timeout).
    last_active: Instant,
    /// Listed in the worker's `waiting`.
    waiting: bool,
    /// The client's address, for the service's connection events.
    peer: Option<SocketAddr>,
    /// Its entry in `stats conns`, removed when the connection goes.
    listed: Option<ConnectionEntry>,
}

/// One event loop and the sessions it owns.
pub(crate) struct Worker<P: Protocol, V> {
    poll: Poll,
    waker: Arc<Waker>,
    protocol: Arc<P>,
    service: V,
    intake: Intake,
    sessions: Slab<Connection<P::State>>,
    /// Sessions that yielded with requests still buffered.
    pending: Vec<usize>,
    /// Sessions whose response waits for events, driven every `WAIT_PAUSE`.
    waiting: Vec<usize>,
    last_wait_drive: Instant,
    /// Sessions served this round whose responses wait for the commit.
    unsent: Vec<(usize, Progress)>,
    limits: Limits,
    requests_per_turn: usize,
    /// Silent connections are closed after this long.
    idle_timeout: Option<Duration>,
    tls: Option<Arc<TlsAcceptor>>,
    connections: Option<Arc<ConnectionTable>>,
    /// The connection table's clock when the loop last woke.
    listed_now: u64,
    /// When the loop last woke or last committed (kept with an idle timeout).
    now: Instant,
    last_sweep: Instant,
    shutdown: Arc<Shutdown>,
}

impl<P: Protocol, V: Service<P>> Worker<P, V> {
    pub fn new(
        protocol: Arc<P>,
        service: V,
        mut intake: Intake,
        settings: WorkerSettings,
        shutdown: Arc<Shutdown>,
    ) -> io::Result<Self> {
        let WorkerSettings { limits, requests_per_turn, idle_timeout, tls, connections } = settings;
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        if let Intake::Listener(listener) = &mut intake {
            poll.registry().register(listener, LISTENER, Interest::READABLE)?;
        }
        shutdown.register(waker.clone());
        Ok(Self {
            poll,
            waker,
            protocol,
            service,
            intake,
            sessions: Slab::new(),
            pending: Vec::new(),
            waiting: Vec::new(),
            last_wait_drive: Instant::now(),
            unsent: Vec::new(),
            limits,
            requests_per_turn,
            idle_timeout,
            tls,
            connections,
            listed_now: 0,
            now: Instant::now(),
            last_sweep: Instant::now(),
            shutdown,
        })
    }

    /// The waker the listener uses to announce a new connection.
    pub fn waker(&self) -> Arc<Waker> {
        self.waker.clone()
    }

    pub fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        while !self.shutdown.is_triggered() {
            let timeout = match (self.pending.is_empty(), self.idle_timeout) {
                (false, _) => Some(Duration::ZERO),
                (true, Some(_)) => Some(IDLE_SWEEP_INTERVAL),
                (true, None) => None,
            };
            let timeout = match self.waiting.is_empty() {
                true => timeout,
                false => Some(timeout.map_or(WAIT_PAUSE, |timeout| timeout.min(WAIT_PAUSE))),
            };
            if let Err(error) = self.poll.poll(&mut events, timeout) {
                if error.kind() != io::ErrorKind::Interrupted {
                    log::error!("worker poll failed: {error}");
                }
                continue;
            }
            if self.idle_timeout.is_some() {
                self.now = Instant::now();
            }
            if let Some(connections) = &self.connections {
                self.listed_now = connections.now();
            }
            for event in events.iter() {
                match event.token() {
                    WAKER | LISTENER => self.take_new_connections(),
                    Token(key) => {
                        if let Some(connection) = self.sessions.get_mut(key) {
                            connection.last_active = self.now;
                            if let (Some(listed), true) = (&connection.listed, event.is_readable()) {
                                listed.touch(self.listed_now);
                            }
                        }
                        let readiness =
                            Readiness { readable: event.is_readable(), read_closed: event.is_read_closed() };
                        self.serve_connection(key, readiness);
                    }
                }
            }
            if let Some(idle_timeout) = self.idle_timeout {
                self.close_silent_connections(idle_timeout);
            }
            for key in std::mem::take(&mut self.pending) {
                self.serve_connection(key, Readiness::RESUME);
            }
            self.serve_waiting();
            self.send_responses();
        }
        self.drain();
    }

    /// Drives the sessions waiting for events, once per `WAIT_PAUSE`.
    fn serve_waiting(&mut self) {
        if self.waiting.is_empty() || self.last_wait_drive.elapsed() < WAIT_PAUSE {
            return;
        }
        self.last_wait_drive = Instant::now();
        for key in std::mem::take(&mut self.waiting) {
            if let Some(connection) = self.sessions.get_mut(key) {
                connection.waiting = false;
                self.serve_connection(key, Readiness::RESUME);
            }
        }
    }

    /// Closes the connections that have had no event for `idle_timeout`,
    /// looking at most once per [`IDLE_SWEEP_INTERVAL`].
    fn close_silent_connections(&mut self, idle_timeout: Duration) {
        if self.now.duration_since(self.last_sweep) < IDLE_SWEEP_INTERVAL {
            return;
        }
        self.last_sweep = self.now;
        let silent: Vec<usize> = self
            .sessions
            .iter()
            // A watcher is silent by design while the server streams to it.
            .filter(|(_, connection)| !connection.session.waits_for_events())
            .filter(|(_, connection)| self.now.duration_since(connection.last_active) >= idle_timeout)
            .map(|(key, _)| key)
            .collect();
        for key in silent {
            IDLE_KICKS.increment();
            self.close(key, CloseReason::IdleTimeout);
        }
    }

    /// Serves what a connection has sent; its responses leave in
    /// [`send_responses`](Self::send_responses), at the end of the round.
    fn serve_connection(&mut self, key: usize, readiness: Readiness) {
        let Some(connection) = self.sessions.get_mut(key) else { return };
        match connection.session.serve_input(
            self.protocol.as_ref(),
            &mut self.service,
            self.requests_per_turn,
            readiness,
        ) {
            Ok(progress) => {
                self.unsent.push((key, progress));
                if progress == Progress::Full {
                    // Its write buffer filled: the round so far is committed
                    // and sent now, and the connection served again after
                    // the others' turn.
                    self.send_responses();
                }
            }
            Err(error) => {
                log::debug!("closing a connection: {error}");
                self.close(key, close_reason(&error));
            }
        }
    }

    /// Commits the round's requests once (petrel-memcache with
    /// `sync_writes`: one fsync for all their writes), then sends their
    /// responses. If the commit fails, nothing it would have acknowledged
    /// is sent: each reply that acknowledged a write is replaced by the
    /// service's error reply, or the connection closes if the service
    /// cannot say (see `Service::if_commit_fails`).
    fn send_responses(&mut self) {
        if self.unsent.is_empty() {
            return;
        }
        let committed = Committed::by::<P, V>(&mut self.service);
        if self.idle_timeout.is_some() {
            // The round (a stalled write, say) may have outlasted the idle
            // timeout: a client waiting on its responses is not idle.
            self.now = Instant::now();
        }
        if let Err(error) = &committed {
            log::error!("the commit of {} connections' requests failed: {error}", self.unsent.len());
        }
        self.deliver(committed);
    }

    /// Sends the responses of the connections served since the last
    /// commit, given how it went.
    fn deliver(&mut self, committed: io::Result<Committed>) {
        let mut unsent = std::mem::take(&mut self.unsent);
        for (key, progress) in unsent.drain(..) {
            let Some(connection) = self.sessions.get_mut(key) else { continue };
            connection.last_active = self.now;
            let sent = match &committed {
                Ok(committed) => connection.session.send_output(progress, committed),
                Err(error) => connection.session.send_after_failed_commit(
                    self.protocol.as_ref(),
                    &mut self.service,
                    progress,
                    io::Error::new(error.kind(), error.to_string()),
                ),
            };
            if let (Some(listed), Ok(_)) = (&connection.listed, &sent) {
                listed.set_state(match &connection.session {
                    session if session.waits_for_events() => ConnectionState::Watch,
                    session if session.has_pending_output() => ConnectionState::Write,
                    _ => ConnectionState::Read,
                });
            }
            match sent {
                Ok(Progress::Idle) => {}
                Ok(Progress::Yield | Progress::Full) => self.pending.push(key),
                Ok(Progress::Wait) if !connection.waiting => {
                    connection.waiting = true;
                    self.waiting.push(key);
                }
                Ok(Progress::Wait) => {}
                Ok(Progress::Done) => {
                    self.close(key, CloseReason::Normal);
                    continue;
                }
                Err(error) => {
                    log::debug!("closing a connection: {error}");
                    self.close(key, close_reason(&error));
                    continue;
                }
            }
            if let Err(error) = self.register_interest(key) {
                log::debug!("closing a connection: {error}");
                self.close(key, CloseReason::Error);
            }
        }
        // Keep the allocation for the next round.
        self.unsent = unsent;
    }

    /// Asks for writable readiness while output waits, and stops asking once
    /// it has gone.
    fn register_interest(&mut self, key: usize) -> io::Result<()> {
        let Some(connection) = self.sessions.get_mut(key) else { return Ok(()) };
        let wants_writable = connection.session.has_pending_output();
        if wants_writable != connection.writable {
            let interest =
                if wants_writable { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            self.poll.registry().reregister(connection.session.stream_mut(), Token(key), interest)?;
            connection.writable = wants_writable;
        }
        Ok(())
    }

    fn close(&mut self, key: usize, reason: CloseReason) {
        if let Some(mut connection) = self.sessions.try_remove(key) {
            let _ = self.poll.registry().deregister(connection.session.stream_mut());
            self.count_closed();
            self.connection_event(connection.peer, Some(reason));
        }
    }

    fn count_closed(&self) {
        if matches!(self.intake, Intake::Queue(_)) {
            CURR_CONNECTIONS.decrement();
        }
    }
}
