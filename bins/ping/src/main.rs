//! `petrel-ping [CONFIG]`: see the library docs and `config/ping.toml`.

use std::process::ExitCode;

use petrel_config::Cli;
use petrel_ping::{PingConfig, VERSION};
use petrel_server::StopSignals;

fn main() -> ExitCode {
    let cli =
        Cli::parse_for("petrel-ping", "Petrel's ping server: PING in, PONG out", env!("CARGO_PKG_VERSION"));
    let config: PingConfig = match &cli.config {
        Some(path) => match petrel_config::load(path) {
            Ok(config) => config,
            Err(error) => return fail(error),
        },
        None => PingConfig::default(),
    };
    if cli.print_config {
        print!("{}", petrel_config::to_toml(&config));
        return ExitCode::SUCCESS;
    }
    if cli.test_config {
        println!("configuration is valid");
        return ExitCode::SUCCESS;
    }

    let logger = match petrel_logger::init(&config.logging) {
        Ok(logger) => logger,
        Err(error) => return fail(error),
    };
    let signals = match StopSignals::install() {
        Ok(signals) => signals,
        Err(error) => return fail(error),
    };
    petrel_server::exit_on_panic();
    let server = match petrel_ping::start(&config) {
        Ok(server) => server,
        Err(error) => {
            log::error!("{error}");
            drop(logger);
            return fail(error);
        }
    };
    // Tests and scripts wait for this line; it carries the bound ports.
    println!("{VERSION} ready: data={} admin={}", server.local_addr(), server.admin_addr());

    let signal = signals.wait();
    log::info!("{signal} received: shutting down");
    server.shutdown();
    server.wait();
    log::info!("stopped");
    drop(logger);
    ExitCode::SUCCESS
}

fn fail(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("petrel-ping: {error}");
    ExitCode::from(2)
}
