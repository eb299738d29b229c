//! `petrel-bench`: load for memcache and ping servers, on Petrel's protocol
//! crates, with every reply checked.
//!
//! Each thread runs one mio event loop over its share of the connections.
//! Closed loop (the default): each connection keeps `--pipeline` requests in
//! flight. Open loop (`--rate`): requests are due at fixed intervals whatever
//! the server does, and latency runs from when a request was due, not when
//! it could be sent, so a slow server cannot hide its queueing.
//!
//! `--mode cache-aside` is an application instead (`cache_aside.rs`): get,
//! and on a miss set, over a key stream, reporting the hit ratio beside
//! those of reference eviction policies simulated on the same stream.

mod cache_aside;
mod connection;
mod key_stream;
#[cfg(test)]
mod log_model;
mod report;
mod simulate;
mod tls;
mod workload;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use mio::{Events, Interest, Poll, Token};

use connection::Connection;
use workload::{KeyDistribution, Workload};

/// The protocol to speak.
#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum, serde::Serialize)]
pub(crate) enum Protocol {
    /// memcached text protocol: get and set.
    Memcache,
    /// memcached binary protocol: GetK (a multi-get: GetKQ, then GetK) and Set.
    MemcacheBinary,
    /// PING/PONG.
    Ping,
    /// memcached's `version`: the closest trivial request memcached serves,
    /// to compare with ping.
    Version,
}

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum, serde::Serialize)]
pub(crate) enum Mode {
    /// Load: requests as fast as the connections go, or at `--rate`.
    Load,
    /// An application's cache-aside use, one request at a time: get, and on
    /// a miss set; the hit ratio, beside the reference policies'.
    CacheAside,
}

/// Load generator for memcache and ping servers.
#[derive(Debug, Clone, Parser, serde::Serialize)]
#[command(name = "petrel-bench", version)]
pub(crate) struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:11211")]
    pub(crate) target: SocketAddr,
    /// Protocol.
    #[arg(long, value_enum, default_value = "memcache")]
    pub(crate) protocol: Protocol,
    /// Client threads.
    #[arg(long, default_value_t = 1)]
    pub(crate) threads: usize,
    /// Connections in all.
    #[arg(long, default_value_t = 32)]
    pub(crate) connections: usize,
    /// Requests in flight per connection (closed loop).
    #[arg(long, default_value_t = 1)]
    pub(crate) pipeline: usize,
    /// Target requests per second in all (open loop); 0 for closed loop.
    #[arg(long, default_value_t = 0)]
    pub(crate) rate: u64,
    /// Distinct keys.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) keys: u64,
    /// Key length in bytes.
    #[arg(long, default_value_t = 16)]
    pub(crate) key_size: usize,
    /// Value length in bytes.
    #[arg(long, default_value_t = 1024)]
    pub(crate) value_size: usize,
    /// Values no compressor shrinks (pseudo-random bytes) instead of the key
    /// index and filler, which a store that compresses keeps in a few bytes.
    #[arg(long)]
    pub(crate) incompressible: bool,
    /// How keys are picked.
    #[arg(long, value_enum, default_value = "uniform")]
    pub(crate) distribution: KeyDistribution,
    /// Exponent of the zipf distribution.
    #[arg(long, default_value_t = 0.99)]
    pub(crate) zipf_exponent: f64,
    /// Fraction of requests that are gets (the rest are sets).
    #[arg(long, default_value_t = 0.9)]
    pub(crate) get_ratio: f64,
    /// Keys per get.
    #[arg(long, default_value_t = 1)]
    pub(crate) multiget: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) duration: f64,
    /// Seconds run before measuring.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) warmup: f64,
    /// Set every key once before the run, so gets hit.
    #[arg(long)]
    pub(crate) prefill: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Load, or a cache-aside application.
    #[arg(long, value_enum, default_value = "load")]
    pub(crate) mode: Mode,
    /// Cache-aside: gets in all (the second half is measured).
    #[arg(long, default_value_t = 600_000)]
    pub(crate) requests: u64,
    /// Cache-aside: share of requests for keys asked for only once.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) one_hit_share: f64,
    /// Cache-aside: a scan every this many requests (0: none)...
    #[arg(long, default_value_t = 0)]
    pub(crate) scan_every: u64,
    /// ...of this many consecutive keys.
    #[arg(long, default_value_t = 0)]
    pub(crate) scan_length: u64,
    /// Cache-aside: bytes the reference policies hold (0: no simulation),
    /// each item counted as memcached counts it.
    #[arg(long, default_value_t = 0)]
    pub(crate) capacity: u64,
    /// Cache-aside: the key stream's seed.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Cache-aside: skip this many requests of the stream, sent to the
    /// server by an earlier run (to go on after a restart).
    #[arg(long, default_value_t = 0)]
    pub(crate) start_at: u64,
    /// Cache-aside: measure the hit ratio from this request of the stream
    /// on (default: its second half).
    #[arg(long)]
    pub(crate) measure_from: Option<u64>,
    /// Cache-aside: measure only once an exact LRU at `--capacity` has set
    /// this many times its capacity; if that comes later than
    /// `--measure-from`, the stream is longer by as much, so the measured
    /// part keeps its length (0: off).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) warm_up_laps: f64,
    /// TLS: the CA (PEM) the server's certificate must chain to; turns TLS on.
    #[arg(long)]
    pub(crate) tls_ca: Option<std::path::PathBuf>,
    /// TLS: a client certificate chain (PEM), with --tls-key.
    #[arg(long)]
    pub(crate) tls_cert: Option<std::path::PathBuf>,
    /// TLS: the client certificate's key (PEM).
    #[arg(long)]
    pub(crate) tls_key: Option<std::path::PathBuf>,
    /// TLS: the name the server's certificate must carry.
    #[arg(long, default_value = "localhost")]
    pub(crate) tls_name: String,
}

