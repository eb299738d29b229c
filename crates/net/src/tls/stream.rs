//! A rustls connection driven on a non-blocking socket, as a plain
//! `Read + Write` stream for the session above it.
//!
//! Reads: ciphertext goes from the socket into rustls, and the plaintext
//! into the caller's buffer, until that buffer is full or the socket has no
//! more. A read shorter than asked for therefore means the same as on a
//! plain socket: nothing more until the next readiness event (mio is edge
//! triggered, so leaving bytes in the kernel would strand them).
//!
//! Writes: plaintext is encrypted into rustls's buffer (bounded by
//! [`SEND_BUFFER_LIMIT`]) and its records go out in one vectored write.
//! Records the socket would not take wait in rustls; `flush` sends them
//! and reports `WouldBlock` while any remain, which is how the session
//! knows to wait for writable readiness.
//!
//! Handshake messages are sent as soon as rustls has them, from either side.

use std::io::{self, Read, Write};

use metriken::{Counter, metric};
use mio::net::TcpStream;
use rustls::Connection;

#[metric(
    name = "ssl_handshake_errors",
    description = "TLS handshakes that failed (bad ClientHello, no or bad client certificate, ...)"
)]
static HANDSHAKE_ERRORS: Counter = Counter::new();

#[metric(
    name = "ssl_proto_errors",
    description = "TLS connections closed on a protocol error after the handshake"
)]
static PROTOCOL_ERRORS: Counter = Counter::new();

/// Most bytes of encrypted records (or, during the handshake, plaintext)
/// rustls holds for one connection before writes stop taking more.
pub const SEND_BUFFER_LIMIT: usize = 64 << 10;

/// A TLS connection (either side) over a non-blocking TCP socket.
pub struct TlsStream {
    socket: TcpStream,
    tls: Connection,
    /// The peer has ended the stream (close_notify, or the TCP end).
    ended: bool,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("socket", &self.socket)
            .field("handshaking", &self.tls.is_handshaking())
            .field("ended", &self.ended)
            .finish()
    }
}

impl TlsStream {
    /// Wraps a connected socket; the handshake runs as the stream is used.
    pub fn new(socket: TcpStream, mut tls: Connection) -> Self {
        tls.set_buffer_limit(Some(SEND_BUFFER_LIMIT));
        Self { socket, tls, ended: false }
    }

    /// The socket.
    pub fn socket(&self) -> &TcpStream {
        &self.socket
    }

    /// The socket, for registration with an event loop.
    pub fn socket_mut(&mut self) -> &mut TcpStream {
        &mut self.socket
    }

    /// The rustls connection (to see the peer's certificates, say).
    pub fn connection(&self) -> &Connection {
        &self.tls
    }

    /// Whether the handshake is still under way.
    pub fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    /// Moves plaintext rustls has decrypted into `into`; how much.
    fn take_plaintext(&mut self, into: &mut [u8]) -> io::Result<usize> {
        if into.is_empty() {
            return Ok(0);
        }
        match self.tls.reader().read(into) {
            Ok(0) => {
                // close_notify received: a clean end of the stream.
                self.ended = true;
                Ok(0)
            }
            Ok(taken) => Ok(taken),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok(0),
            // The TCP stream ended without close_notify: most cache clients
            // just close, so treat it as an end like any other.
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                self.ended = true;
                Ok(0)
            }
            Err(error) => Err(error),
        }
    }

    /// Reads ciphertext once into rustls and processes it; whether the read
    /// was short (the socket is drained).
    fn receive_once(&mut self) -> io::Result<bool> {
        let mut probe = ShortReadProbe { socket: &mut self.socket, short: false };
        match self.tls.read_tls(&mut probe) {
            Ok(0) => {
                self.ended = true;
                return Ok(true);
            }
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(error) => return Err(error),
        }
        let drained = probe.short;
        if let Err(error) = self.tls.process_new_packets() {
            return Err(self.fail(error));
        }
        // Handshake replies (and alerts) go out at once.
        self.send_records()?;
        Ok(drained)
    }

    /// Counts a TLS error, sends the alert rustls queued for it (best
    /// effort), and turns it into the error that closes the connection.
    fn fail(&mut self, error: rustls::Error) -> io::Error {
        if self.tls.is_handshaking() {
            HANDSHAKE_ERRORS.increment();
        } else {
            PROTOCOL_ERRORS.increment();
        }
        let _ = self.send_records();
        io::Error::new(io::ErrorKind::InvalidData, error)
    }

    /// Sends the records rustls holds until it has none or the socket
    /// would block.
    fn send_records(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.socket) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

impl Read for TlsStream {
    fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        loop {
            filled += self.take_plaintext(&mut into[filled..])?;
            if filled == into.len() || self.ended {
                return Ok(filled);
            }
            if self.receive_once()? {
                // Drained: what rustls decrypted from this last read is all.
                filled += self.take_plaintext(&mut into[filled..])?;
                return match filled {
                    0 if !self.ended => Err(io::ErrorKind::WouldBlock.into()),
                    _ => Ok(filled),
                };
            }
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, plaintext: &[u8]) -> io::Result<usize> {
        self.send_records()?;
        let taken = self.tls.writer().write(plaintext)?;
        self.send_records()?;
        match taken {
            0 if !plaintext.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
            _ => Ok(taken),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_records()?;
        match self.tls.wants_write() {
            true => Err(io::ErrorKind::WouldBlock.into()),
            false => Ok(()),
        }
    }
}

/// The socket as rustls reads it, noting whether a read returned less than
/// asked for: then the kernel had no more, and there is no need for one more
/// read just to hear `WouldBlock`.
struct ShortReadProbe<'a> {
    socket: &'a mut TcpStream,
    short: bool,
}

impl Read for ShortReadProbe<'_> {
    fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
        let read = self.socket.read(into)?;
        self.short = read < into.len();
        Ok(read)
    }
}
