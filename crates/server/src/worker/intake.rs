//! New connections: taken from the listener's queue (or accepted, on the
//! admin loop), wrapped in TLS when it is configured, registered, and
//! announced to the service, which also hears when they close.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use mio::net::TcpStream;
use mio::{Interest, Token};
use petrel_net::Stream;
use petrel_protocol::{CloseReason, ConnectionEvent, Protocol, Service};
use petrel_session::{Readiness, Session, Traffic};

use super::{Connection, Intake, Worker};

impl<P: Protocol, V: Service<P>> Worker<P, V> {
    pub(super) fn take_new_connections(&mut self) {
        loop {
            let stream = match &self.intake {
                Intake::Queue(receiver) => match receiver.try_recv() {
                    Ok(stream) => stream,
                    Err(_) => return,
                },
                Intake::Listener(listener) => match listener.accept() {
                    Ok(Some((stream, _))) => stream,
                    Ok(None) => return,
                    Err(error) => {
                        log::warn!("admin accept failed: {error}");
                        return;
                    }
                },
            };
            let peer = stream.peer_addr().ok();
            let listed = match (&self.connections, peer, stream.local_addr()) {
                (Some(connections), Some(peer), Ok(local)) => {
                    Some(connections.open(stream.as_raw_fd() as u64, peer, local))
                }
                _ => None,
            };
            let Some(stream) = self.wrap(stream) else {
                self.count_closed();
                continue;
            };
            let entry = self.sessions.vacant_entry();
            let key = entry.key();
            let traffic = match self.intake {
                Intake::Queue(_) => Traffic::Client,
                Intake::Listener(_) => Traffic::Admin,
            };
            let mut session = Session::new(stream, &self.limits, traffic);
            match self.poll.registry().register(session.stream_mut(), Token(key), Interest::READABLE) {
                Ok(()) => {
                    entry.insert(Connection {
                        session,
                        writable: false,
                        last_active: self.now,
                        waiting: false,
                        peer,
                        listed,
                    });
                    self.connection_event(peer, None);
                    // Input may have arrived before registration.
                    self.serve_connection(key, Readiness::READABLE);
                }
                Err(error) => {
                    log::warn!("cannot register a connection: {error}");
                    self.count_closed();
                }
            }
        }
    }

    /// The stream a new socket is served over: TLS when it is configured.
    fn wrap(&self, socket: TcpStream) -> Option<Stream> {
        let Some(tls) = &self.tls else { return Some(Stream::from(socket)) };
        match tls.accept(socket) {
            Ok(stream) => Some(Stream::from(stream)),
            Err(error) => {
                log::warn!("cannot start a TLS connection: {error}");
                None
            }
        }
    }

    /// Tells the service a client connection opened (`closed` None) or closed.
    pub(super) fn connection_event(&mut self, peer: Option<SocketAddr>, closed: Option<CloseReason>) {
        if let (Intake::Queue(_), Some(peer)) = (&self.intake, peer) {
            self.service.connection_event(ConnectionEvent { peer, tls: self.tls.is_some(), closed });
        }
    }
}

/// Why a connection whose socket failed is closed: a client that reset or
/// hung up left as clients do; anything else is an error.
pub(super) fn close_reason(error: &io::Error) -> CloseReason {
    match error.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::UnexpectedEof => {
            CloseReason::Normal
        }
        _ => CloseReason::Error,
    }
}
