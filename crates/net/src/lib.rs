//! TCP and TLS for Petrel servers: a non-blocking listener whose accepted
//! streams are ready for a mio event loop, and TLS on those streams
//! ([`tls`]) behind the same [`Stream`] type, so the session above never
//! knows which it has.
//!
//! Streams are [`mio::net::TcpStream`]s with `TCP_NODELAY` set: a cache answers
//! small requests, and Nagle's algorithm would hold back a response waiting
//! for the client's acknowledgement of the previous one.

use std::io;
use std::net::SocketAddr;

use mio::event::Source;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

mod stream;
pub mod tls;

pub use stream::Stream;

/// A bound, listening, non-blocking TCP socket.
#[derive(Debug)]
pub struct Listener {
    socket: TcpListener,
    local_addr: SocketAddr,
}

impl Listener {
    /// Binds and listens on `address` (port 0 picks a free port). Binding
    /// happens here, so a bad or busy address fails before any thread starts.
    pub fn bind(address: SocketAddr) -> io::Result<Self> {
        let socket = TcpListener::bind(address)?;
        let local_addr = socket.local_addr()?;
        Ok(Self { socket, local_addr })
    }

    /// The address actually bound, with the port chosen if 0 was asked for.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The socket's file descriptor: the number `stats conns` lists it by.
    pub fn raw_fd(&self) -> i32 {
        std::os::fd::AsRawFd::as_raw_fd(&self.socket)
    }

    /// Accepts one pending connection, or `None` when none is waiting.
    pub fn accept(&self) -> io::Result<Option<(TcpStream, SocketAddr)>> {
        loop {
            match self.socket.accept() {
                Ok((stream, peer)) => {
                    stream.set_nodelay(true)?;
                    return Ok(Some((stream, peer)));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
        }
    }
}

impl Source for Listener {
    fn register(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        self.socket.register(registry, token, interests)
    }

    fn reregister(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        self.socket.reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.socket.deregister(registry)
    }
}

/// Whether an accept error is about running out of file descriptors or
/// memory: passing, and worth a pause rather than a spin or an exit.
pub fn is_resource_exhaustion(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(code) if code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM)
}

// Linux errno values; std does not name them.
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;
const ENOBUFS: i32 = 105;
const ENOMEM: i32 = 12;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn binds_a_free_port_and_accepts_with_nodelay() {
        let listener = Listener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_ne!(listener.local_addr().port(), 0);
        assert!(listener.accept().unwrap().is_none());

        let mut client = std::net::TcpStream::connect(listener.local_addr()).unwrap();
        let (mut stream, peer) = loop {
            if let Some(accepted) = listener.accept().unwrap() {
                break accepted;
            }
            std::thread::yield_now();
        };
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(stream.nodelay().unwrap());

        client.write_all(b"hi").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut received = Vec::new();
        let mut chunk = [0u8; 8];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(received, b"hi");
    }

    #[test]
    fn busy_address_fails_at_bind() {
        let first = Listener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        assert!(Listener::bind(first.local_addr()).is_err());
    }
}
