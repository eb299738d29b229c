//! TLS with rustls: certificates that can be reloaded while serving
//! ([`TlsAcceptor`]), and a stream that runs a TLS connection on a
//! non-blocking socket ([`TlsStream`]).

mod acceptor;
mod stream;

pub use acceptor::{MinVersion, TlsAcceptor, TlsError, TlsFiles, crypto_provider};
pub use stream::{SEND_BUFFER_LIMIT, TlsStream};
