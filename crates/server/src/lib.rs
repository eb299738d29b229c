//! The Petrel server core: the threads every Petrel binary runs, generic over
//! the wire protocol and the service behind it.
//!
//! ```text
//!                 accept                 crossbeam channel + mio Waker
//!  clients ──► [listener] ── TcpStream ──► [worker-0] ── Session ─► Protocol::parse
//!                   │                      [worker-1]               Service::execute
//!                   │  round robin         [worker-N]               Protocol::compose
//!                   └────────────────────►   each owns a mio Poll and a Slab of sessions
//!
//!  operators ──► [admin]  one event loop of its own: version, stats, quit, HTTP /metrics
//! ```
//!
//! [`start`] binds both ports before any thread exists (a bad address fails
//! at once), then spawns the named threads and returns a [`RunningServer`].
//! Workers never wait on each other: each owns its sessions outright, and the
//! only state they share is what the service shares (a store) and a few
//! atomic counters. [`RunningServer::shutdown`] stops accepting, lets every
//! worker answer what it has already read and send what it owes, then the
//! threads end.

mod binary;
mod listener;
mod process;
mod shutdown;
mod worker;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use petrel_config::{TlsConfig, TlsVersion};
use petrel_metrics::{ConnectionEntry, ConnectionTable};
use petrel_net::Listener;
use petrel_net::tls::{MinVersion, TlsAcceptor, TlsError, TlsFiles};
use petrel_protocol::{Protocol, Service};
use petrel_protocol_admin::{Admin, AdminService};
use petrel_session::{Limits, MemoryBudget};
use worker::WorkerSettings;

pub use binary::{Binary, run};
pub use petrel_config::CoreConfig;
pub use process::{Signal, StopSignals, exit_on_panic, raise_open_files_limit};
pub use shutdown::Shutdown;

/// What the admin port's connection buffers may hold above their initial
/// size: its requests and answers are small.
const ADMIN_MEMORY_LIMIT: usize = 16 << 20;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A port could not be bound.
    #[error("cannot listen on {address} ({role} port): {source}")]
    Bind {
        /// `data` or `admin`.
        role: &'static str,
        /// The address asked for.
        address: SocketAddr,
        /// The cause.
        source: io::Error,
    },
    /// The TLS certificates could not be loaded.
    #[error("cannot start TLS: {0}")]
    Tls(TlsError),
    /// A thread or its event loop could not be created.
    #[error("cannot start the {thread} thread: {source}")]
    Thread {
        /// Which thread.
        thread: String,
        /// The cause.
        source: io::Error,
    },
}

/// A server whose threads are running.
pub struct RunningServer {
    local_addr: SocketAddr,
    admin_addr: SocketAddr,
    /// The data port's connections, the listener's among them.
    connections: Arc<ConnectionTable>,
    _listening: ConnectionEntry,
    shutdown: Arc<Shutdown>,
    threads: Vec<JoinHandle<()>>,
    tls: Option<Arc<TlsAcceptor>>,
}

impl RunningServer {
    /// The address of the data port (with the port chosen, if 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of the admin port.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The data port's connections (`stats conns`).
    pub fn connections(&self) -> Arc<ConnectionTable> {
        self.connections.clone()
    }

    /// Loads the TLS certificates again from their files (after they were
    /// replaced), for connections accepted from now on; on failure the old
    /// ones stay in use. `Ok(false)` when the server has no TLS.
    pub fn refresh_certs(&self) -> Result<bool, TlsError> {
        match &self.tls {
            Some(tls) => tls.reload().map(|()| true),
            None => Ok(false),
        }
    }

    /// Asks every thread to stop; returns at once. See [`wait`](Self::wait).
    pub fn shutdown(&self) {
        self.shutdown.trigger();
    }

    /// Waits for every thread to end, which happens after
    /// [`shutdown`](Self::shutdown).
    pub fn wait(self) {
        for thread in self.threads {
            // A thread that panicked has already reported it; the process
            // exits on panic in binaries (see `exit_on_panic`).
            let _ = thread.join();
        }
    }
}

