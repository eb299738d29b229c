//! The admin protocol of Petrel servers, served on a port of its own.
//!
//! Text commands in the memcached style, usable with telnet or nc:
//! `version`, `stats` (every metric as `STAT name value` lines, then `END`)
//! and `quit`, plus the commands a server adds with
//! [`AdminService::with_command`] (petrel-memcache adds `checkpoint`);
//! anything else is answered `ERROR`. The same port answers HTTP `GET`
//! requests so the server can be scraped and probed: `/metrics` (Prometheus
//! text), `/health` and `/ready`. Nothing here can change cached data.
//!
//! Any other HTTP request (`POST`, `PUT`, ...) closes the connection
//! unanswered at its request line: a web page can make a browser send a
//! `POST` whose body holds admin commands, and none of them may run.
//!
//! ```
//! use std::sync::Arc;
//! use petrel_metrics::ServerInfo;
//! use petrel_protocol_admin::AdminService;
//!
//! let admin = AdminService::new(Arc::new(ServerInfo::new("my-cache 1.0", 4)))
//!     .with_command("hello", Arc::new(|argument: &str| format!("HELLO {argument}")));
//! ```

use metriken::{Counter, metric};
use petrel_metrics::ServerInfo;
use petrel_protocol::line::{Line, first_line};
use petrel_protocol::{Executed, Flow, ParseError, Parsed, Protocol, Recovery, Service};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[metric(
    name = "admin_http_request_closes",
    description = "admin connections closed at an HTTP request other than GET (a web page's POST)"
)]
static HTTP_REQUEST_CLOSES: Counter = Counter::new();

/// The longest command line, or HTTP request head, accepted.
pub const MAX_REQUEST: usize = 8192;

/// The admin protocol (server side).
#[derive(Debug, Clone, Copy, Default)]
pub struct Admin;

/// An admin request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// `version`
    Version,
    /// `stats`
    Stats,
    /// `quit`
    Quit,
    /// Any other line: a command the service may know, and the rest of the
    /// line after it, trimmed.
    Command {
        /// The first word.
        name: &'a [u8],
        /// The rest of the line.
        argument: &'a [u8],
    },
    /// An HTTP `GET` of this path.
    HttpGet(&'a [u8]),
}

