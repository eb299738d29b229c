//! Logging for Petrel servers: `log` macros at call sites, written out by a
//! background thread so a worker never waits on a terminal or a disk.
//!
//! [`init`] installs [flexi_logger](https://docs.rs/flexi_logger) in its
//! asynchronous mode: a call site formats its line into a pooled buffer and
//! hands it over a channel; a logger thread does the I/O. The [`Logger`]
//! returned must be kept alive; dropping it flushes what is still queued.
//!
//! The command log (klog) records a sample of the commands served, for
//! hot-key analysis: [`klog!`] logs one call in `klog_sample` (per thread, so
//! sampling shares no state among workers) to its own file.
//!
//! ```no_run
//! let logger = petrel_logger::init(&petrel_config::LoggingConfig::default()).unwrap();
//! log::info!("listening");
//! petrel_logger::klog!("get {} {}", "some-key", "hit");
//! drop(logger); // flushes
//! ```

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flexi_logger::writers::FileLogWriter;
use flexi_logger::{DeferredNow, FileSpec, LogSpecBuilder, LoggerHandle, WriteMode};
use log::{LevelFilter, Record};
use petrel_config::{LogLevel, LoggingConfig};

#[doc(hidden)]
pub use log as __log;

/// The `log` target of command-log lines; flexi_logger routes a target in
/// braces to the writer of that name.
#[doc(hidden)]
pub const KLOG_TARGET: &str = "{klog}";
const KLOG_WRITER: &str = "klog";

/// One command in this many is logged; 0 disables the command log. Written
/// once by [`init`], then only read.
static KLOG_SAMPLE: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static KLOG_COUNTDOWN: Cell<u64> = const { Cell::new(0) };
}

/// Logs a command to the command log, if this call is the sampled one.
#[macro_export]
macro_rules! klog {
    ($($arg:tt)+) => {
        if $crate::klog_sampled() {
            $crate::__log::info!(target: $crate::KLOG_TARGET, $($arg)+);
        }
    };
}

/// Whether this call on this thread is the one in `klog_sample` to log.
#[doc(hidden)]
#[inline]
pub fn klog_sampled() -> bool {
    let sample = KLOG_SAMPLE.load(Ordering::Relaxed);
    sample != 0
        && KLOG_COUNTDOWN.with(|countdown| match countdown.get() {
            0 => {
                countdown.set(sample - 1);
                true
            }
            left => {
                countdown.set(left - 1);
                false
            }
        })
}

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start logging to {output}: {source}")]
pub struct LoggerError {
    output: String,
    source: flexi_logger::FlexiLoggerError,
}

/// The running logger; dropping it flushes and stops the logger thread.
pub struct Logger {
    handle: LoggerHandle,
}

impl Logger {
    /// Writes out everything queued so far.
    pub fn flush(&self) {
        self.handle.flush();
    }
}

impl Drop for Logger {
    fn drop(&mut self) {
        self.handle.flush();
        self.handle.shutdown();
    }
}

/// Starts logging as configured. Call once per process.
pub fn init(config: &LoggingConfig) -> Result<Logger, LoggerError> {
    let error = |output: &str| {
        let output = output.to_string();
        move |source| LoggerError { output, source }
    };
    let mut spec = LogSpecBuilder::new();
    spec.default(level_filter(config.level));
    if config.klog_sample > 0 {
        spec.module(KLOG_TARGET, LevelFilter::Info);
    }
    let mut logger = flexi_logger::Logger::with(spec.build()).format(format_line);

    logger = if config.output == "stderr" {
        // The stderr writer flushes each batch itself; it takes no interval.
        logger.log_to_stderr().write_mode(async_mode(Duration::ZERO))
    } else {
        let file = FileSpec::try_from(&config.output).map_err(error(&config.output))?;
        logger.log_to_file(file).append().write_mode(async_mode(Duration::from_secs(1)))
    };

    if config.klog_sample > 0 {
        let klog_output = config.klog_output.display().to_string();
        let file = FileSpec::try_from(&config.klog_output).map_err(error(&klog_output))?;
        let writer = FileLogWriter::builder(file)
            .append()
            .format(format_klog_line)
            .write_mode(async_mode(Duration::from_secs(1)))
            .try_build()
            .map_err(error(&klog_output))?;
        logger = logger.add_writer(KLOG_WRITER, Box::new(writer));
    }
    KLOG_SAMPLE.store(config.klog_sample, Ordering::Relaxed);
    let handle = logger.start().map_err(error(&config.output))?;
    Ok(Logger { handle })
}

fn async_mode(flush_interval: Duration) -> WriteMode {
    WriteMode::AsyncWith { pool_capa: 64, message_capa: 256, flush_interval }
}

fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Off => LevelFilter::Off,
        LogLevel::Error => LevelFilter::Error,
        LogLevel::Warn => LevelFilter::Warn,
        LogLevel::Info => LevelFilter::Info,
        LogLevel::Debug => LevelFilter::Debug,
        LogLevel::Trace => LevelFilter::Trace,
    }
}

/// `2026-01-02T03:04:05.678Z INFO petrel_server::worker: message`
fn format_line(w: &mut dyn std::io::Write, now: &mut DeferredNow, record: &Record) -> std::io::Result<()> {
    write!(
        w,
        "{} {} {}: {}",
        now.now_utc_owned().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        record.level(),
        record.module_path().unwrap_or(record.target()),
        record.args()
    )
}

/// `2026-01-02T03:04:05.678Z get some-key hit`
fn format_klog_line(
    w: &mut dyn std::io::Write,
    now: &mut DeferredNow,
    record: &Record,
) -> std::io::Result<()> {
    write!(w, "{} {}", now.now_utc_owned().format("%Y-%m-%dT%H:%M:%S%.3fZ"), record.args())
}
