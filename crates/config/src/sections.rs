//! The configuration sections of the server core, one per module.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ValueError;

/// `[listener]`: the data port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenerConfig {
    /// Address and port clients connect to. Port 0 picks a free port.
    pub address: SocketAddr,
    /// Most client connections open at once; the next one is answered
    /// `SERVER_ERROR too many open connections` and closed.
    pub max_connections: usize,
    /// Seconds a client connection may stay silent before the server closes
    /// it (memcached's `-o idle_timeout`); 0 never closes.
    pub idle_timeout: u64,
}

impl ListenerConfig {
    /// A listener section on `address` with the other keys at their defaults.
    pub fn on(address: SocketAddr) -> Self {
        Self { address, ..Self::default() }
    }

    /// How long a silent client connection is kept; `None` for ever.
    pub fn idle_timeout(&self) -> Option<std::time::Duration> {
        (self.idle_timeout > 0).then(|| std::time::Duration::from_secs(self.idle_timeout))
    }

    /// Checks the section, reporting keys under `section`.
    pub fn validate(&self, section: &str) -> Result<(), ValueError> {
        if self.max_connections == 0 {
            return Err(ValueError::new(section, "max_connections", "must be at least 1"));
        }
        Ok(())
    }
}

impl Default for ListenerConfig {
    fn default() -> Self {
        Self { address: SocketAddr::from(([127, 0, 0, 1], 12321)), max_connections: 10_000, idle_timeout: 0 }
    }
}

/// `[workers]`: the threads that serve connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkersConfig {
    /// Number of worker threads; 0 means one per CPU core.
    pub threads: usize,
    /// Connections waiting in each worker's queue before the listener drops
    /// new ones (and counts them).
    pub queue_depth: usize,
    /// Requests served from one connection before the worker turns to the
    /// others, so one pipelining client cannot starve the rest.
    pub requests_per_turn: usize,
}

/// More threads than this is a mistake, not a configuration.
const MAX_THREADS: usize = 1024;

impl WorkersConfig {
    /// The number of threads to start: `threads`, or one per core for 0.
    pub fn thread_count(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            n => n,
        }
    }

    /// Checks the section, reporting keys under `section`.
    pub fn validate(&self, section: &str) -> Result<(), ValueError> {
        if self.threads > MAX_THREADS {
            return Err(ValueError::new(section, "threads", format!("must be at most {MAX_THREADS}")));
        }
        if self.queue_depth == 0 {
            return Err(ValueError::new(section, "queue_depth", "must be at least 1"));
        }
        if self.requests_per_turn == 0 {
            return Err(ValueError::new(section, "requests_per_turn", "must be at least 1"));
        }
        Ok(())
    }
}

impl Default for WorkersConfig {
    fn default() -> Self {
        Self { threads: 0, queue_depth: 1024, requests_per_turn: 256 }
    }
}

/// `[admin]`: the operators' port (`version`, `stats`, `quit`, HTTP metrics).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Address and port of the admin listener. Port 0 picks a free port.
    pub address: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self { address: SocketAddr::from(([127, 0, 0, 1], 9999)) }
    }
}

/// `[buffers]`: per-connection read and write buffers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BuffersConfig {
    /// Size a buffer starts at, and shrinks back to once it is empty again.
    pub initial_size: usize,
    /// Most bytes of unparsed requests held for one connection. It must hold
    /// the largest request (for memcache, the largest item plus its line).
    pub read_max: usize,
    /// Most bytes of unsent responses held for one connection. Past it the
    /// server stops reading that connection until the client reads.
    pub write_max: usize,
    /// Most bytes all connections' buffers hold together above
    /// `initial_size`. Past it a connection whose request needs a larger
    /// buffer is closed, and connections with responses waiting are not read
    /// until their clients read.
    pub memory_limit: usize,
}

impl BuffersConfig {
    /// Checks the section, reporting keys under `section`.
    pub fn validate(&self, section: &str) -> Result<(), ValueError> {
        if self.initial_size < 64 {
            return Err(ValueError::new(section, "initial_size", "must be at least 64"));
        }
        if self.read_max < self.initial_size {
            return Err(ValueError::new(section, "read_max", "must be at least initial_size"));
        }
        if self.write_max < self.initial_size {
            return Err(ValueError::new(section, "write_max", "must be at least initial_size"));
        }
        if self.memory_limit < self.read_max {
            return Err(ValueError::new(section, "memory_limit", "must be at least read_max"));
        }
        Ok(())
    }
}

impl Default for BuffersConfig {
    fn default() -> Self {
        Self { initial_size: 4096, read_max: 2 << 20, write_max: 2 << 20, memory_limit: 1 << 30 }
    }
}

/// `[logging]`: the server log and the sampled command log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// Least severe level written.
    pub level: LogLevel,
    /// Where the log goes: `"stderr"` or a file path.
    pub output: String,
    /// Command log (klog): log one in `klog_sample` commands, 0 for none.
    pub klog_sample: u64,
    /// File the command log is written to.
    pub klog_output: PathBuf,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: LogLevel::Info,
            output: "stderr".to_string(),
            klog_sample: 0,
            klog_output: PathBuf::from("petrel-klog.log"),
        }
    }
}

/// Severity levels, least to most verbose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum LogLevel {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}
