//! The cache-aside mode: an application's use of a cache, one request at a
//! time on one connection (get; on a miss, set the value), over a key
//! stream; the hit ratio over the second half of the stream (or from
//! `--measure-from`; `--start-at` goes on from an earlier run), beside the
//! ratios the reference policies reach on the same stream at the same
//! byte capacity. Values are incompressible, so that what a store holds in
//! its bytes is what an application's values would take.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use petrel_protocol::ParseError;
use petrel_protocol_memcache::{ITEM_OVERHEAD, Reply, parse_reply};

use crate::Args;
use crate::key_stream::{KeyStream, StreamShape};
use crate::simulate::{filled_after, hit_ratio, policies};
use crate::workload::{incompressible_value as value, key};

/// What a cache-aside run measured.
#[derive(Debug, serde::Serialize)]
pub(crate) struct CacheAsideReport {
    /// Requests in the stream (gets; each miss also sent a set), counting
    /// those an earlier run sent (`--start-at`).
    pub(crate) requests: u64,
    /// The first request measured.
    pub(crate) measured_from: u64,
    /// The server's hit ratio over the measured requests.
    pub(crate) hit_ratio: f64,
    /// Each reference policy's, at `capacity` bytes; empty without one.
    pub(crate) simulated: Vec<(&'static str, f64)>,
    /// Bytes the policies may hold, counting each item as memcached does.
    pub(crate) capacity: u64,
    /// One item's bytes: key, value and memcached's item overhead.
    pub(crate) item_bytes: u64,
    /// Seconds the run took.
    pub(crate) seconds: f64,
}

/// The stream `args` describe.
fn shape(args: &Args) -> StreamShape {
    StreamShape {
        distribution: args.distribution,
        zipf_exponent: args.zipf_exponent,
        keys: args.keys,
        one_hit_share: args.one_hit_share,
        scan_every: args.scan_every,
        scan_length: args.scan_length,
    }
}

/// Runs the stream against the server, then through the policies.
pub(crate) fn run(args: &Args) -> io::Result<CacheAsideReport> {
    let started = Instant::now();
    let connection = TcpStream::connect(args.target)?;
    connection.set_nodelay(true)?;
    let item_bytes = (args.key_size + args.value_size + ITEM_OVERHEAD) as u64;
    let (measured_from, requests) = window(args, item_bytes)?;
    let mut client = Client { connection, incoming: Vec::new(), request: Vec::new() };
    let (mut hits, mut measured) = (0u64, 0u64);
    let stream = KeyStream::new(shape(args), args.seed).take(requests);
    for (position, index) in stream.enumerate().skip(args.start_at as usize) {
        let hit = client.get(index, args)?;
        if !hit {
            client.set(index, args)?;
        }
        if position >= measured_from {
            measured += 1;
            hits += hit as u64;
        }
    }
    let simulated = match args.capacity {
        0 => Vec::new(),
        capacity => policies(capacity)
            .iter_mut()
            .map(|policy| {
                let stream = KeyStream::new(shape(args), args.seed).take(requests);
                (policy.name(), hit_ratio(policy.as_mut(), stream, item_bytes, measured_from))
            })
            .collect(),
    };
    Ok(CacheAsideReport {
        requests: requests as u64,
        measured_from: measured_from as u64,
        hit_ratio: hits as f64 / measured.max(1) as f64,
        simulated,
        capacity: args.capacity,
        item_bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The first request measured and the stream's length: from
/// `--measure-from` (or the half) to `--requests`, moved later, length kept,
/// until the cache is warm (`--warm-up-laps`). A policy shows only once it
/// evicts: on a steep stream a cache can take most of the default stream
/// to fill (Zipf 1.2 at a quarter of the keys: LRU has set 0.9 of its
/// capacity by the half), and a measure of the filling compares no policy.
fn window(args: &Args, item_bytes: u64) -> io::Result<(usize, usize)> {
    let measured_from = args.measure_from.unwrap_or(args.requests / 2) as usize;
    let measured = (args.requests as usize).saturating_sub(measured_from);
    if args.warm_up_laps <= 0.0 || args.capacity == 0 {
        return Ok((measured_from, args.requests as usize));
    }
    let warm_bytes = (args.warm_up_laps * args.capacity as f64) as u64;
    // A stream whose keys all fit never warms: give up after a long while.
    let longest = 64 * args.requests as usize;
    let stream = KeyStream::new(shape(args), args.seed).take(longest);
    match filled_after(policies(args.capacity)[0].as_mut(), stream, item_bytes, warm_bytes) {
        Some(warm) => Ok((measured_from.max(warm), measured_from.max(warm) + measured)),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cache-aside: LRU does not set {warm_bytes} bytes within {longest} requests"),
        )),
    }
}

/// One blocking text-protocol connection.
struct Client {
    connection: TcpStream,
    incoming: Vec<u8>,
    request: Vec<u8>,
}

impl Client {
    /// Gets key `index`: whether it was there, with the right value.
    fn get(&mut self, index: u64, args: &Args) -> io::Result<bool> {
        self.request.clear();
        self.request.extend_from_slice(b"get ");
        key(index, args.key_size, &mut self.request);
        self.request.extend_from_slice(b"\r\n");
        self.connection.write_all(&self.request)?;
        self.request.clear();
        value(index, args.value_size, &mut self.request);
        let mut hit = false;
        loop {
            let (reply, consumed) = read_reply(&mut self.connection, &mut self.incoming)?;
            let done = match reply {
                Reply::End => true,
                Reply::Value { data, .. } if data == self.request => false,
                Reply::Value { .. } => return Err(unexpected("a value that is not the key's")),
                _ => return Err(unexpected("a reply to get that is neither VALUE nor END")),
            };
            self.incoming.drain(..consumed);
            if done {
                return Ok(hit);
            }
            hit = true;
        }
    }

    /// Sets key `index` to its value.
    fn set(&mut self, index: u64, args: &Args) -> io::Result<()> {
        self.request.clear();
        self.request.extend_from_slice(b"set ");
        key(index, args.key_size, &mut self.request);
        write!(self.request, " 0 0 {}\r\n", args.value_size)?;
        value(index, args.value_size, &mut self.request);
        self.request.extend_from_slice(b"\r\n");
        self.connection.write_all(&self.request)?;
        let (reply, consumed) = read_reply(&mut self.connection, &mut self.incoming)?;
        if reply != Reply::Stored {
            return Err(unexpected("a reply to set other than STORED"));
        }
        self.incoming.drain(..consumed);
        Ok(())
    }
}

/// The next whole reply in `incoming`, and the bytes it takes, reading from
/// `connection` as needed.
fn read_reply<'b>(connection: &mut TcpStream, incoming: &'b mut Vec<u8>) -> io::Result<(Reply<'b>, usize)> {
    loop {
        // Checked first, then parsed again to return: a reply borrows the
        // buffer that the read below grows.
        match parse_reply(incoming) {
            Ok(_) => break,
            Err(ParseError::Incomplete) => {}
            Err(ParseError::Invalid { .. }) => return Err(unexpected("a reply that does not parse")),
        }
        let mut chunk = [0u8; 16 << 10];
        let read = connection.read(&mut chunk)?;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        incoming.extend_from_slice(&chunk[..read]);
    }
    let parsed = parse_reply(incoming).map_err(|_| unexpected("a reply that does not parse"))?;
    Ok((parsed.message, parsed.consumed))
}

fn unexpected(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("cache-aside: {what}"))
}
