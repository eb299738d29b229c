//! The buffers a response borrows, reused from one request to the next.

use std::ops::Range;

use petrel_protocol_memcache::{Hit, ReturnFlag};

use super::retrieval::RESPONSE_PART;

/// Response text reused between requests: what a response borrows.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub(super) bytes: Vec<u8>,
    pub(super) hits: Vec<Hit>,
    pub(super) flags: Vec<ReturnFlag>,
}

impl Scratch {
    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.hits.clear();
        self.flags.clear();
    }

    /// Gives back what a large response grew the buffers to: one item of
    /// up to a mebibyte would otherwise stay allocated by every worker that
    /// ever served one.
    pub(super) fn release_large(&mut self) {
        const KEPT: usize = 2 * RESPONSE_PART;
        if self.bytes.capacity() > KEPT {
            self.bytes.clear();
            self.bytes.shrink_to(KEPT);
        }
        if self.hits.capacity() > KEPT / 64 {
            self.hits.clear();
            self.hits.shrink_to(KEPT / 64);
        }
    }

    /// Copies `data` in; returns where it went.
    pub(super) fn push(&mut self, data: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(data);
        start..self.bytes.len()
    }
}
