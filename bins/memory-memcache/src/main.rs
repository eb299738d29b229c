//! An in-memory memcache server assembled from Petrel's crates: the example
//! that docs/building-a-server.md walks through.
//!
//! The server core brings the listener, the workers, the admin port, signals,
//! the command line and the configuration file; `protocol-memcache` brings
//! the protocol, the service and an in-memory store. What is left is wiring.

use std::process::ExitCode;
use std::sync::Arc;

use petrel_memcache_service::{MemcacheService, MemoryStorage, Watchers};
use petrel_metrics::ServerInfo;
use petrel_protocol_admin::AdminService;
use petrel_protocol_memcache::{Limits, Memcache, data_port_version};
use petrel_server::{Binary, CoreConfig};

fn main() -> ExitCode {
    let binary = Binary {
        name: "petrel-memory-memcache",
        about: "An in-memory memcache server built from Petrel's crates",
        version: env!("CARGO_PKG_VERSION"),
        env: &[],
    };
    // The file holds the core's sections only, so the core's type is the file.
    petrel_server::run(&binary, |config: &CoreConfig| {
        // One store shared by every worker; each worker gets its own service.
        let storage = Arc::new(MemoryStorage::new());
        let limits = Limits::default();
        // The data port reports memcached's form of the version, which
        // clients parse; the admin port, the server's own name.
        let threads = config.workers.thread_count();
        let info = Arc::new(ServerInfo::new(data_port_version(binary.version), threads));
        let admin_info = Arc::new(ServerInfo::new(format!("{} {}", binary.name, binary.version), threads));
        // `watch` sees every worker's requests: the services share the watchers.
        let watchers = Watchers::new();
        let server = petrel_server::start(
            config,
            Memcache::new(limits),
            |_worker| MemcacheService::new(storage.clone(), limits, info.clone(), &watchers),
            AdminService::new(admin_info),
        )?;
        Ok(server)
    })
}
