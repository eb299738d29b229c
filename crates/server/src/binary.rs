//! The `main` every server binary shares: command line, configuration,
//! logging, signals, start, graceful stop.

use std::error::Error;
use std::process::ExitCode;

use petrel_config::{Cli, ServerConfig};

use crate::{RunningServer, Signal, StopSignals, exit_on_panic, raise_open_files_limit};

/// What a binary says about itself.
pub struct Binary {
    /// The executable's name, such as `petrel-memcache`.
    pub name: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    /// The version, `env!("CARGO_PKG_VERSION")` of the binary.
    pub version: &'static str,
    /// Environment variables that override config keys: `(variable, key)`.
    pub env: &'static [(&'static str, &'static str)],
}

/// Runs a server binary: parses the command line, loads the configuration
/// (file, then environment), handles `--print-config` and `--test-config`,
/// starts logging and the server, prints the `ready:` line with the bound
/// ports, reloads TLS certificates on SIGHUP, and on SIGINT or SIGTERM
/// stops gracefully. Exit status 0 after a
/// clean stop, 2 when the configuration or startup fails.
pub fn run<C: ServerConfig>(
    binary: &Binary,
    start: impl FnOnce(&C) -> Result<RunningServer, Box<dyn Error>>,
) -> ExitCode {
    let fail = |error: &dyn std::fmt::Display| {
        eprintln!("{}: {error}", binary.name);
        ExitCode::from(2)
    };
    let cli = Cli::parse_for(binary.name, binary.about, binary.version);
    let config: C = match petrel_config::load_with_env(cli.config.as_deref(), binary.env) {
        Ok(config) => config,
        Err(error) => return fail(&error),
    };
    if cli.print_config {
        print!("{}", petrel_config::to_toml(&config));
        return ExitCode::SUCCESS;
    }
    if cli.test_config {
        println!("configuration is valid");
        return ExitCode::SUCCESS;
    }

    let logger = match petrel_logger::init(&config.core().logging) {
        Ok(logger) => logger,
        Err(error) => return fail(&error),
    };
    let mut signals = match StopSignals::install() {
        Ok(signals) => signals,
        Err(error) => return fail(&error),
    };
    exit_on_panic();
    let max_connections = config.core().listener.max_connections;
    match raise_open_files_limit(max_connections) {
        Ok(limit) if limit < max_connections as u64 => log::warn!(
            "at most {limit} files may be open (the hard limit), fewer than listener.max_connections = {max_connections}"
        ),
        Ok(_) => {}
        Err(error) => log::warn!("cannot raise the open files limit: {error}"),
    }
    let server = match start(&config) {
        Ok(server) => server,
        Err(error) => {
            log::error!("{error}");
            drop(logger);
            return fail(&error);
        }
    };
    // Scripts and tests wait for this line; it carries the bound ports.
    println!(
        "{} {} ready: data={} admin={}",
        binary.name,
        binary.version,
        server.local_addr(),
        server.admin_addr()
    );

    let signal = loop {
        match signals.wait() {
            Signal::Stop(name) => break name,
            Signal::Hangup => match server.refresh_certs() {
                Ok(true) => log::info!("SIGHUP received: TLS certificates reloaded"),
                Ok(false) => log::info!("SIGHUP received: no TLS certificates to reload"),
                Err(error) => {
                    log::warn!("SIGHUP received: TLS certificates not reloaded, keeping the old: {error}")
                }
            },
        }
    };
    log::info!("{signal} received: shutting down");
    server.shutdown();
    server.wait();
    log::info!("stopped");
    drop(logger);
    ExitCode::SUCCESS
}
