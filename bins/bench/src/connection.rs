//! One connection: requests out, replies in, every reply checked.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::Instant;

use petrel_net::Stream;
use petrel_protocol::ParseError;
use petrel_protocol_memcache::binary::{BinaryCommand, BinaryRequest, Opcode, Packet, Status, parse_packet};
use petrel_protocol_memcache::{Reply, StoreMode, parse_reply};

use crate::workload::{Operation, Workload, key};
use crate::{Protocol, Tally};

/// A request sent and not yet answered.
struct InFlight {
    /// When it was meant to be sent (open loop) or was sent (closed loop).
    sent: Instant,
    /// Keys asked for (gets), or empty for a set or a ping.
    keys: Vec<u64>,
    set: bool,
}

/// A connection and what it is waiting for.
pub(crate) struct Connection {
    pub(crate) stream: Stream,
    workload: Workload,
    protocol: Protocol,
    outgoing: Vec<u8>,
    incoming: Vec<u8>,
    in_flight: VecDeque<InFlight>,
    /// Values seen so far for the get at the front.
    found: Vec<u64>,
    scratch: Vec<u8>,
    /// A binary request's key and value, composed before the request.
    key: Vec<u8>,
    value: Vec<u8>,
}

impl Connection {
    pub(crate) fn new(stream: Stream, workload: Workload, protocol: Protocol) -> Self {
        Self {
            stream,
            workload,
            protocol,
            outgoing: Vec::with_capacity(64 << 10),
            incoming: Vec::with_capacity(64 << 10),
            in_flight: VecDeque::new(),
            found: Vec::new(),
            scratch: Vec::new(),
            key: Vec::new(),
            value: Vec::new(),
        }
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Composes the next request, stamped with `sent`.
    pub(crate) fn queue(&mut self, sent: Instant) {
        match self.protocol {
            Protocol::Ping => {
                petrel_protocol_ping::compose_request(&mut self.outgoing);
                self.in_flight.push_back(InFlight { sent, keys: Vec::new(), set: false });
            }
            Protocol::Version => {
                self.outgoing.extend_from_slice(b"version\r\n");
                self.in_flight.push_back(InFlight { sent, keys: Vec::new(), set: false });
            }
            Protocol::Memcache => match self.workload.next() {
                Operation::Get(keys) => {
                    self.outgoing.extend_from_slice(b"get");
                    for &index in &keys {
                        self.outgoing.push(b' ');
                        self.workload.key(index, &mut self.outgoing);
                    }
                    self.outgoing.extend_from_slice(b"\r\n");
                    self.in_flight.push_back(InFlight { sent, keys, set: false });
                }
                Operation::Set(index) => {
                    self.outgoing.extend_from_slice(b"set ");
                    self.workload.key(index, &mut self.outgoing);
                    self.workload.set_header_tail(&mut self.outgoing);
                    self.workload.value(index, &mut self.outgoing);
                    self.outgoing.extend_from_slice(b"\r\n");
                    self.in_flight.push_back(InFlight { sent, keys: Vec::new(), set: true });
                }
            },
            Protocol::MemcacheBinary => self.queue_binary(sent),
        }
    }

    /// A get as GetKQ for each key but the last and GetK for the last, as
    /// libmemcached sends a multi-get; a set as Set.
    fn queue_binary(&mut self, sent: Instant) {
        match self.workload.next() {
            Operation::Get(keys) => {
                for (position, &index) in keys.iter().enumerate() {
                    self.key.clear();
                    self.workload.key(index, &mut self.key);
                    let opcode = if position + 1 == keys.len() { Opcode::GetK } else { Opcode::GetKQ };
                    request(opcode, BinaryCommand::Get { key: &self.key }).compose(&mut self.outgoing);
                }
                self.in_flight.push_back(InFlight { sent, keys, set: false });
            }
            Operation::Set(index) => {
                self.key.clear();
                self.value.clear();
                self.workload.key(index, &mut self.key);
                self.workload.value(index, &mut self.value);
                let set = BinaryCommand::Store {
                    mode: StoreMode::Set,
                    key: &self.key,
                    flags: 0,
                    exptime: 0,
                    value: &self.value,
                };
                request(Opcode::Set, set).compose(&mut self.outgoing);
                self.in_flight.push_back(InFlight { sent, keys: Vec::new(), set: true });
            }
        }
    }

    /// Writes what is queued; returns false when the socket is closed.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        while !self.outgoing.is_empty() {
            match self.stream.write(&self.outgoing) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.outgoing.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // TLS records the socket did not take yet go on the next writable
        // event, when this is called again.
        match self.stream.flush() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(()),
        }
    }

    /// Reads what has arrived and settles every complete reply.
    pub(crate) fn receive(&mut self, tally: &mut Tally, counting: bool) -> io::Result<()> {
        let mut chunk = [0u8; 64 << 10];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.incoming.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // Replies borrow the bytes they came in, and settling one updates the
        // connection: take the bytes out while replies are settled.
        let mut incoming = std::mem::take(&mut self.incoming);
        let mut consumed = 0;
        let result = loop {
            let rest = &incoming[consumed..];
            if rest.is_empty() {
                break Ok(());
            }
            let used = match self.protocol {
                Protocol::Ping => match petrel_protocol_ping::parse_response(rest) {
                    Ok(parsed) => {
                        self.complete(tally, counting);
                        parsed.consumed
                    }
                    Err(ParseError::Incomplete) => break Ok(()),
                    Err(ParseError::Invalid { .. }) => break Err(protocol_error(rest)),
                },
                Protocol::MemcacheBinary => match parse_packet(rest) {
                    Ok(parsed) => match self.settle_binary(parsed.message, tally, counting) {
                        Ok(()) => parsed.consumed,
                        Err(error) => break Err(error),
                    },
                    Err(ParseError::Incomplete) => break Ok(()),
                    Err(ParseError::Invalid { .. }) => break Err(protocol_error(rest)),
                },
                Protocol::Memcache | Protocol::Version => match parse_reply(rest) {
                    Ok(parsed) => match self.settle(parsed.message, tally, counting) {
                        Ok(()) => parsed.consumed,
                        Err(error) => break Err(error),
                    },
                    Err(ParseError::Incomplete) => break Ok(()),
                    Err(ParseError::Invalid { .. }) => break Err(protocol_error(rest)),
                },
            };
            consumed += used;
        };
        incoming.drain(..consumed);
        self.incoming = incoming;
        result
    }

    /// Checks one memcache reply against the request at the front.
    fn settle(&mut self, reply: Reply<'_>, tally: &mut Tally, counting: bool) -> io::Result<()> {
        let Some(front) = self.in_flight.front() else {
            return Err(protocol_error(b"a reply nobody asked for"));
        };
        match (front.set, reply) {
            (true, Reply::Stored) => self.complete(tally, counting),
            (false, Reply::Version(_)) if front.keys.is_empty() => self.complete(tally, counting),
            (false, Reply::Value { key: got, data, .. }) => self.check_value(got, data, tally),
            (false, Reply::End) => self.end_get(tally, counting),
            (_, Reply::Error | Reply::ClientError(_) | Reply::ServerError(_)) => {
                tally.errors += 1;
                self.found.clear();
                self.in_flight.pop_front();
            }
            // Cold path: formatting the unexpected reply for the error is fine.
            (_, other) => return Err(protocol_error(format!("{other:?}").as_bytes())),
        }
        Ok(())
    }

    /// Checks a value that came back for the get at the front: one of its
    /// keys, with that key's value.
    fn check_value(&mut self, got: &[u8], data: &[u8], tally: &mut Tally) {
        let Some(front) = self.in_flight.front() else { return };
        // Which asked-for key is this, and is its value right?
        let position = front.keys.iter().position(|&index| {
            self.scratch.clear();
            key(index, got.len(), &mut self.scratch);
            self.scratch == got
        });
        match position {
            Some(position) => {
                let index = front.keys[position];
                self.scratch.clear();
                self.workload.value(index, &mut self.scratch);
                if self.scratch != data {
                    tally.wrong_values += 1;
                }
                self.found.push(index);
            }
            None => tally.wrong_values += 1,
        }
    }

    /// The get at the front has all its replies: count hits and misses.
    fn end_get(&mut self, tally: &mut Tally, counting: bool) {
        if counting {
            let asked = self.in_flight.front().map_or(0, |front| front.keys.len()) as u64;
            let hits = self.found.len() as u64;
            tally.hits += hits;
            tally.misses += asked - hits.min(asked);
        }
        self.found.clear();
        self.complete(tally, counting);
    }

    /// Checks one binary reply against the request at the front: a set's
    /// reply, a hit of one of a get's keys, or the last key's reply, which
    /// ends the get.
    fn settle_binary(&mut self, packet: Packet<'_>, tally: &mut Tally, counting: bool) -> io::Result<()> {
        let Some(front) = self.in_flight.front() else {
            return Err(protocol_error(b"a reply nobody asked for"));
        };
        let last_key = packet.header.opcode == Opcode::GetK as u8;
        match (front.set, packet.status()) {
            (true, Some(Status::Ok)) => self.complete(tally, counting),
            (false, Some(Status::Ok)) => {
                self.check_value(packet.key, packet.value, tally);
                if last_key {
                    self.end_get(tally, counting);
                }
            }
            (false, Some(Status::KeyNotFound)) if last_key => self.end_get(tally, counting),
            (_, Some(_)) => {
                tally.errors += 1;
                self.found.clear();
                self.in_flight.pop_front();
            }
            (_, None) => return Err(protocol_error(format!("{packet:?}").as_bytes())),
        }
        Ok(())
    }

    fn complete(&mut self, tally: &mut Tally, counting: bool) {
        let request = self.in_flight.pop_front().expect("a request in flight");
        if counting {
            let nanos = request.sent.elapsed().as_nanos() as u64;
            let _ = tally.latency.increment(nanos.max(1));
            if request.set {
                tally.sets += 1;
            } else if !request.keys.is_empty() {
                tally.gets += 1;
            }
            tally.requests += 1;
        }
    }
}

fn request(opcode: Opcode, command: BinaryCommand<'_>) -> BinaryRequest<'_> {
    BinaryRequest { opcode, opaque: 0, cas: 0, command }
}

fn protocol_error(bytes: &[u8]) -> io::Error {
    let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(80)]).into_owned();
    io::Error::new(io::ErrorKind::InvalidData, format!("unexpected reply: {shown:?}"))
}
