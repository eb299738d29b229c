//! Ping, whose service says nothing about its replies: a failed commit
//! closes the round's connections.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use petrel_metrics::ServerInfo;
use petrel_protocol::{Executed, IfCommitFails, Protocol, Service};
use petrel_protocol_admin::AdminService;
use petrel_protocol_ping::{Ping, PingService};

use crate::one_worker_on_free_ports;

/// Ping, whose commit fails while `failing` is set.
struct Committing {
    failing: Arc<AtomicBool>,
}

impl Service<Ping> for Committing {
    /// A reply that cannot be replaced: a failed commit closes.
    fn execute<'s>(
        &'s mut self,
        request: <Ping as Protocol>::Request<'_>,
    ) -> Executed<<Ping as Protocol>::Response<'s>> {
        Executed { if_commit_fails: IfCommitFails::Close, ..PingService.execute(request) }
    }

    fn commit(&mut self) -> io::Result<()> {
        match self.failing.load(Ordering::Acquire) {
            true => Err(io::Error::other("the log cannot be written")),
            false => Ok(()),
        }
    }
}

#[test]
fn a_failed_commit_closes_the_connections_without_a_reply() {
    let core = one_worker_on_free_ports();
    let failing = Arc::new(AtomicBool::new(false));
    let services = failing.clone();
    let admin = AdminService::new(Arc::new(ServerInfo::new("commit test", 1)));
    let server =
        petrel_server::start(&core, Ping, |_| Committing { failing: services.clone() }, admin).unwrap();
    let connect = || {
        let client = TcpStream::connect(server.local_addr()).unwrap();
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        client
    };
    let (mut first, mut second) = (connect(), connect());
    let mut reply = [0u8; 6];
    for client in [&mut first, &mut second] {
        client.write_all(b"PING\r\n").unwrap();
        client.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"PONG\r\n");
    }

    failing.store(true, Ordering::Release);
    first.write_all(b"PING\r\n").unwrap();
    let mut received = Vec::new();
    first.read_to_end(&mut received).expect("the server closes the connection");
    assert_eq!(received, b"", "a reply left although its commit failed");

    // The worker goes on serving once commits succeed again.
    failing.store(false, Ordering::Release);
    second.write_all(b"PING\r\n").unwrap();
    second.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"PONG\r\n");
    server.shutdown();
    server.wait();
}