/// What one thread counted.
pub(crate) struct Tally {
    pub(crate) requests: u64,
    pub(crate) gets: u64,
    pub(crate) sets: u64,
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) errors: u64,
    pub(crate) wrong_values: u64,
    pub(crate) latency: histogram::Histogram,
}

impl Tally {
    fn new() -> Self {
        Self {
            requests: 0,
            gets: 0,
            sets: 0,
            hits: 0,
            misses: 0,
            errors: 0,
            wrong_values: 0,
            latency: histogram::Histogram::new(7, 40).expect("valid histogram"),
        }
    }

    fn add(&mut self, other: &Tally) {
        self.requests += other.requests;
        self.gets += other.gets;
        self.sets += other.sets;
        self.hits += other.hits;
        self.misses += other.misses;
        self.errors += other.errors;
        self.wrong_values += other.wrong_values;
        self.latency = self.latency.wrapping_add(&other.latency).expect("same histogram layout");
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.connections < args.threads || args.keys == 0 || args.multiget == 0 {
        eprintln!("petrel-bench: need at least one connection per thread, one key and one key per get");
        return ExitCode::from(2);
    }
    if args.mode == Mode::CacheAside {
        return match cache_aside::run(&args) {
            Ok(report) if args.json => {
                println!("{}", serde_json::to_string_pretty(&report).expect("report serializes"));
                ExitCode::SUCCESS
            }
            Ok(report) => {
                println!(
                    "hit ratio {:.4} over the second half of {} gets",
                    report.hit_ratio, report.requests
                );
                for (policy, ratio) in &report.simulated {
                    println!("{policy:>8} {ratio:.4} at {} bytes", report.capacity);
                }
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("petrel-bench: {error}");
                ExitCode::FAILURE
            }
        };
    }
    if let Err(error) = prefill_if_memcache(&args) {
        eprintln!("petrel-bench: prefill failed: {error}");
        return ExitCode::FAILURE;
    }
    let threads: Vec<_> = (0..args.threads)
        .map(|thread| {
            let args = args.clone();
            std::thread::Builder::new()
                .name(format!("bench-{thread}"))
                .spawn(move || run_thread(&args, thread))
        })
        .collect::<Result<_, _>>()
        .expect("spawn threads");
    let mut total = Tally::new();
    for thread in threads {
        match thread.join().expect("bench thread") {
            Ok(tally) => total.add(&tally),
            Err(error) => {
                eprintln!("petrel-bench: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    let report = report::Report::new(&args, &total);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).expect("report serializes"));
    } else {
        print!("{report}");
    }
    if total.wrong_values > 0 || total.errors > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// Sets every key once when asked and the protocol has keys.
fn prefill_if_memcache(args: &Args) -> std::io::Result<()> {
    if args.prefill && args.protocol != Protocol::Ping && args.protocol != Protocol::Version {
        prefill(args)
    } else {
        Ok(())
    }
}

/// Sets every key once, in pipelined batches over one blocking connection,
/// in the text protocol whatever the load's (the items are the same).
fn prefill(args: &Args) -> std::io::Result<()> {
    let mut stream = tls::connect_blocking(args, &tls::client_config(args)?)?;
    let mut batch = Vec::new();
    let mut reply = vec![0u8; 8 * 256];
    let keys: Vec<u64> = (0..args.keys).collect();
    let values = workload::Values::of(args);
    for chunk in keys.chunks(256) {
        batch.clear();
        for &index in chunk {
            batch.extend_from_slice(b"set ");
            workload::key(index, args.key_size, &mut batch);
            let _ = write!(batch, " 0 0 {}\r\n", args.value_size);
            values.write(index, args.value_size, &mut batch);
            batch.extend_from_slice(b"\r\n");
        }
        stream.write_all(&batch)?;
        let expected = 8 * chunk.len();
        stream.read_exact(&mut reply[..expected])?;
        if reply[..expected].chunks(8).any(|r| r != b"STORED\r\n") {
            return Err(std::io::Error::other("a prefill set was not STORED"));
        }
    }
    Ok(())
}

/// One thread's event loop over its connections.
fn run_thread(args: &Args, thread: usize) -> std::io::Result<Tally> {
    let mut poll = Poll::new()?;
    let count = args.connections / args.threads + usize::from(thread < args.connections % args.threads);
    let mut connections = Vec::with_capacity(count);
    let tls = tls::client_config(args)?;
    for index in 0..count {
        let mut stream = tls::connect(args, &tls)?;
        poll.registry().register(&mut stream, Token(index), Interest::READABLE | Interest::WRITABLE)?;
        let seed = (thread as u64) << 32 | index as u64;
        connections.push(Connection::new(stream, Workload::new(args, seed), args.protocol));
    }

    let open_loop = args.rate > 0;
    // Per connection, one request is due every `interval`.
    const EPOLL_RESOLUTION: Duration = Duration::from_millis(1);
    let interval = open_loop.then(|| Duration::from_secs_f64(args.connections as f64 / args.rate as f64));
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    let mut next_due: Vec<Instant> =
        (0..count).map(|i| start + interval.unwrap_or_default().mul_f64(i as f64 / count as f64)).collect();
    let mut tally = Tally::new();
    let mut events = Events::with_capacity(1024);

    for connection in &mut connections {
        if !open_loop {
            for _ in 0..args.pipeline {
                connection.queue(Instant::now());
            }
            connection.flush()?;
        }
    }

    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let timeout = match interval {
            // epoll sleeps in whole milliseconds, so a request due sooner
            // would leave up to a millisecond late, and its latency would be
            // the generator's: poll without sleeping until it is due (the
            // generator has a core of its own).
            Some(_) => next_due.iter().min().map(|due| match due.saturating_duration_since(now) {
                wait if wait < EPOLL_RESOLUTION => Duration::ZERO,
                wait => wait - EPOLL_RESOLUTION,
            }),
            None => Some(end - now),
        };
        poll.poll(&mut events, timeout.map(|t| t.min(end - now)))?;
        let counting = Instant::now() >= measure_from;
        for event in events.iter() {
            let connection = &mut connections[event.token().0];
            if event.is_readable() {
                connection.receive(&mut tally, counting)?;
                if !open_loop {
                    while connection.in_flight() < args.pipeline {
                        connection.queue(Instant::now());
                    }
                }
            }
            connection.flush()?;
        }
        if let Some(interval) = interval {
            let now = Instant::now();
            for (connection, due) in connections.iter_mut().zip(next_due.iter_mut()) {
                while *due <= now {
                    connection.queue(*due);
                    *due += interval;
                }
                connection.flush()?;
            }
        }
    }
    Ok(tally)
}
