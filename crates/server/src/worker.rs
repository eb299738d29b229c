//! A worker thread: one mio event loop serving the sessions it owns.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use metriken::{Counter, Gauge, metric};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use petrel_net::tls::TlsAcceptor;
use petrel_net::{Listener, Stream};
use petrel_protocol::{Protocol, Service};
use petrel_session::{Committed, Limits, Progress, Readiness, Session, Traffic};
use slab::Slab;

use crate::shutdown::Shutdown;

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
}

/// A session and the readiness its socket is registered for.
struct Connection<T> {
    session: Session<Stream, T>,
    /// Registered for writable as well as readable: only while responses
    /// wait for the socket, so that a write that completes at once does not
    /// cost a second wake-up.
    writable: bool,
    /// When the socket last had an event (kept only with an idle timeout).
    last_active: Instant,
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
    /// Sessions served this round whose responses wait for the commit.
    unsent: Vec<(usize, Progress)>,
    limits: Limits,
    requests_per_turn: usize,
    /// Silent connections are closed after this long.
    idle_timeout: Option<Duration>,
    tls: Option<Arc<TlsAcceptor>>,
    /// When the loop last woke, read once per wake-up (with an idle timeout).
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
        let WorkerSettings { limits, requests_per_turn, idle_timeout, tls } = settings;
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
            unsent: Vec::new(),
            limits,
            requests_per_turn,
            idle_timeout,
            tls,
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
            if let Err(error) = self.poll.poll(&mut events, timeout) {
                if error.kind() != io::ErrorKind::Interrupted {
                    log::error!("worker poll failed: {error}");
                }
                continue;
            }
            if self.idle_timeout.is_some() {
                self.now = Instant::now();
            }
            for event in events.iter() {
                match event.token() {
                    WAKER | LISTENER => self.take_new_connections(),
                    Token(key) => {
                        if let Some(connection) = self.sessions.get_mut(key) {
                            connection.last_active = self.now;
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
            self.send_responses();
        }
        self.drain();
    }

    fn take_new_connections(&mut self) {
        loop {
            let stream = match &self.intake {
                Intake::Queue(receiver) => match receiver.try_recv() {
                    Ok(stream) => stream,
                    Err(_) => return,
                },
                Intake::Listener(listener) => match listener.accept() {
                    Ok(Some((stream, _))) => stream,
                    Ok(None) => return,
                    Err(error) => {
                        log::warn!("admin accept failed: {error}");
                        return;
                    }
                },
            };
            let Some(stream) = self.wrap(stream) else {
                self.count_closed();
                continue;
            };
            let entry = self.sessions.vacant_entry();
            let key = entry.key();
            let traffic = match self.intake {
                Intake::Queue(_) => Traffic::Client,
                Intake::Listener(_) => Traffic::Admin,
            };
            let mut session = Session::new(stream, &self.limits, traffic);
            match self.poll.registry().register(session.stream_mut(), Token(key), Interest::READABLE) {
                Ok(()) => {
                    entry.insert(Connection { session, writable: false, last_active: self.now });
                    // Input may have arrived before registration.
                    self.serve_connection(key, Readiness::READABLE);
                }
                Err(error) => {
                    log::warn!("cannot register a connection: {error}");
                    self.count_closed();
                }
            }
        }
    }

    /// The stream a new socket is served over: TLS when it is configured.
    fn wrap(&self, socket: TcpStream) -> Option<Stream> {
        let Some(tls) = &self.tls else { return Some(Stream::from(socket)) };
        match tls.accept(socket) {
            Ok(stream) => Some(Stream::from(stream)),
            Err(error) => {
                log::warn!("cannot start a TLS connection: {error}");
                None
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
            .filter(|(_, connection)| self.now.duration_since(connection.last_active) >= idle_timeout)
            .map(|(key, _)| key)
            .collect();
        for key in silent {
            IDLE_KICKS.increment();
            self.close(key);
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
                if let Some(error) = connection.session.take_failed_commit() {
                    // It covered the requests of the connections served
                    // before this one in the round too.
                    log::error!(
                        "a commit of {} connections' requests failed: {error}",
                        self.unsent.len() + 1
                    );
                    self.deliver(Err(error));
                }
                self.unsent.push((key, progress));
            }
            Err(error) => {
                log::debug!("closing a connection: {error}");
                self.close(key);
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
            let sent = match &committed {
                Ok(committed) => connection.session.send_output(progress, committed),
                Err(error) => connection
                    .session
                    .send_after_failed_commit(progress, io::Error::new(error.kind(), error.to_string())),
            };
            match sent {
                Ok(Progress::Idle) => {}
                Ok(Progress::Yield) => self.pending.push(key),
                Ok(Progress::Done) => {
                    self.close(key);
                    continue;
                }
                Err(error) => {
                    log::debug!("closing a connection: {error}");
                    self.close(key);
                    continue;
                }
            }
            if let Err(error) = self.register_interest(key) {
                log::debug!("closing a connection: {error}");
                self.close(key);
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

    fn close(&mut self, key: usize) {
        if let Some(mut connection) = self.sessions.try_remove(key) {
            let _ = self.poll.registry().deregister(connection.session.stream_mut());
            self.count_closed();
        }
    }

    fn count_closed(&self) {
        if matches!(self.intake, Intake::Queue(_)) {
            CURR_CONNECTIONS.decrement();
        }
    }

    /// Graceful stop: answer what has been read, send what is owed, close.
    fn drain(&mut self) {
        if let Intake::Queue(_) = self.intake {
            self.drop_queued_connections();
        }
        let keys: Vec<usize> = self.sessions.iter().map(|(key, _)| key).collect();
        for key in keys {
            if let Some(connection) = self.sessions.get_mut(key) {
                connection.session.end_input();
            }
            self.drive_to_end(key);
        }
        let deadline = Instant::now() + DRAIN_DEADLINE;
        let mut events = Events::with_capacity(1024);
        while !self.sessions.is_empty() && Instant::now() < deadline {
            let _ = self.poll.poll(&mut events, Some(deadline - Instant::now()));
            for event in events.iter() {
                let Token(key) = event.token();
                self.drive_to_end(key);
            }
        }
        let keys: Vec<usize> = self.sessions.iter().map(|(key, _)| key).collect();
        for key in keys {
            self.close(key);
        }
    }

    /// Closes the connections still queued for this worker: never served,
    /// nothing is owed to them.
    fn drop_queued_connections(&mut self) {
        if let Intake::Queue(receiver) = &self.intake {
            while receiver.try_recv().is_ok() {
                CURR_CONNECTIONS.decrement();
            }
        }
    }

    /// Drives a stopping session with no request limit, since nothing new
    /// competes for the worker.
    fn drive_to_end(&mut self, key: usize) {
        let Some(connection) = self.sessions.get_mut(key) else { return };
        match connection.session.drive(
            self.protocol.as_ref(),
            &mut self.service,
            usize::MAX,
            Readiness::RESUME,
        ) {
            Ok(Progress::Done) | Err(_) => self.close(key),
            Ok(_) => {
                if self.register_interest(key).is_err() {
                    self.close(key);
                }
            }
        }
    }
}
