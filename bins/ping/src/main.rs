//! `petrel-ping [CONFIG]`: see the library docs and `config/ping.toml`.

use std::process::ExitCode;

use petrel_ping::PingConfig;
use petrel_server::Binary;

fn main() -> ExitCode {
    let binary = Binary {
        name: "petrel-ping",
        about: "Petrel's ping server: PING in, PONG out",
        version: env!("CARGO_PKG_VERSION"),
        env: &[],
    };
    petrel_server::run(&binary, |config: &PingConfig| Ok(petrel_ping::start(config)?))
}
