//! Configuration of Petrel servers: typed sections, TOML files, the command line.
//!
//! Each module of a server owns one section ([`ListenerConfig`],
//! [`WorkersConfig`], [`AdminConfig`], [`BuffersConfig`], [`LoggingConfig`];
//! later crates add their own, such as storage). A binary gathers the sections
//! it uses into one struct that implements [`Default`] with its own defaults
//! (each binary listens on its own port) and [`Validate`]. The sections the
//! server core reads come together as [`CoreConfig`], which a binary embeds.
//!
//! [`load`] reads a TOML file over those defaults: a key the file leaves out
//! keeps its default, an unknown key or a bad value is an error that names the
//! key and the file. [`Cli`] is the command line every binary shares:
//! `[CONFIG]`, `--print-config`, `--test-config`, `--help`, `--version`.
//!
//! ```
//! use petrel_config::{load_str, ListenerConfig, Validate, ValueError};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Default, Serialize, Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct MyServer {
//!     listener: ListenerConfig,
//! }
//! impl Validate for MyServer {
//!     fn validate(&self) -> Result<(), ValueError> {
//!         self.listener.validate("listener")
//!     }
//! }
//!
//! let config: MyServer = load_str("[listener]\nmax_connections = 5\n", "inline").unwrap();
//! assert_eq!(config.listener.max_connections, 5);
//! let error = load_str::<MyServer>("[listener]\nport = 1\n", "inline").unwrap_err();
//! assert!(error.to_string().contains("listener.port"));
//! ```

mod cli;
mod core;
mod sections;
mod tls;

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use cli::Cli;
pub use core::CoreConfig;
pub use sections::{AdminConfig, BuffersConfig, ListenerConfig, LogLevel, LoggingConfig, WorkersConfig};
pub use tls::{TlsConfig, TlsVersion};

/// A configuration that can check its own values beyond what their types say.
pub trait Validate {
    /// Checks every value; the error names the first bad key.
    fn validate(&self) -> Result<(), ValueError>;
}

/// A value that has the right type but is out of range or inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key `{key}`: {problem}")]
pub struct ValueError {
    /// The dotted path of the key, such as `workers.threads`.
    pub key: String,
    /// What is wrong with it.
    pub problem: String,
}

