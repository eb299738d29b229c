//! What sessions count, over all connections.

use metriken::{Counter, metric};

#[metric(name = "bytes_read", description = "bytes read from client connections")]
pub(crate) static BYTES_READ: Counter = Counter::new();

#[metric(name = "bytes_written", description = "bytes written to client connections")]
pub(crate) static BYTES_WRITTEN: Counter = Counter::new();

#[metric(name = "requests", description = "requests parsed and served")]
pub(crate) static REQUESTS: Counter = Counter::new();

#[metric(name = "request_errors", description = "invalid requests answered with an error")]
pub(crate) static REQUEST_ERRORS: Counter = Counter::new();

#[metric(
    name = "request_overflows",
    description = "connections closed for a request larger than the read buffer"
)]
pub(crate) static REQUEST_OVERFLOWS: Counter = Counter::new();

#[metric(
    name = "memory_limit_closes",
    description = "connections closed because their request needed buffer memory beyond buffers.memory_limit"
)]
pub(crate) static MEMORY_LIMIT_CLOSES: Counter = Counter::new();
