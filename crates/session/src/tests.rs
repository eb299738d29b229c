//! Sessions driven over real (Unix-domain) socket pairs with the ping protocol.

use super::*;
use petrel_protocol::IfCommitFails;
use petrel_protocol_ping::{Ping, PingService};
use std::os::unix::net::UnixStream;

const READ_MAX: usize = 4096;
const WRITE_MAX: usize = 4096;

fn limits() -> Limits {
    Limits { initial: 64, read_max: READ_MAX, write_max: WRITE_MAX, memory: crate::budget::unlimited() }
}

fn pair() -> (Session<UnixStream>, UnixStream) {
    let (server, client) = UnixStream::pair().unwrap();
    server.set_nonblocking(true).unwrap();
    client.set_nonblocking(true).unwrap();
    (Session::new(server, &limits(), Traffic::Client), client)
}

fn drive(session: &mut Session<UnixStream>) -> Progress {
    session.drive(&Ping, &mut PingService, usize::MAX, Readiness::READABLE).unwrap()
}

fn received(client: &mut UnixStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        match client.read(&mut chunk) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return out,
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn pipelined_requests_are_answered_in_one_batch() {
    let (mut session, mut client) = pair();
    client.write_all(&b"PING\r\n".repeat(500)).unwrap();
    assert_eq!(drive(&mut session), Progress::Idle);
    assert_eq!(received(&mut client), b"PONG\r\n".repeat(500));
}

#[test]
fn bytes_arriving_one_at_a_time() {
    let (mut session, mut client) = pair();
    let mut answers = Vec::new();
    for &byte in b"PING\r\nping\nPING\r\n" {
        client.write_all(&[byte]).unwrap();
        assert_eq!(drive(&mut session), Progress::Idle);
        answers.extend(received(&mut client));
    }
    assert_eq!(answers, b"PONG\r\nPONG\r\nPONG\r\n");
}

#[test]
fn invalid_line_gets_error_and_the_next_request_is_served() {
    let (mut session, mut client) = pair();
    client.write_all(b"HELLO\r\nPING\r\n").unwrap();
    drive(&mut session);
    assert_eq!(received(&mut client), b"ERROR\r\nPONG\r\n");
}

#[test]
fn overlong_line_is_answered_then_closed() {
    let (mut session, mut client) = pair();
    client.write_all(&[b'x'; 2000]).unwrap();
    assert_eq!(drive(&mut session), Progress::Done);
    assert_eq!(received(&mut client), b"CLIENT_ERROR line too long\r\n");
}

#[test]
fn peer_close_serves_what_was_sent_then_finishes() {
    let (mut session, mut client) = pair();
    client.write_all(b"PING\r\nPING\r\n").unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let hangup = Readiness { readable: true, read_closed: true };
    assert_eq!(session.drive(&Ping, &mut PingService, usize::MAX, hangup).unwrap(), Progress::Done);
    assert_eq!(received(&mut client), b"PONG\r\nPONG\r\n");
}

#[test]
fn budget_yields_and_resumes() {
    let (mut session, mut client) = pair();
    client.write_all(&b"PING\r\n".repeat(10)).unwrap();
    assert_eq!(session.drive(&Ping, &mut PingService, 4, Readiness::READABLE).unwrap(), Progress::Yield);
    assert_eq!(received(&mut client), b"PONG\r\n".repeat(4));
    assert_eq!(session.drive(&Ping, &mut PingService, 4, Readiness::RESUME).unwrap(), Progress::Yield);
    assert_eq!(session.drive(&Ping, &mut PingService, 4, Readiness::RESUME).unwrap(), Progress::Idle);
    assert_eq!(received(&mut client), b"PONG\r\n".repeat(6));
}

#[test]
fn client_that_never_reads_cannot_grow_the_buffers() {
    let (mut session, mut client) = pair();
    let request = b"PING\r\n".repeat(1000);
    let mut sent = 0usize;
    // Keep sending until the server stops taking requests and both socket
    // buffers are full.
    for _ in 0..10_000 {
        match client.write(&request) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
        drive(&mut session);
        assert!(session.buffered_capacity() <= 2 * READ_MAX + 2 * WRITE_MAX);
    }
    assert!(sent > 0);
    // Now read everything: the server catches up and answers every request.
    let mut answered = received(&mut client).len();
    for _ in 0..100_000 {
        if answered == sent {
            break;
        }
        drive(&mut session);
        answered += received(&mut client).len();
    }
    assert_eq!(answered, sent, "every PING is answered once the client reads");
}

/// A session that stopped for a full write buffer, whose client then read
/// everything before the responses were sent, has no writable event to
/// wait for: it must ask to be driven again, or its buffered requests wait
/// for ever.
#[test]
fn a_client_that_reads_between_serving_and_sending_is_served_on() {
    let (mut session, mut client) = pair();
    let request = b"PING\r\n".repeat(1000);
    let mut sent = 0;
    let serve = |session: &mut Session<UnixStream>| {
        session.serve_input(&Ping, &mut PingService, usize::MAX, Readiness::READABLE).unwrap()
    };
    // Fill the socket towards the client, which does not read yet, until
    // serving stops for a full write buffer with requests still buffered.
    loop {
        if let Ok(n) = client.write(&request) {
            sent += n;
        }
        let progress = serve(&mut session);
        if progress == Progress::Full && !session.read.is_empty() {
            break;
        }
        let committed = Committed::by::<Ping, _>(&mut PingService).unwrap();
        session.send_output(progress, &committed).unwrap();
    }
    let mut answered = received(&mut client).len();
    let committed = Committed::by::<Ping, _>(&mut PingService).unwrap();
    assert_eq!(session.send_output(Progress::Full, &committed).unwrap(), Progress::Yield);
    for _ in 0..100_000 {
        if answered == sent {
            break;
        }
        drive(&mut session);
        answered += received(&mut client).len();
    }
    assert_eq!(answered, sent, "every PING is answered");
}

#[test]
fn end_input_finishes_buffered_requests() {
    let (mut session, mut client) = pair();
    client.write_all(b"PING\r\n").unwrap();
    session.end_input();
    // Input ended before anything was read: nothing more is read.
    assert_eq!(drive(&mut session), Progress::Done);
    assert_eq!(received(&mut client), b"");
}

/// A protocol whose `skip N` line rejects itself plus the next N bytes, and
/// whose `unread N` line is served and takes the next N bytes unread, to
/// exercise discarding input that has not arrived yet.
struct Skipper;
impl Protocol for Skipper {
    type Request<'a> = &'a [u8];
    type Response<'a> = Vec<u8>;
    type Error = ();
    type State = ();
    fn parse<'a>(
        &self,
        _: &mut (),
        input: &'a [u8],
    ) -> Result<petrel_protocol::Parsed<&'a [u8]>, ParseError<()>> {
        let end = input.iter().position(|&b| b == b'\n').ok_or(ParseError::Incomplete)?;
        let line = &input[..end];
        let count = |n: &[u8]| -> usize { std::str::from_utf8(n).unwrap().parse().unwrap() };
        if let Some(n) = line.strip_prefix(b"skip ") {
            return Err(ParseError::Invalid {
                error: (),
                recovery: Recovery::Skip((end + 1 + count(n)) as u64),
            });
        }
        let unread = line.strip_prefix(b"unread ").map_or(0, count);
        Ok(petrel_protocol::Parsed { message: line, consumed: end + 1 + unread })
    }
    fn compose(&self, response: &Vec<u8>, out: &mut Vec<u8>) -> Flow {
        out.extend_from_slice(response);
        out.extend_from_slice(b"\n");
        Flow::Continue
    }
    fn compose_error(&self, _: &(), out: &mut Vec<u8>) {
        out.extend_from_slice(b"skipped\n");
    }
}
struct Echo;
impl Service<Skipper> for Echo {
    fn execute(&mut self, request: &[u8]) -> Executed<Vec<u8>> {
        Executed::standing(request.to_vec())
    }
}

