//! What a session may hold, and whose traffic it carries.

use std::sync::Arc;

use crate::MemoryBudget;

/// Buffer sizes of a session.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Size each buffer starts at and shrinks back to.
    pub initial: usize,
    /// Most bytes of unparsed input.
    pub read_max: usize,
    /// Unsent output past which no more requests are taken.
    pub write_max: usize,
    /// What the buffers of all sessions sharing it may hold above `initial`.
    pub memory: Arc<MemoryBudget>,
}

/// Whose traffic a session carries, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traffic {
    /// A client's: counted in `bytes_read`, `bytes_written`, `requests`, ...
    Client,
    /// An operator's (the admin port): not counted, so that scraping the
    /// metrics does not move them.
    Admin,
}
