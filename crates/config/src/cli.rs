//! The command line shared by every Petrel binary.

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser};

/// `petrel-<name> [CONFIG] [--print-config] [--test-config]`.
#[derive(Debug, Clone, Parser)]
pub struct Cli {
    /// TOML configuration file; without it, the built-in defaults apply.
    pub config: Option<PathBuf>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Validate the configuration and exit: 0 when valid.
    #[arg(long)]
    pub test_config: bool,
}

impl Cli {
    /// Parses the process arguments for the binary `name`; `--help` and
    /// `--version` print and exit as usual.
    pub fn parse_for(name: &'static str, about: &'static str, version: &'static str) -> Self {
        let matches = Self::command().name(name).about(about).version(version).get_matches();
        Self::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
    }
}
