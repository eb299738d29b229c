//! An in-memory memcache server assembled from Petrel's crates: the example
//! that docs/building-a-server.md walks through.
//!
//! The server core brings the listener, the workers, the admin port, signals
//! and the command line; `protocol-memcache` brings the protocol, the service
//! and an in-memory store. What is left is the configuration and the wiring.

use std::process::ExitCode;
use std::sync::Arc;

use petrel_config::{
    AdminConfig, BuffersConfig, ListenerConfig, LoggingConfig, ServerConfig, Validate, ValueError,
    WorkersConfig,
};
use petrel_metrics::ServerInfo;
use petrel_protocol_admin::AdminService;
use petrel_protocol_memcache::{Limits, Memcache, MemcacheService, MemoryStorage};
use petrel_server::{Binary, CoreConfig};
use serde::{Deserialize, Serialize};

/// The configuration file: the core's sections, nothing else.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    listener: ListenerConfig,
    workers: WorkersConfig,
    admin: AdminConfig,
    buffers: BuffersConfig,
    logging: LoggingConfig,
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ValueError> {
        self.listener.validate("listener")?;
        self.workers.validate("workers")?;
        self.buffers.validate("buffers")
    }
}

impl ServerConfig for Config {
    fn logging(&self) -> &LoggingConfig {
        &self.logging
    }

    fn listener(&self) -> &ListenerConfig {
        &self.listener
    }
}

fn main() -> ExitCode {
    let binary = Binary {
        name: "petrel-memory-memcache",
        about: "An in-memory memcache server built from Petrel's crates",
        version: env!("CARGO_PKG_VERSION"),
        env: &[],
    };
    petrel_server::run(&binary, |config: &Config| {
        let core = CoreConfig {
            listener: config.listener.clone(),
            workers: config.workers.clone(),
            admin: config.admin.clone(),
            buffers: config.buffers.clone(),
        };
        // One store shared by every worker; each worker gets its own service.
        let storage = Arc::new(MemoryStorage::new());
        let limits = Limits::default();
        let info = Arc::new(ServerInfo::new("petrel-memory-memcache", config.workers.thread_count()));
        let admin = AdminService::new(info.clone());
        let server = petrel_server::start(
            &core,
            Memcache { limits },
            |_worker| MemcacheService::new(storage.clone(), limits, info.clone()),
            admin,
        )?;
        Ok(server)
    })
}
