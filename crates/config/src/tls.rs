//! `[tls]`: TLS on the data port (and optionally the admin port).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ValueError;

/// `[tls]`: off unless `certificate` is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// The server's certificate chain (PEM, leaf first); empty serves plain
    /// TCP. memcached's `ssl_chain_cert`.
    pub certificate: PathBuf,
    /// The certificate's private key (PEM). memcached's `ssl_key`.
    pub private_key: PathBuf,
    /// CA certificates (PEM) that client certificates must chain to; when
    /// set, a client without a valid certificate is refused during the
    /// handshake. Empty asks clients for none. memcached's `ssl_ca_cert`
    /// with `ssl_verify_mode` 3.
    pub client_ca: PathBuf,
    /// The oldest TLS version accepted: `"1.2"` or `"1.3"`.
    pub min_version: TlsVersion,
    /// TLS on the admin port too, with the same certificates.
    pub admin: bool,
}

/// A TLS version, as `"1.2"` or `"1.3"` in the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TlsVersion {
    /// TLS 1.2.
    #[default]
    #[serde(rename = "1.2")]
    Tls12,
    /// TLS 1.3.
    #[serde(rename = "1.3")]
    Tls13,
}

impl TlsVersion {
    /// memcached's name for it (`ssl_min_version`).
    pub fn memcached_name(self) -> &'static str {
        match self {
            Self::Tls12 => "tlsv1.2",
            Self::Tls13 => "tlsv1.3",
        }
    }
}

impl TlsConfig {
    /// Whether TLS is on.
    pub fn enabled(&self) -> bool {
        !self.certificate.as_os_str().is_empty()
    }

    /// The client CA file, if one is set.
    pub fn client_ca(&self) -> Option<&std::path::Path> {
        (!self.client_ca.as_os_str().is_empty()).then_some(self.client_ca.as_path())
    }

    /// Checks the section, reporting keys under `section`.
    pub fn validate(&self, section: &str) -> Result<(), ValueError> {
        let key_set = !self.private_key.as_os_str().is_empty();
        if self.enabled() && !key_set {
            return Err(ValueError::new(section, "private_key", "must be set when certificate is"));
        }
        if !self.enabled() {
            let needs_certificate = if key_set {
                Some("private_key")
            } else if self.client_ca().is_some() {
                Some("client_ca")
            } else if self.admin {
                Some("admin")
            } else {
                None
            };
            if let Some(key) = needs_certificate {
                return Err(ValueError::new(section, key, "needs certificate to be set"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_keys_that_need_a_certificate_say_so() {
        let off = TlsConfig::default();
        assert!(!off.enabled());
        assert!(off.validate("tls").is_ok());
        let key_only = TlsConfig { private_key: "key.pem".into(), ..TlsConfig::default() };
        assert!(key_only.validate("tls").unwrap_err().to_string().contains("private_key"));
        let admin_only = TlsConfig { admin: true, ..TlsConfig::default() };
        assert!(admin_only.validate("tls").unwrap_err().to_string().contains("admin"));
        let no_key = TlsConfig { certificate: "cert.pem".into(), ..TlsConfig::default() };
        assert!(no_key.validate("tls").unwrap_err().to_string().contains("private_key"));
        let on = TlsConfig { private_key: "key.pem".into(), ..no_key };
        assert!(on.enabled() && on.validate("tls").is_ok() && on.client_ca().is_none());
    }

    #[test]
    fn versions_read_as_written() {
        let config: TlsConfig = toml::from_str("min_version = \"1.3\"").unwrap();
        assert_eq!(config.min_version, TlsVersion::Tls13);
        assert!(toml::from_str::<TlsConfig>("min_version = \"1.1\"").is_err());
    }
}