impl ValueError {
    /// An error for the key `section.name`.
    pub fn new(section: &str, name: &str, problem: impl Into<String>) -> Self {
        Self { key: format!("{section}.{name}"), problem: problem.into() }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {origin}: {source}")]
    Read {
        /// The file.
        origin: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("config file {origin} is not valid TOML: {source}")]
    Syntax {
        /// The file.
        origin: String,
        /// The parser's message, with line and column.
        source: Box<toml::de::Error>,
    },
    /// A key is unknown, has the wrong type, or a bad value.
    #[error("config file {origin}: key `{key}`: {problem}")]
    Invalid {
        /// The file.
        origin: String,
        /// The dotted path of the key at fault.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// Loads a configuration from a TOML file over `T`'s defaults, and validates it.
pub fn load<T>(path: &Path) -> Result<T, ConfigError>
where
    T: Default + Serialize + DeserializeOwned + Validate,
{
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { origin: origin.clone(), source })?;
    load_str(&text, &origin)
}

/// Loads a configuration from TOML text over `T`'s defaults, and validates it.
/// `origin` names where the text came from, for error messages.
pub fn load_str<T>(text: &str, origin: &str) -> Result<T, ConfigError>
where
    T: Default + Serialize + DeserializeOwned + Validate,
{
    let overrides: toml::Table = text
        .parse()
        .map_err(|source| ConfigError::Syntax { origin: origin.to_string(), source: Box::new(source) })?;
    load_table(overrides, origin)
}

/// Loads a configuration from an already parsed table over `T`'s defaults,
/// and validates it. Binaries use it to apply environment overrides.
pub fn load_table<T>(overrides: toml::Table, origin: &str) -> Result<T, ConfigError>
where
    T: Default + Serialize + DeserializeOwned + Validate,
{
    let mut merged =
        toml::Table::try_from(T::default()).expect("a default configuration always serializes to a table");
    merge(&mut merged, overrides);
    let config: T = serde_path_to_error::deserialize(merged.clone()).map_err(|error| {
        let (key, problem) = locate(&merged, error);
        ConfigError::Invalid { origin: origin.to_string(), key, problem }
    })?;
    reject_unknown_keys(&merged, &toml::Table::try_from(&config).expect("a configuration always serializes"))
        .map_err(|key| ConfigError::Invalid {
            origin: origin.to_string(),
            key,
            problem: "unknown key".to_string(),
        })?;
    config.validate().map_err(|error| ConfigError::Invalid {
        origin: origin.to_string(),
        key: error.key,
        problem: error.problem,
    })?;
    Ok(config)
}

/// The dotted key at fault and what is wrong with it. serde loses the path
/// inside a flattened field, which in a binary's file is its embedded
/// [`CoreConfig`]: then the core's sections are read again alone to find it.
fn locate(merged: &toml::Table, error: serde_path_to_error::Error<toml::de::Error>) -> (String, String) {
    let key = error.path().to_string();
    if key != "." {
        return (key, error.into_inner().message().to_string());
    }
    let core_keys = toml::Table::try_from(CoreConfig::default()).expect("the core's defaults serialize");
    let core: toml::Table = merged
        .iter()
        .filter(|(key, _)| core_keys.contains_key(*key))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    match serde_path_to_error::deserialize::<_, CoreConfig>(core) {
        Err(inner) => (inner.path().to_string(), inner.into_inner().message().to_string()),
        Ok(_) => (key, error.into_inner().message().to_string()),
    }
}

/// Finds a key of `given` that the configuration did not take: serde
/// ignores the unknown keys of a struct with a flattened field (such as a
/// binary's embedded [`CoreConfig`]), so every binary gets the check here,
/// by comparing what was given with what the configuration serializes back.
fn reject_unknown_keys(given: &toml::Table, taken: &toml::Table) -> Result<(), String> {
    for (key, value) in given {
        match (value, taken.get(key)) {
            (_, None) => return Err(key.clone()),
            (toml::Value::Table(given), Some(toml::Value::Table(taken))) => {
                reject_unknown_keys(given, taken).map_err(|inner| format!("{key}.{inner}"))?
            }
            _ => {}
        }
    }
    Ok(())
}

/// A binary's configuration file: its sections, defaults and checks.
pub trait ServerConfig: Default + Serialize + DeserializeOwned + Validate {
    /// The sections the server core reads.
    fn core(&self) -> &CoreConfig;
}

/// A binary that needs nothing beyond the core's sections uses
/// [`CoreConfig`] as its whole file.
impl ServerConfig for CoreConfig {
    fn core(&self) -> &CoreConfig {
        self
    }
}

/// Loads a configuration: `T`'s defaults, then the file at `path` (if any),
/// then environment variables, each overriding the one before. `env` maps
/// variable names to dotted keys, such as `("PETREL_THREADS", "workers.threads")`;
/// a value that reads as an integer or a boolean is taken as one.
pub fn load_with_env<T: ServerConfig>(path: Option<&Path>, env: &[(&str, &str)]) -> Result<T, ConfigError> {
    let (mut table, mut origin) = match path {
        Some(path) => {
            let origin = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|source| ConfigError::Read { origin: origin.clone(), source })?;
            let table: toml::Table = text
                .parse()
                .map_err(|source| ConfigError::Syntax { origin: origin.clone(), source: Box::new(source) })?;
            (table, origin)
        }
        None => (toml::Table::new(), "(defaults)".to_string()),
    };
    for (variable, key) in env {
        let Ok(value) = std::env::var(variable) else { continue };
        let value = match (value.parse::<i64>(), value.parse::<bool>()) {
            (Ok(number), _) => toml::Value::Integer(number),
            (_, Ok(flag)) => toml::Value::Boolean(flag),
            _ => toml::Value::String(value),
        };
        let (section, name) = key.split_once('.').unwrap_or(("", key));
        let section = table.entry(section).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(section) = section {
            section.insert(name.to_string(), value);
        }
        origin.push_str(&format!(" + ${variable}"));
    }
    load_table(table, &origin)
}

/// Renders a configuration as TOML, every key with its effective value.
pub fn to_toml<T: Serialize>(config: &T) -> String {
    toml::to_string(config).expect("a configuration always serializes to TOML")
}

/// Lays `overrides` over `base`, table by table; any other value replaces.
fn merge(base: &mut toml::Table, overrides: toml::Table) {
    for (key, value) in overrides {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(base_table)), toml::Value::Table(override_table)) => {
                merge(base_table, override_table)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// The shape of a binary's file: the core's sections, flattened, and
    /// one section of its own.
    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    struct Sample {
        #[serde(flatten)]
        core: CoreConfig,
        storage: Storage,
    }

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Storage {
        path: String,
    }

    impl Validate for Sample {
        fn validate(&self) -> Result<(), ValueError> {
            self.core.validate()
        }
    }

    fn error(text: &str) -> String {
        load_str::<Sample>(text, "sample.toml").unwrap_err().to_string()
    }

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(load_str::<Sample>("", "x").unwrap(), Sample::default());
    }

