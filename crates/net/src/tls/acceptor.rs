//! The server side of TLS: certificates from PEM files, a rustls server
//! configuration built from them, and its replacement while serving.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use mio::net::TcpStream;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

use super::TlsStream;

/// The oldest TLS version a server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinVersion {
    /// TLS 1.2 and 1.3.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// Where a server's certificates are, and what it asks of clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate chain, leaf first (PEM).
    pub certificate: PathBuf,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub private_key: PathBuf,
    /// CA certificates (PEM) a client's certificate must chain to; `None`
    /// lets clients connect without one.
    pub client_ca: Option<PathBuf>,
    /// The oldest TLS version accepted.
    pub min_version: MinVersion,
}

/// Why certificates could not be loaded; the server keeps the ones it has.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("cannot read the {what} from {path}: {source}")]
    Pem {
        /// `certificate chain`, `private key` or `client CA`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: rustls::pki_types::pem::Error,
    },
    /// A PEM file held no certificate.
    #[error("{path} holds no {what}")]
    Empty {
        /// `certificate chain` or `client CA`.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the certificates (a key that does not match the
    /// certificate, a CA that is not a valid trust anchor, ...).
    #[error("the certificates from {certificate} are unusable: {source}")]
    Refused {
        /// The certificate chain's file.
        certificate: PathBuf,
        /// The cause.
        source: rustls::Error,
    },
}

/// Accepts TLS connections with the certificates last loaded.
#[derive(Debug)]
pub struct TlsAcceptor {
    files: TlsFiles,
    current: RwLock<Loaded>,
}

#[derive(Debug, Clone)]
struct Loaded {
    config: Arc<ServerConfig>,
    at: Instant,
}

impl TlsAcceptor {
    /// Loads the certificates named in `files`.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let config = server_config(&files)?;
        Ok(Self { files, current: RwLock::new(Loaded { config, at: Instant::now() }) })
    }

    /// Loads the certificates again from the same files (after they were
    /// replaced on disk). On failure the ones in use stay in use; either way
    /// connections already open keep theirs.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = server_config(&self.files)?;
        *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Loaded { config, at: Instant::now() };
        Ok(())
    }

    /// Seconds since the certificates in use were loaded.
    pub fn seconds_since_load(&self) -> u64 {
        self.loaded().at.elapsed().as_secs()
    }

    /// The oldest TLS version accepted.
    pub fn min_version(&self) -> MinVersion {
        self.files.min_version
    }

    /// Starts the server side of a TLS connection on an accepted socket.
    pub fn accept(&self, socket: TcpStream) -> Result<TlsStream, rustls::Error> {
        let connection = ServerConnection::new(self.loaded().config)?;
        Ok(TlsStream::new(socket, connection.into()))
    }

    fn loaded(&self) -> Loaded {
        self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

/// The crypto every Petrel TLS connection uses (ring: it builds with the C
/// compiler alone).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates(&files.certificate, "certificate chain")?;
    let key = PrivateKeyDer::from_pem_file(&files.private_key).map_err(|source| TlsError::Pem {
        what: "private key",
        path: files.private_key.clone(),
        source,
    })?;
    let refused = |source| TlsError::Refused { certificate: files.certificate.clone(), source };
    let versions: &[&rustls::SupportedProtocolVersion] = match files.min_version {
        MinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        MinVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let provider = crypto_provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(refused)?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for certificate in certificates(path, "client CA")? {
                roots.add(certificate).map_err(refused)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|error| refused(rustls::Error::General(error.to_string())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder.with_single_cert(chain, key).map_err(refused)?;
    Ok(Arc::new(config))
}

fn certificates(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = |source| TlsError::Pem { what, path: path.to_path_buf(), source };
    let chain =
        CertificateDer::pem_file_iter(path).map_err(pem)?.collect::<Result<Vec<_>, _>>().map_err(pem)?;
    if chain.is_empty() {
        return Err(TlsError::Empty { what, path: path.to_path_buf() });
    }
    Ok(chain)
}
