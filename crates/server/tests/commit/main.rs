//! A worker sends a round's responses only once the service has committed
//! them, and a failed commit costs each write its reply, never an
//! acknowledgement: real servers on free ports, services whose commit can be
//! made to fail, and plain TCP clients.

mod memcache;
mod ping;

use petrel_config::{AdminConfig, ListenerConfig, WorkersConfig};
use petrel_server::CoreConfig;

/// One worker; the data and admin ports free ones.
fn one_worker_on_free_ports() -> CoreConfig {
    let free = || "127.0.0.1:0".parse().unwrap();
    CoreConfig {
        listener: ListenerConfig::on(free()),
        workers: WorkersConfig { threads: 1, ..WorkersConfig::default() },
        admin: AdminConfig { address: free() },
        ..CoreConfig::default()
    }
}
