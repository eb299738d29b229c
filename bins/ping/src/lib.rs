//! `petrel-ping`: the ping server, the baseline round-trip latency of the
//! Petrel stack (the server core with the smallest possible protocol).
//!
//! The binary is a thin `main` over [`start`], which tests and benchmarks
//! call too.

use petrel_config::{
    AdminConfig, BuffersConfig, ListenerConfig, LoggingConfig, ServerConfig, Validate, ValueError,
    WorkersConfig,
};
use std::sync::Arc;

use petrel_metrics::ServerInfo;
use petrel_protocol_admin::AdminService;
use petrel_protocol_ping::{Ping, PingService};
use petrel_server::{CoreConfig, RunningServer, StartError};
use serde::{Deserialize, Serialize};

/// The name and version the server reports.
pub const VERSION: &str = concat!("petrel-ping ", env!("CARGO_PKG_VERSION"));

/// The configuration file of `petrel-ping` (see `config/ping.toml`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PingConfig {
    /// `[listener]`: the data port, 127.0.0.1:12321 by default.
    pub listener: ListenerConfig,
    /// `[workers]`
    pub workers: WorkersConfig,
    /// `[admin]`: the admin port, 127.0.0.1:9999 by default.
    pub admin: AdminConfig,
    /// `[buffers]`
    pub buffers: BuffersConfig,
    /// `[logging]`
    pub logging: LoggingConfig,
}

impl Validate for PingConfig {
    fn validate(&self) -> Result<(), ValueError> {
        self.listener.validate("listener")?;
        self.workers.validate("workers")?;
        self.buffers.validate("buffers")
    }
}

impl ServerConfig for PingConfig {
    fn logging(&self) -> &LoggingConfig {
        &self.logging
    }

    fn listener(&self) -> &ListenerConfig {
        &self.listener
    }
}

/// Starts the ping server's threads.
pub fn start(config: &PingConfig) -> Result<RunningServer, StartError> {
    let core = CoreConfig {
        listener: config.listener.clone(),
        workers: config.workers.clone(),
        admin: config.admin.clone(),
        buffers: config.buffers.clone(),
    };
    let server_info = Arc::new(ServerInfo::new(VERSION, config.workers.thread_count()));
    petrel_server::start(&core, Ping, |_| PingService, AdminService::new(server_info))
}