/// Sends `first`, then `zeros` bytes of filler in 1000-byte writes (driving
/// the session after each), then `after\n`; returns all the replies.
fn replies_around_filler(first: &[u8], zeros: usize) -> Vec<u8> {
    let (mut session, mut client) = pair();
    let mut answers = Vec::new();
    client.write_all(first).unwrap();
    for _ in 0..zeros / 1000 {
        client.write_all(&[b'z'; 1000]).unwrap();
        session.drive(&Skipper, &mut Echo, usize::MAX, Readiness::READABLE).unwrap();
        answers.extend(received(&mut client));
    }
    client.write_all(b"after\n").unwrap();
    session.drive(&Skipper, &mut Echo, usize::MAX, Readiness::READABLE).unwrap();
    answers.extend(received(&mut client));
    answers
}

#[test]
fn skip_discards_bytes_that_arrive_later() {
    assert_eq!(replies_around_filler(b"skip 10000\n", 10_000), b"skipped\nafter\n");
}

#[test]
fn a_request_served_before_its_body_arrives_drops_the_body() {
    assert_eq!(replies_around_filler(b"unread 5000\n", 5_000), b"unread 5000\nafter\n");
}

/// Ping, with a commit that fails after `commits_allowed` commits.
struct FailingCommit {
    commits_allowed: usize,
}

impl Service<Ping> for FailingCommit {
    /// A reply that cannot be replaced: a failed commit closes.
    fn execute<'s>(
        &'s mut self,
        request: <Ping as Protocol>::Request<'_>,
    ) -> Executed<<Ping as Protocol>::Response<'s>> {
        Executed { if_commit_fails: IfCommitFails::Close, ..PingService.execute(request) }
    }

    fn commit(&mut self) -> io::Result<()> {
        match self.commits_allowed.checked_sub(1) {
            Some(left) => {
                self.commits_allowed = left;
                Ok(())
            }
            None => Err(io::Error::other("the log cannot be written")),
        }
    }
}

