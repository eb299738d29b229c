//! `petrel-memcache [CONFIG]`: see the library docs and `config/memcache.toml`.

use std::process::ExitCode;

use petrel_memcache::{ENV_OVERRIDES, MemcacheConfig};
use petrel_server::Binary;

fn main() -> ExitCode {
    let binary = Binary {
        name: "petrel-memcache",
        about: "Petrel's persistent memcache server: the memcached protocol, items in RocksDB",
        version: env!("CARGO_PKG_VERSION"),
        env: ENV_OVERRIDES,
    };
    petrel_server::run(&binary, |config: &MemcacheConfig| petrel_memcache::start(config))
}