    #[test]
    fn keys_left_out_keep_their_defaults() {
        let config: Sample = load_str("[workers]\nthreads = 3\n", "x").unwrap();
        assert_eq!(config.core.workers.threads, 3);
        assert_eq!(config.core.workers.queue_depth, WorkersConfig::default().queue_depth);
        assert_eq!(config.core.listener, ListenerConfig::default());
    }

    #[test]
    fn unknown_key_is_named_with_the_file() {
        let message = error("[workers]\nthread = 3\n");
        assert!(message.contains("sample.toml"), "{message}");
        assert!(message.contains("workers.thread"), "{message}");
        let message = error("[storage]\nx = 1\n");
        assert!(message.contains("key `storage.x`"), "{message}");
        let message = error("[storag]\npath = \"/x\"\n");
        assert!(message.contains("key `storag`: unknown key"), "{message}");
        let message = error("threads = 3\n");
        assert!(message.contains("key `threads`"), "{message}");
    }

    #[test]
    fn wrong_type_is_named() {
        let message = error("[workers]\nthreads = \"many\"\n");
        assert!(message.contains("key `workers.threads`"), "{message}");
        let message = error("[listener]\naddress = \"nowhere\"\n");
        assert!(message.contains("key `listener.address`"), "{message}");
        let message = error("[logging]\nlevel = \"loud\"\n");
        assert!(message.contains("key `logging.level`"), "{message}");
    }

    #[test]
    fn out_of_range_value_is_named() {
        let message = error("[workers]\nthreads = 100000\n");
        assert!(message.contains("key `workers.threads`"), "{message}");
        let message = error("[listener]\nmax_connections = 0\n");
        assert!(message.contains("key `listener.max_connections`"), "{message}");
    }

    #[test]
    fn syntax_error_names_the_file_and_line() {
        let message = error("[workers\n");
        assert!(message.contains("sample.toml is not valid TOML"), "{message}");
        assert!(message.contains("line 1"), "{message}");
    }

    #[test]
    fn printed_config_loads_back_identically() {
        let config: Sample = load_str("[workers]\nthreads = 2\n", "x").unwrap();
        let again: Sample = load_str(&to_toml(&config), "x").unwrap();
        assert_eq!(again.core.workers.threads, 2);
        assert_eq!(config, again);
    }
}
