//! `petrel-ping`: the ping server, the baseline round-trip latency of the
//! Petrel stack (the server core with the smallest possible protocol).
//!
//! The binary is a thin `main` over [`start`], which tests and benchmarks
//! call too.

use std::sync::Arc;

use petrel_metrics::ServerInfo;
use petrel_protocol_admin::AdminService;
use petrel_protocol_ping::{Ping, PingService};
use petrel_server::{CoreConfig, RunningServer, StartError};

/// The name and version the server reports.
pub const VERSION: &str = concat!("petrel-ping ", env!("CARGO_PKG_VERSION"));

/// The configuration file of `petrel-ping` (see `config/ping.toml`): the
/// core's sections, nothing else.
pub type PingConfig = CoreConfig;

/// Starts the ping server's threads.
pub fn start(config: &PingConfig) -> Result<RunningServer, StartError> {
    let server_info = Arc::new(ServerInfo::new(VERSION, config.workers.thread_count()));
    petrel_server::start(config, Ping, |_| PingService, AdminService::new(server_info))
}
