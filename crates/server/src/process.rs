//! Process-level behaviour of a server binary: signals and panics.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Makes a panic on any thread end the whole process with exit status 70,
/// rather than leave a half-alive server with a dead worker.
pub fn exit_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::exit(70);
    }));
}

/// Raises the soft limit on open files so that `connections` clients (plus
/// the files the process needs itself) can be open at once, up to the hard
/// limit, as memcached does. Returns the soft limit in force afterwards.
pub fn raise_open_files_limit(connections: usize) -> std::io::Result<u64> {
    // Listeners, pollers, wakers, log and data files.
    const RESERVED: u64 = 256;
    let wanted = connections as u64 + RESERVED;
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if limit.rlim_cur >= wanted {
        return Ok(limit.rlim_cur);
    }
    limit.rlim_cur = wanted.min(limit.rlim_max);
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(limit.rlim_cur)
}

/// A signal the server acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT or SIGTERM (named): stop gracefully.
    Stop(&'static str),
    /// SIGHUP: reload the TLS certificates.
    Hangup,
}

/// SIGINT, SIGTERM and SIGHUP, caught from the moment
/// [`install`](Self::install) returns, so a signal during startup is not lost.
pub struct StopSignals {
    signals: Signals,
}

impl StopSignals {
    /// Starts catching SIGINT, SIGTERM and SIGHUP.
    pub fn install() -> std::io::Result<Self> {
        Ok(Self { signals: Signals::new([SIGINT, SIGTERM, SIGHUP])? })
    }

    /// Blocks until one arrives.
    pub fn wait(&mut self) -> Signal {
        match self.signals.forever().next() {
            Some(SIGHUP) => Signal::Hangup,
            Some(SIGINT) => Signal::Stop("SIGINT"),
            _ => Signal::Stop("SIGTERM"),
        }
    }
}
