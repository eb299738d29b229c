//! TLS for tests: certificates made by the `openssl` command (a tool nobody
//! here wrote) and rustls client settings that trust them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use rustls::ClientConfig;

use crate::{Client, Transport, connect_socket};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A test CA, a server certificate it signed (for `localhost` and
/// 127.0.0.1), a client certificate it signed, and a client certificate
/// from a CA the server does not trust.
#[derive(Debug, Clone)]
pub struct Certificates {
    /// The directory holding the PEM files.
    pub dir: PathBuf,
}

impl Certificates {
    /// Makes the certificates in `dir` (which must exist).
    pub fn generate(dir: &Path) -> Self {
        let certificates = Self { dir: dir.to_path_buf() };
        certificates.self_signed("ca", "Petrel test CA");
        certificates.self_signed("stranger-ca", "A CA nobody trusts");
        certificates.sign_server();
        certificates.signed("client", "petrel-test-client", "ca", "extendedKeyUsage=clientAuth");
        certificates.signed("stranger", "stranger", "stranger-ca", "extendedKeyUsage=clientAuth");
        certificates
    }

    /// Makes a new server key and certificate signed by `ca.pem` (after
    /// the CA files were replaced, say).
    pub fn sign_server(&self) {
        self.signed("server", "localhost", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1");
    }

    /// The path of `name.pem` (a certificate) or `name.key`.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// A `[tls]` section serving `server.pem`, asking for client
    /// certificates signed by the test CA when `client_ca`.
    pub fn server_section(&self, client_ca: bool) -> String {
        let mut section = format!(
            "[tls]\ncertificate = {:?}\nprivate_key = {:?}\n",
            self.path("server.pem").display().to_string(),
            self.path("server.key").display().to_string()
        );
        if client_ca {
            section.push_str(&format!("client_ca = {:?}\n", self.path("ca.pem").display().to_string()));
        }
        section
    }

    /// Client settings trusting the test CA, presenting `identity`'s
    /// certificate (`"client"` or `"stranger"`) if given.
    pub fn client_config(&self, identity: Option<&str>) -> Arc<ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(self.path("ca.pem")).expect("ca.pem")).expect("a usable CA");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some(name) => {
                let chain =
                    vec![CertificateDer::from_pem_file(self.path(&format!("{name}.pem"))).expect("cert")];
                let key = PrivateKeyDer::from_pem_file(self.path(&format!("{name}.key"))).expect("key");
                builder.with_client_auth_cert(chain, key).expect("a usable client certificate")
            }
        };
        Arc::new(config)
    }

    fn self_signed(&self, name: &str, subject: &str) {
        self.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "30",
            "-subj",
            &format!("/CN={subject}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ]);
    }

    fn signed(&self, name: &str, subject: &str, ca: &str, extension: &str) {
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={subject}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ]);
        std::fs::write(self.dir.join(format!("{name}.ext")), format!("{extension}\n"))
            .expect("write extension");
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ]);
    }

    fn openssl(&self, arguments: &[&str]) {
        let output = Command::new("openssl")
            .args(arguments)
            .current_dir(&self.dir)
            .output()
            .expect("the openssl command (scripts/setup installs it)");
        assert!(
            output.status.success(),
            "openssl {arguments:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Client {
    /// Connects over TLS with `config` (see [`Certificates`]), naming
    /// the server `localhost`. The handshake runs with the first exchange;
    /// [`handshake`](Self::handshake) runs it at once.
    pub fn connect_tls(address: SocketAddr, config: std::sync::Arc<rustls::ClientConfig>) -> Self {
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("a server name");
        let connection = rustls::ClientConnection::new(config, name).expect("a TLS client");
        let stream = rustls::StreamOwned::new(connection, connect_socket(address));
        Self { transport: Transport::Tls(Box::new(stream)), pending: Vec::new() }
    }

    /// Completes the TLS handshake (a plain connection has none).
    pub fn handshake(&mut self) -> std::io::Result<()> {
        if let Transport::Tls(tls) = &mut self.transport {
            while tls.conn.is_handshaking() {
                tls.conn.complete_io(&mut tls.sock)?;
            }
        }
        Ok(())
    }

    /// The server's certificate (DER), once a TLS handshake is done.
    pub fn peer_certificate(&self) -> Option<Vec<u8>> {
        match &self.transport {
            Transport::Plain(_) => None,
            Transport::Tls(tls) => Some(tls.conn.peer_certificates()?.first()?.to_vec()),
        }
    }
}
