//! TLS for the load generator: `--tls-ca` turns it on (with `--tls-cert`
//! and `--tls-key` for a client certificate). The event loop's connections
//! run petrel-net's `TlsStream`, the same code the servers run.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use petrel_net::Stream;
use petrel_net::tls::{TlsStream, crypto_provider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection};

use crate::Args;

/// A blocking byte stream, plain or TLS.
pub(crate) trait Blocking: Read + Write {}
impl<T: Read + Write> Blocking for T {}

/// The client settings `args` ask for; `None` for plain TCP.
pub(crate) fn client_config(args: &Args) -> io::Result<Option<Arc<ClientConfig>>> {
    let Some(ca) = &args.tls_ca else { return Ok(None) };
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca).map_err(io::Error::other)? {
        roots.add(certificate.map_err(io::Error::other)?).map_err(io::Error::other)?;
    }
    let builder = ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots);
    let config = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(io::Error::other)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(io::Error::other)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(io::Error::other)?;
            builder.with_client_auth_cert(chain, key).map_err(io::Error::other)?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Some(Arc::new(config)))
}

fn client(args: &Args, config: &Arc<ClientConfig>) -> io::Result<ClientConnection> {
    let name = ServerName::try_from(args.tls_name.clone()).map_err(io::Error::other)?;
    ClientConnection::new(config.clone(), name).map_err(io::Error::other)
}

/// A non-blocking connection for the event loop.
pub(crate) fn connect(args: &Args, config: &Option<Arc<ClientConfig>>) -> io::Result<Stream> {
    let socket = TcpStream::connect(args.target)?;
    socket.set_nodelay(true)?;
    socket.set_nonblocking(true)?;
    let socket = mio::net::TcpStream::from_std(socket);
    Ok(match config {
        None => Stream::from(socket),
        Some(config) => Stream::from(TlsStream::new(socket, client(args, config)?.into())),
    })
}

/// A blocking connection (for the prefill).
pub(crate) fn connect_blocking(
    args: &Args,
    config: &Option<Arc<ClientConfig>>,
) -> io::Result<Box<dyn Blocking>> {
    let socket = TcpStream::connect(args.target)?;
    socket.set_nodelay(true)?;
    Ok(match config {
        None => Box::new(socket),
        Some(config) => Box::new(rustls::StreamOwned::new(client(args, config)?, socket)),
    })
}
