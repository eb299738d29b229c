//! A worker's graceful stop: answer what has been read, send what is
//! owed, then close, within a deadline.

use std::time::Instant;

use mio::{Events, Token};
use petrel_protocol::{CloseReason, Protocol, Service};
use petrel_session::{Progress, Readiness};

use super::{CURR_CONNECTIONS, DRAIN_DEADLINE, Intake, Worker};

impl<P: Protocol, V: Service<P>> Worker<P, V> {
    /// Graceful stop: answer what has been read, send what is owed, close.
    pub(super) fn drain(&mut self) {
        if let Intake::Queue(_) = self.intake {
            self.drop_queued_connections();
        }
        let keys: Vec<usize> = self.sessions.iter().map(|(key, _)| key).collect();
        for key in keys {
            if let Some(connection) = self.sessions.get_mut(key) {
                connection.session.end_input();
            }
            self.drive_to_end(key);
        }
        let deadline = Instant::now() + DRAIN_DEADLINE;
        let mut events = Events::with_capacity(1024);
        while !self.sessions.is_empty() && Instant::now() < deadline {
            let _ = self.poll.poll(&mut events, Some(deadline - Instant::now()));
            for event in events.iter() {
                let Token(key) = event.token();
                self.drive_to_end(key);
            }
        }
        let keys: Vec<usize> = self.sessions.iter().map(|(key, _)| key).collect();
        for key in keys {
            self.close(key, CloseReason::Shutdown);
        }
    }

    /// Closes the connections still queued for this worker: never served,
    /// nothing is owed to them.
    fn drop_queued_connections(&mut self) {
        if let Intake::Queue(receiver) = &self.intake {
            while receiver.try_recv().is_ok() {
                CURR_CONNECTIONS.decrement();
            }
        }
    }

    /// Drives a stopping session with no request limit, since nothing new
    /// competes for the worker.
    fn drive_to_end(&mut self, key: usize) {
        loop {
            let Some(connection) = self.sessions.get_mut(key) else { return };
            match connection.session.drive(
                self.protocol.as_ref(),
                &mut self.service,
                usize::MAX,
                Readiness::RESUME,
            ) {
                Ok(Progress::Done) | Err(_) => self.close(key, CloseReason::Shutdown),
                // More to serve at once (a part of a long reply was sent).
                Ok(Progress::Yield) => continue,
                Ok(_) => {
                    if self.register_interest(key).is_err() {
                        self.close(key, CloseReason::Shutdown);
                    }
                }
            }
            return;
        }
    }
}
