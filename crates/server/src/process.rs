//! Process-level behaviour of a server binary: signals and panics.

use signal_hook::consts::{SIGINT, SIGTERM};
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

/// SIGINT and SIGTERM, caught from the moment [`install`](Self::install)
/// returns, so a signal during startup is not lost.
pub struct StopSignals {
    signals: Signals,
}

impl StopSignals {
    /// Starts catching SIGINT and SIGTERM.
    pub fn install() -> std::io::Result<Self> {
        Ok(Self { signals: Signals::new([SIGINT, SIGTERM])? })
    }

    /// Blocks until one arrives; returns its name.
    pub fn wait(mut self) -> &'static str {
        match self.signals.forever().next() {
            Some(SIGINT) => "SIGINT",
            _ => "SIGTERM",
        }
    }
}