/// An admin response, borrowing text the service composed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response<'a> {
    /// `VERSION <text>`
    Version(&'a str),
    /// `STAT` lines; `END` is added when composed.
    Stats(&'a [u8]),
    /// Nothing; the connection closes.
    Quit,
    /// One line; `\r\n` is added when composed.
    Line(&'a str),
    /// An HTTP response; the connection closes after it.
    Http {
        /// Status line tail, such as `200 OK`.
        status: &'static str,
        /// Content type of the body.
        content_type: &'static str,
        /// The body.
        body: &'a [u8],
    },
}

/// What is wrong with an admin request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Not an admin command: `ERROR`.
    UnknownCommand,
    /// No end of line within [`MAX_REQUEST`] bytes.
    TooLong,
    /// An HTTP request other than a `GET`: the connection closes unanswered.
    HttpRequest,
}

impl Protocol for Admin {
    type Request<'a> = Request<'a>;
    type Response<'a> = Response<'a>;
    type Error = Error;
    type State = ();

    fn parse<'a>(&self, _: &mut (), input: &'a [u8]) -> Result<Parsed<Request<'a>>, ParseError<Error>> {
        let window = &input[..input.len().min(MAX_REQUEST)];
        let Some(Line { text: line, len: consumed }) = first_line(input, MAX_REQUEST) else {
            return Err(incomplete_or_too_long(input));
        };
        if let Some(rest) = line.strip_prefix(b"GET ") {
            // Take the whole request head, up to the blank line.
            let Some(end) = find(window, b"\r\n\r\n") else {
                return Err(incomplete_or_too_long(input));
            };
            let path = rest.split(|&b| b == b' ').next().unwrap_or_default();
            return Ok(Parsed { message: Request::HttpGet(path), consumed: end + 4 });
        }
        if is_http_request_line(line) {
            return Err(ParseError::Invalid { error: Error::HttpRequest, recovery: Recovery::Close });
        }
        let request = match line.trim_ascii() {
            b"version" => Request::Version,
            b"stats" => Request::Stats,
            b"quit" => Request::Quit,
            b"" => {
                return Err(ParseError::Invalid {
                    error: Error::UnknownCommand,
                    recovery: Recovery::Skip(consumed as u64),
                });
            }
            command => {
                let name_len = command.iter().position(u8::is_ascii_whitespace).unwrap_or(command.len());
                let (name, argument) = command.split_at(name_len);
                Request::Command { name, argument: argument.trim_ascii() }
            }
        };
        Ok(Parsed { message: request, consumed })
    }

    fn compose(&self, response: &Response<'_>, out: &mut Vec<u8>) -> Flow {
        match response {
            Response::Version(version) => {
                out.extend_from_slice(b"VERSION ");
                out.extend_from_slice(version.as_bytes());
                out.extend_from_slice(b"\r\n");
                Flow::Continue
            }
            Response::Stats(lines) => {
                out.extend_from_slice(lines);
                out.extend_from_slice(b"END\r\n");
                Flow::Continue
            }
            Response::Quit => Flow::Close,
            Response::Line(line) => {
                out.extend_from_slice(line.as_bytes());
                out.extend_from_slice(b"\r\n");
                Flow::Continue
            }
            Response::Http { status, content_type, body } => {
                out.extend_from_slice(
                    format!(
                        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(body);
                Flow::Close
            }
        }
    }

    fn compose_error(&self, error: &Error, out: &mut Vec<u8>) {
        out.extend_from_slice(match error {
            Error::UnknownCommand => b"ERROR\r\n",
            Error::TooLong => b"CLIENT_ERROR line too long\r\n",
            Error::HttpRequest => {
                HTTP_REQUEST_CLOSES.increment();
                b""
            }
        });
    }
}

/// Whether `line` is an HTTP request line (`POST / HTTP/1.1`): its last
/// word is an HTTP version. No admin command ends so.
fn is_http_request_line(line: &[u8]) -> bool {
    line.trim_ascii_end().rsplit(|&b| b == b' ').next().is_some_and(|last| last.starts_with(b"HTTP/"))
}

fn incomplete_or_too_long(input: &[u8]) -> ParseError<Error> {
    if input.len() >= MAX_REQUEST {
        ParseError::Invalid { error: Error::TooLong, recovery: Recovery::Close }
    } else {
        ParseError::Incomplete
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// Brings gauges up to date before `stats` or `/metrics` reads them (a
/// store's item count, say, which is costly to keep current on every write).
pub type Refresh = Arc<dyn Fn() + Send + Sync>;

/// A command a server adds to the admin port: given the rest of the line,
/// it returns the reply line (without `\r\n`), by convention `OK ...`,
/// `CLIENT_ERROR ...` or `SERVER_ERROR ...`. It runs on the admin thread,
/// so it may take its time without holding up the workers.
pub type Command = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// Answers admin requests from the process's metrics.
pub struct AdminService {
    server: Arc<ServerInfo>,
    ready: Arc<AtomicBool>,
    refresh: Option<Refresh>,
    commands: Vec<(&'static str, Command)>,
    /// The reply line of the last command.
    reply: String,
    /// Text of the response being composed, reused between requests.
    scratch: Vec<u8>,
}

impl AdminService {
    /// A service reporting `server` in `version` and `stats`. `/ready`
    /// answers 503 until [`readiness`](Self::readiness) is set.
    pub fn new(server: Arc<ServerInfo>) -> Self {
        Self {
            server,
            ready: Arc::new(AtomicBool::new(false)),
            refresh: None,
            commands: Vec::new(),
            reply: String::new(),
            scratch: Vec::new(),
        }
    }

    /// The flag `/ready` reports; the server core sets it once it serves.
    pub fn readiness(&self) -> Arc<AtomicBool> {
        self.ready.clone()
    }

    /// Calls `refresh` before metrics are read.
    pub fn with_refresh(mut self, refresh: Refresh) -> Self {
        self.refresh = Some(refresh);
        self
    }

    /// Answers the command `name` with `command`.
    pub fn with_command(mut self, name: &'static str, command: Command) -> Self {
        self.commands.push((name, command));
        self
    }
}

impl Service<Admin> for AdminService {
    fn execute<'s>(&'s mut self, request: Request<'_>) -> Executed<Response<'s>> {
        Executed::standing(self.answer(request))
    }
}

impl AdminService {
    fn answer<'s>(&'s mut self, request: Request<'_>) -> Response<'s> {
        self.scratch.clear();
        if let (Request::Stats | Request::HttpGet(b"/metrics"), Some(refresh)) = (request, &self.refresh) {
            refresh();
        }
        match request {
            Request::Version => Response::Version(&self.server.version),
            Request::Quit => Response::Quit,
            Request::Command { name, argument } => {
                let Some((_, command)) = self.commands.iter().find(|(known, _)| known.as_bytes() == name)
                else {
                    return Response::Line("ERROR");
                };
                self.reply = match std::str::from_utf8(argument) {
                    Ok(argument) => command(argument),
                    Err(_) => "CLIENT_ERROR the argument is not UTF-8".to_string(),
                };
                Response::Line(&self.reply)
            }
            Request::Stats => {
                let out = &mut self.scratch;
                self.server.write_stats(out);
                petrel_metrics::write_stats(out);
                Response::Stats(&self.scratch)
            }
            Request::HttpGet(path) => match path {
                b"/metrics" => {
                    petrel_metrics::write_prometheus(&mut self.scratch);
                    http_ok("text/plain; version=0.0.4", &self.scratch)
                }
                b"/health" => http_ok("text/plain", b"OK\n"),
                b"/ready" if self.ready.load(Ordering::Acquire) => http_ok("text/plain", b"READY\n"),
                b"/ready" => Response::Http {
                    status: "503 Service Unavailable",
                    content_type: "text/plain",
                    body: b"NOT READY\n",
                },
                _ => Response::Http {
                    status: "404 Not Found",
                    content_type: "text/plain",
                    body: b"not found\n",
                },
            },
        }
    }
}

fn http_ok<'a>(content_type: &'static str, body: &'a [u8]) -> Response<'a> {
    Response::Http { status: "200 OK", content_type, body }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(input: &[u8]) -> (Vec<u8>, Flow) {
        let mut service = AdminService::new(Arc::new(ServerInfo::new("petrel-test 1.2.3", 2)))
            .with_command("echo", Arc::new(|argument: &str| format!("OK {argument}")));
        service.readiness().store(true, Ordering::Release);
        let parsed = Admin.parse(&mut (), input).unwrap();
        assert_eq!(parsed.consumed, input.len());
        let mut out = Vec::new();
        let executed = service.execute(parsed.message);
        let flow = Admin.compose(&executed.response, &mut out);
        (out, flow)
    }

    #[test]
    fn version_stats_quit() {
        assert_eq!(serve(b"version\r\n"), (b"VERSION petrel-test 1.2.3\r\n".to_vec(), Flow::Continue));
        let (stats, flow) = serve(b"stats\r\n");
        let stats = String::from_utf8(stats).unwrap();
        assert_eq!(flow, Flow::Continue);
        assert!(stats.starts_with("STAT pid "), "{stats}");
        assert!(stats.contains("STAT threads 2\r\n"), "{stats}");
        assert!(stats.ends_with("END\r\n"), "{stats}");
        assert_eq!(serve(b"quit\r\n"), (Vec::new(), Flow::Close));
    }

    #[test]
    fn http_paths() {
        let (out, flow) = serve(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(flow, Flow::Close);
        assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert!(out.ends_with(b"\r\n\r\nOK\n"));
        let (out, _) = serve(b"GET /nope HTTP/1.0\r\n\r\n");
        assert!(out.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
        let (out, _) = serve(b"GET /metrics HTTP/1.1\r\n\r\n");
        assert!(out.starts_with(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"));
    }

    #[test]
    fn added_commands_and_unknown_ones() {
        assert_eq!(serve(b"echo  some thing \r\n"), (b"OK some thing\r\n".to_vec(), Flow::Continue));
        assert_eq!(serve(b"echo\n"), (b"OK \r\n".to_vec(), Flow::Continue));
        assert_eq!(serve(b"flush_all\r\n"), (b"ERROR\r\n".to_vec(), Flow::Continue));
        assert_eq!(serve(b"set k 0 0 1\r\n"), (b"ERROR\r\n".to_vec(), Flow::Continue));
    }

    #[test]
    fn http_requests_other_than_get_close_unanswered() {
        for line in [&b"POST / HTTP/1.1\r\n"[..], b"PUT /x HTTP/1.0\r\n", b"checkpoint HTTP/1.1\n"] {
            assert_eq!(
                Admin.parse(&mut (), line),
                Err(ParseError::Invalid { error: Error::HttpRequest, recovery: Recovery::Close }),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        let mut out = Vec::new();
        Admin.compose_error(&Error::HttpRequest, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn unknown_and_overlong() {
        assert_eq!(
            Admin.parse(&mut (), b" \r\n"),
            Err(ParseError::Invalid { error: Error::UnknownCommand, recovery: Recovery::Skip(3) })
        );
        assert_eq!(Admin.parse(&mut (), b"stat"), Err(ParseError::Incomplete));
        assert_eq!(Admin.parse(&mut (), b"GET / HTTP/1.1\r\n"), Err(ParseError::Incomplete));
        assert_eq!(
            Admin.parse(&mut (), &vec![b'a'; MAX_REQUEST]),
            Err(ParseError::Invalid { error: Error::TooLong, recovery: Recovery::Close })
        );
    }
}