#[test]
fn responses_leave_only_after_a_successful_commit() {
    let (mut session, mut client) = pair();
    let mut service = FailingCommit { commits_allowed: 1 };
    client.write_all(b"PING\r\nPING\r\n").unwrap();
    let progress = session.drive(&Ping, &mut service, usize::MAX, Readiness::READABLE).unwrap();
    assert_eq!(progress, Progress::Idle);
    assert_eq!(received(&mut client), b"PONG\r\nPONG\r\n");
    client.write_all(b"PING\r\n").unwrap();
    assert!(session.drive(&Ping, &mut service, usize::MAX, Readiness::READABLE).is_err());
    assert_eq!(received(&mut client), b"", "a response left although its commit failed");
}

#[test]
fn serve_input_holds_responses_until_send_output() {
    let (mut session, mut client) = pair();
    client.write_all(b"PING\r\n").unwrap();
    let progress = session.serve_input(&Ping, &mut PingService, usize::MAX, Readiness::READABLE).unwrap();
    assert_eq!(received(&mut client), b"");
    assert!(session.has_pending_output());
    assert_eq!(
        session.send_output(progress, &Committed::by::<Ping, _>(&mut PingService).unwrap()).unwrap(),
        Progress::Idle
    );
    assert_eq!(received(&mut client), b"PONG\r\n");
}

/// A session served twice in one round (an event, then a resumption) must
/// not send the first half's responses before the round's commit.
#[test]
fn a_second_serve_input_sends_nothing_uncommitted() {
    let (mut session, mut client) = pair();
    client.write_all(b"PING\r\n").unwrap();
    session.serve_input(&Ping, &mut PingService, usize::MAX, Readiness::READABLE).unwrap();
    client.write_all(b"PING\r\n").unwrap();
    let progress = session.serve_input(&Ping, &mut PingService, usize::MAX, Readiness::READABLE).unwrap();
    assert_eq!(received(&mut client), b"", "a response left before the commit");
    assert_eq!(
        session.send_output(progress, &Committed::by::<Ping, _>(&mut PingService).unwrap()).unwrap(),
        Progress::Idle
    );
    assert_eq!(received(&mut client), b"PONG\r\nPONG\r\n");
}

/// Echo over `Skipper`, with a commit that always fails: a `write` line's
/// reply becomes `failed: <line>`, an `opaque` line's cannot be replaced,
/// any other reply stands.
struct FailingStore {
    /// The requests whose replies are replaced if the commit fails.
    noted: Vec<Vec<u8>>,
}

impl Service<Skipper> for FailingStore {
    fn execute(&mut self, request: &[u8]) -> Executed<Vec<u8>> {
        let if_commit_fails = match request {
            line if line.starts_with(b"write") => {
                self.noted.push(request.to_vec());
                IfCommitFails::Replace(self.noted.len() as u64 - 1)
            }
            line if line.starts_with(b"opaque") => IfCommitFails::Close,
            _ => IfCommitFails::ReplyStands,
        };
        Executed { response: request.to_vec(), if_commit_fails, stream: None }
    }

    fn commit(&mut self) -> io::Result<()> {
        Err(io::Error::other("the log cannot be written"))
    }

    fn failed_reply(&mut self, note: u64) -> Option<Vec<u8>> {
        Some([b"failed: ", &self.noted[note as usize][..]].concat())
    }
}

#[test]
fn a_failed_commit_replaces_the_replies_that_acknowledged_writes() {
    let (mut session, mut client) = pair();
    let mut service = FailingStore { noted: Vec::new() };
    client.write_all(b"read a\nwrite b\nread c\nwrite d\n").unwrap();
    let progress = session.drive(&Skipper, &mut service, usize::MAX, Readiness::READABLE).unwrap();
    assert_eq!(progress, Progress::Idle, "the connection stays open");
    assert_eq!(received(&mut client), b"read a\nfailed: write b\nread c\nfailed: write d\n");
    client.write_all(b"read e\n").unwrap();
    session.drive(&Skipper, &mut service, usize::MAX, Readiness::READABLE).unwrap();
    assert_eq!(received(&mut client), b"read e\n", "replacements do not outlive their round");
}

#[test]
fn a_failed_commit_closes_a_connection_whose_reply_cannot_be_replaced() {
    let (mut session, mut client) = pair();
    let mut service = FailingStore { noted: Vec::new() };
    client.write_all(b"write a\nopaque b\n").unwrap();
    assert!(session.drive(&Skipper, &mut service, usize::MAX, Readiness::READABLE).is_err());
    assert_eq!(received(&mut client), b"", "nothing leaves");
}
