//! A response still being composed part by part (a key dump, or a log
//! that never ends), which the session goes on with before it serves the
//! connection's next request.

use std::fmt;

use petrel_protocol::{Protocol, ResponseStream, Service, Streamed};

/// The rest of the connection's current response, if it is unfinished.
#[derive(Default)]
pub(crate) struct Unfinished(Option<Box<dyn ResponseStream>>, WaitsForEvents);

/// The response has answered `Streamed::Later`: a stream of events.
#[derive(Default)]
struct WaitsForEvents(bool);

impl Unfinished {
    /// Takes over what the service gives after a request: the rest of its
    /// response, if any.
    pub(crate) fn begin(&mut self, rest: Option<Box<dyn ResponseStream>>) {
        debug_assert!(self.0.is_none() || rest.is_none(), "a response began before the last one ended");
        if rest.is_some() {
            self.0 = rest;
            self.1 = WaitsForEvents(false);
        }
    }

    /// Whether a response is still being composed.
    pub(crate) fn is_pending(&self) -> bool {
        self.0.is_some()
    }

    /// Whether the response is a stream of events (a log), which a client
    /// waits for in silence.
    pub(crate) fn waits_for_events(&self) -> bool {
        self.0.is_some() && self.1.0
    }

    /// Has `service` compose the next part into `out`, and forgets the
    /// response once it is complete.
    pub(crate) fn compose_next<P: Protocol, V: Service<P>>(
        &mut self,
        service: &mut V,
        out: &mut Vec<u8>,
    ) -> Streamed {
        let Some(rest) = self.0.as_mut() else { return Streamed::Complete };
        let streamed = service.compose_next(rest.as_mut(), out);
        match streamed {
            Streamed::Complete => self.0 = None,
            Streamed::Later => self.1 = WaitsForEvents(true),
            Streamed::More => {}
        }
        streamed
    }
}

impl fmt::Debug for Unfinished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_pending() { "Unfinished(pending)" } else { "Unfinished(none)" })
    }
}
