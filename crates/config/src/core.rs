//! The sections every Petrel server reads, gathered so a binary embeds them
//! once and hands them to the server core.

use serde::{Deserialize, Serialize};

use crate::{
    AdminConfig, BuffersConfig, ListenerConfig, LoggingConfig, TlsConfig, Validate, ValueError, WorkersConfig,
};

/// `[listener]`, `[workers]`, `[admin]`, `[buffers]`, `[logging]` and `[tls]`: what
/// the server core reads. A binary whose file has only these sections uses
/// this type as its configuration; one with sections of its own embeds it
/// with `#[serde(flatten)]`, so the file stays flat:
///
/// ```
/// use petrel_config::{load_str, CoreConfig, ServerConfig, Validate, ValueError};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Default, Serialize, Deserialize)]
/// struct MyServer {
///     #[serde(flatten)]
///     core: CoreConfig,
///     greeting: Greeting,
/// }
/// #[derive(Debug, Default, Serialize, Deserialize)]
/// #[serde(deny_unknown_fields, default)]
/// struct Greeting {
///     text: String,
/// }
/// impl Validate for MyServer {
///     fn validate(&self) -> Result<(), ValueError> {
///         self.core.validate()
///     }
/// }
/// impl ServerConfig for MyServer {
///     fn core(&self) -> &CoreConfig {
///         &self.core
///     }
/// }
///
/// let config: MyServer = load_str("[workers]\nthreads = 2\n[greeting]\ntext = \"hi\"\n", "inline").unwrap();
/// assert_eq!((config.core.workers.threads, config.greeting.text.as_str()), (2, "hi"));
/// // A misspelt section is still an error, flatten or not.
/// assert!(load_str::<MyServer>("[greting]\n", "inline").is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoreConfig {
    /// `[listener]`: the data port.
    pub listener: ListenerConfig,
    /// `[workers]`: the threads that serve it.
    pub workers: WorkersConfig,
    /// `[admin]`: the operators' port.
    pub admin: AdminConfig,
    /// `[buffers]`: per-connection buffers.
    pub buffers: BuffersConfig,
    /// `[logging]`: the server log and the command log.
    pub logging: LoggingConfig,
    /// `[tls]`: TLS on the data (and admin) port; off by default.
    pub tls: TlsConfig,
}

impl CoreConfig {
    /// The core's sections with the data port on `address`, the way a
    /// binary states its own default port.
    pub fn listening_on(address: std::net::SocketAddr) -> Self {
        Self { listener: ListenerConfig::on(address), ..Self::default() }
    }
}

impl Validate for CoreConfig {
    /// Checks every section.
    fn validate(&self) -> Result<(), ValueError> {
        self.listener.validate("listener")?;
        self.workers.validate("workers")?;
        self.buffers.validate("buffers")?;
        self.tls.validate("tls")
    }
}