/// Binds the data and admin ports and starts the listener, worker and admin
/// threads. `services` makes each worker's service, given the worker's index;
/// `admin` answers the admin port, and reports ready once all threads run.
pub fn start<P, V>(
    config: &CoreConfig,
    protocol: P,
    mut services: impl FnMut(usize) -> V,
    admin: AdminService,
) -> Result<RunningServer, StartError>
where
    P: Protocol,
    V: Service<P>,
{
    let bind =
        |role, address| Listener::bind(address).map_err(|source| StartError::Bind { role, address, source });
    let data_listener = bind("data", config.listener.address)?;
    let admin_listener = bind("admin", config.admin.address)?;
    let local_addr = data_listener.local_addr();
    let admin_addr = admin_listener.local_addr();

    let limits = Limits {
        initial: config.buffers.initial_size,
        read_max: config.buffers.read_max,
        write_max: config.buffers.write_max,
        memory: Arc::new(MemoryBudget::new(config.buffers.memory_limit)),
    };
    // The admin port has a memory budget of its own: client load cannot
    // lock the operator out.
    let admin_limits = Limits { memory: Arc::new(MemoryBudget::new(ADMIN_MEMORY_LIMIT)), ..limits.clone() };
    let tls = match config.tls.enabled() {
        true => Some(Arc::new(TlsAcceptor::load(tls_files(&config.tls)).map_err(StartError::Tls)?)),
        false => None,
    };
    let connections = ConnectionTable::new();
    let listening = connections.listen(data_listener.raw_fd() as u64, local_addr);
    let data_settings = WorkerSettings {
        limits: limits.clone(),
        requests_per_turn: config.workers.requests_per_turn,
        idle_timeout: config.listener.idle_timeout(),
        tls: tls.clone(),
        connections: Some(connections.clone()),
    };
    let shutdown = Arc::new(Shutdown::default());
    let protocol = Arc::new(protocol);
    let mut threads = Vec::new();
    let mut queues = Vec::new();

    for index in 0..config.workers.thread_count() {
        let name = format!("worker-{index}");
        let (sender, receiver) = crossbeam_channel::bounded(config.workers.queue_depth);
        let worker = worker::Worker::new(
            protocol.clone(),
            services(index),
            worker::Intake::Queue(receiver),
            data_settings.clone(),
            shutdown.clone(),
        )
        .map_err(|source| StartError::Thread { thread: name.clone(), source })?;
        queues.push(listener::WorkerQueue { sender, waker: worker.waker() });
        threads.push(spawn(name, move || worker.run())?);
    }

    let ready = admin.readiness();
    let admin_settings = WorkerSettings {
        limits: admin_limits,
        idle_timeout: None,
        tls: if config.tls.admin { tls.clone() } else { None },
        connections: None,
        ..data_settings
    };
    let admin = match &tls {
        Some(tls) => admin.with_command("refresh_certs", refresh_certs_command(tls.clone())),
        None => admin,
    };
    let admin_worker = worker::Worker::new(
        Arc::new(Admin),
        admin,
        worker::Intake::Listener(admin_listener),
        admin_settings,
        shutdown.clone(),
    )
    .map_err(|source| StartError::Thread { thread: "admin".into(), source })?;
    threads.push(spawn("admin".into(), move || admin_worker.run())?);

    let acceptor =
        listener::Acceptor::new(data_listener, queues, config.listener.max_connections, shutdown.clone())
            .map_err(|source| StartError::Thread { thread: "listener".into(), source })?;
    threads.push(spawn("listener".into(), move || acceptor.run())?);

    ready.store(true, std::sync::atomic::Ordering::Release);
    log::info!("serving on {local_addr}, admin on {admin_addr}");
    Ok(RunningServer { local_addr, admin_addr, connections, _listening: listening, shutdown, threads, tls })
}

fn tls_files(config: &TlsConfig) -> TlsFiles {
    TlsFiles {
        certificate: config.certificate.clone(),
        private_key: config.private_key.clone(),
        client_ca: config.client_ca().map(ToOwned::to_owned),
        min_version: match config.min_version {
            TlsVersion::Tls12 => MinVersion::Tls12,
            TlsVersion::Tls13 => MinVersion::Tls13,
        },
    }
}

/// The admin command `refresh_certs` (memcached's name): reloads the
/// certificates, or says why not and keeps the old ones.
fn refresh_certs_command(tls: Arc<TlsAcceptor>) -> petrel_protocol_admin::Command {
    Arc::new(move |_| match tls.reload() {
        Ok(()) => {
            log::info!("TLS certificates reloaded");
            "OK".to_string()
        }
        Err(error) => {
            log::warn!("TLS certificates not reloaded: {error}");
            format!("SERVER_ERROR {error}")
        }
    })
}

fn spawn(name: String, body: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, StartError> {
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(body)
        .map_err(|source| StartError::Thread { thread: name, source })
}
