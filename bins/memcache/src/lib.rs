//! `petrel-memcache`: a memcached drop-in whose items live in RocksDB, so a
//! restart or a crash does not empty the cache.
//!
//! The server core with the memcache protocol and the RocksDB store; the
//! binary is a thin `main` over [`start`], which tests and benchmarks call too.

mod checkpoint;

use std::error::Error;
use std::sync::Arc;

use petrel_config::{ServerConfig, Validate, ValueError};
use petrel_memcache_service::{MemcacheService, Storage, Watchers};
use petrel_metrics::ServerInfo;
use petrel_protocol_admin::AdminService;
use petrel_protocol_memcache::{Limits, Memcache, data_port_version};
use petrel_server::{CoreConfig, RunningServer};
use petrel_storage_rocks::{RocksStorage, StorageConfig};
use serde::{Deserialize, Serialize};

pub use checkpoint::{CheckpointRefused, Checkpoints};

/// The name and version the server reports on its admin port and logs; the
/// data port reports memcached's form of it (see [`data_port_version`]).
pub const VERSION: &str = concat!("petrel-memcache ", env!("CARGO_PKG_VERSION"));

/// Environment variables that override the main settings, for containers.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("PETREL_LISTEN", "listener.address"),
    ("PETREL_ADMIN", "admin.address"),
    ("PETREL_THREADS", "workers.threads"),
    ("PETREL_DATA_DIR", "storage.path"),
    ("PETREL_CAPACITY", "storage.capacity"),
    ("PETREL_CACHE_SIZE", "storage.item_cache_size"),
    ("PETREL_SYNC_WRITES", "storage.sync_writes"),
    ("PETREL_LOG_LEVEL", "logging.level"),
];

/// The configuration file of `petrel-memcache` (see `config/memcache.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemcacheConfig {
    /// The core's sections: `[listener]` (the data port, 127.0.0.1:11211 by
    /// default), `[workers]`, `[admin]`, `[buffers]`, `[logging]`.
    #[serde(flatten)]
    pub core: CoreConfig,
    /// `[protocol]`: size limits.
    pub protocol: ProtocolConfig,
    /// `[storage]`: RocksDB.
    pub storage: StorageConfig,
    /// `[checkpoint]`: where the admin command `checkpoint` may write.
    pub checkpoint: CheckpointConfig,
}

/// `[checkpoint]`: backups taken by the admin command `checkpoint`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointConfig {
    /// The directory checkpoints go under, each into a new directory the
    /// command names; empty (the default) refuses every checkpoint.
    pub root: std::path::PathBuf,
}

impl Default for MemcacheConfig {
    fn default() -> Self {
        Self {
            core: CoreConfig::listening_on(([127, 0, 0, 1], 11211).into()),
            protocol: ProtocolConfig::default(),
            storage: StorageConfig::default(),
            checkpoint: CheckpointConfig::default(),
        }
    }
}

/// `[protocol]`: what the memcache protocol accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProtocolConfig {
    /// Largest value stored, in bytes (memcached's `-I`, default 1 MiB).
    pub item_size_max: usize,
    /// Longest command line, in bytes; longer closes the connection.
    pub max_line: usize,
    /// Whether clients may speak memcached's binary protocol (chosen per
    /// connection by its first byte); when not, such a connection is closed.
    pub binary: bool,
    /// Most connections watching the log (`watch`) at once; the next is
    /// answered `WATCHER_TOO_MANY log watcher limit reached`.
    pub max_watchers: usize,
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            item_size_max: limits.item_size_max,
            max_line: limits.max_line,
            binary: true,
            max_watchers: petrel_memcache_service::MAX_WATCHERS,
        }
    }
}

impl Validate for MemcacheConfig {
    fn validate(&self) -> Result<(), ValueError> {
        self.core.validate()?;
        self.storage.validate("storage")?;
        if self.protocol.max_line < 512 {
            return Err(ValueError::new("protocol", "max_line", "must be at least 512"));
        }
        let largest_request = self.protocol.item_size_max + self.protocol.max_line + 2;
        if self.core.buffers.read_max < largest_request {
            return Err(ValueError::new(
                "buffers",
                "read_max",
                format!(
                    "must hold the largest request, protocol.item_size_max + protocol.max_line + 2 = {largest_request}"
                ),
            ));
        }
        Ok(())
    }
}

impl ServerConfig for MemcacheConfig {
    fn core(&self) -> &CoreConfig {
        &self.core
    }
}

/// What `stats settings` lists: memcached's settings that apply, by
/// memcached's names.
fn settings(info: ServerInfo, config: &MemcacheConfig) -> ServerInfo {
    let listener = &config.core.listener;
    info.with_setting("maxbytes", config.storage.capacity)
        .with_setting("maxconns", listener.max_connections)
        .with_setting("tcpport", listener.address.port())
        .with_setting("udpport", 0)
        .with_setting("inter", listener.address.ip())
        .with_setting("verbosity", 0)
        .with_setting("evictions", "on")
        .with_setting("domain_socket", "NULL")
        .with_setting("detail_enabled", "no")
        .with_setting("reqs_per_event", config.core.workers.requests_per_turn)
        .with_setting("cas_enabled", "yes")
        .with_setting("maxconns_fast", "yes")
        .with_setting("binding_protocol", if config.protocol.binary { "auto-negotiate" } else { "ascii" })
        .with_setting("auth_enabled_sasl", "no")
        .with_setting("auth_enabled_ascii", "no")
        .with_setting("flush_enabled", "yes")
        .with_setting("dump_enabled", "yes")
        .with_setting("shutdown_command", "no")
        .with_setting("track_sizes", "no")
        .with_setting("temp_lru", "no")
        .with_setting("idle_timeout", listener.idle_timeout)
        .with_setting("ssl_enabled", if config.core.tls.enabled() { "yes" } else { "no" })
        .with_setting("ssl_min_version", config.core.tls.min_version.memcached_name())
}

/// Opens the store and starts the server's threads. The store closes
/// cleanly once the server has stopped and its threads are gone.
pub fn start(config: &MemcacheConfig) -> Result<RunningServer, Box<dyn Error>> {
    // `watch` sees every worker's requests and the store's evictions.
    let watchers = Watchers::new();
    let storage =
        Arc::new(RocksStorage::open_with_eviction_log(&config.storage, Arc::new(watchers.clone()))?);
    let limits = Limits { item_size_max: config.protocol.item_size_max, max_line: config.protocol.max_line };
    let data_port_info =
        ServerInfo::new(data_port_version(env!("CARGO_PKG_VERSION")), config.core.workers.thread_count());
    let server_info = Arc::new(settings(data_port_info, config));
    let admin_info = Arc::new(ServerInfo { version: VERSION.to_string(), ..(*server_info).clone() });
    let refresh_storage = storage.clone();
    let checkpoints = Checkpoints::new(storage.clone(), &config.checkpoint.root);
    let admin = AdminService::new(admin_info)
        .with_refresh(Arc::new(move || refresh_storage.stats().report()))
        .with_command("checkpoint", Arc::new(move |directory| checkpoints.command(directory)));
    let server = petrel_server::start(
        &config.core,
        Memcache { limits, binary: config.protocol.binary },
        |_| {
            MemcacheService::new(storage.clone(), limits, server_info.clone(), &watchers)
                .with_max_watchers(config.protocol.max_watchers)
        },
        admin,
    )?;
    // Known once the server listens; set once, here.
    let _ = server_info.bound_port.set(server.local_addr().port());
    let _ = server_info.connections.set(server.connections());
    Ok(server)
}
