//! Test helpers: run a real Petrel server process and talk to it over real
//! sockets.
//!
//! [`ServerProcess::start`] writes a config file into a fresh temporary
//! directory (with port 0 for both ports unless the test says otherwise),
//! starts the binary, and waits for its `ready:` line, which carries the
//! ports the kernel chose; so tests never collide on ports and never sleep
//! to wait for readiness. Dropping the process kills it and removes the
//! directory: every test stops what it starts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub mod tls;

/// How long a server gets to start or to stop.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A server process started for a test.
pub struct ServerProcess {
    child: Option<Child>,
    data_addr: SocketAddr,
    admin_addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts `binary` with `config` (TOML) and waits until it serves.
    ///
    /// Unless `config` says otherwise, both ports are 0 (chosen by the
    /// kernel) and logging goes to `server.log` in the process's directory.
    pub fn start(binary: &str, config: &str) -> Self {
        Self::start_in(binary, config, tempfile::tempdir().expect("temporary directory"))
    }

    /// As [`start`](Self::start), in a directory the test prepared (for
    /// example one holding a previous run's data).
    pub fn start_in(binary: &str, config: &str, dir: tempfile::TempDir) -> Self {
        let config_path = dir.path().join("server.toml");
        std::fs::write(&config_path, with_test_defaults(config, dir.path())).expect("write config");
        let mut child = Command::new(binary)
            .arg(&config_path)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(dir.path().join("stderr.log")).expect("stderr log")))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));

        let stdout = child.stdout.take().expect("piped stdout");
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains(" ready: ") {
                    let _ = ready_tx.send(line);
                }
            }
        });
        let mut process = Self {
            child: Some(child),
            data_addr: "0.0.0.0:0".parse().unwrap(),
            admin_addr: "0.0.0.0:0".parse().unwrap(),
            dir,
        };
        let line = match ready_rx.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(_) => panic!("{binary} did not become ready; its stderr:\n{}", process.stderr_text()),
        };
        process.data_addr = field(&line, "data=");
        process.admin_addr = field(&line, "admin=");
        process
    }

    /// The data port.
    pub fn data_addr(&self) -> SocketAddr {
        self.data_addr
    }

    /// The admin port.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The server's directory (config, logs, data).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// What the server wrote to stderr and to its log so far.
    pub fn stderr_text(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("server.log"))
    }

    /// A new client connection to the data port.
    pub fn connect(&self) -> Client {
        Client::connect(self.data_addr)
    }

    /// A new client connection to the admin port.
    pub fn connect_admin(&self) -> Client {
        Client::connect(self.admin_addr)
    }

    /// Sends `signal` (such as `libc::SIGTERM`) and waits for the process to
    /// exit; returns its status and how long it took.
    pub fn stop_with(&mut self, signal: i32) -> (ExitStatus, Duration) {
        let mut child = self.child.take().expect("running");
        let started = Instant::now();
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe { libc::kill(child.id() as i32, signal) };
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return (status, started.elapsed());
            }
            if started.elapsed() > PATIENCE {
                let _ = child.kill();
                panic!("server did not exit within {PATIENCE:?} of signal {signal}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Resident memory of the process, in bytes (from /proc).
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("proc status");
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    }

    /// File descriptors the process holds open (from /proc).
    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map(|dir| dir.count()).unwrap_or(0)
    }

    /// Bytes of the files directly in `dir` under the process's directory
    /// (its data directory, say).
    pub fn disk_use(&self, dir: &str) -> u64 {
        std::fs::read_dir(self.dir().join(dir))
            .expect("the directory exists")
            .filter_map(|entry| entry.ok()?.metadata().ok())
            .filter(|metadata| metadata.is_file())
            .map(|metadata| metadata.len())
            .sum()
    }

    /// Takes the temporary directory, stopping nothing: for a test that
    /// restarts a server on the same data. The process must have exited.
    pub fn into_dir(mut self) -> tempfile::TempDir {
        assert!(self.child.is_none(), "stop the server before taking its directory");
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temporary directory"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Adds `address = "127.0.0.1:0"` to `[listener]` and `[admin]` and a log
/// file to `[logging]`, unless the config sets them.
fn with_test_defaults(config: &str, dir: &Path) -> String {
    let mut text = config.to_string();
    for (section, key, value) in [
        ("listener", "address", "\"127.0.0.1:0\"".to_string()),
        ("admin", "address", "\"127.0.0.1:0\"".to_string()),
        ("logging", "output", format!("{:?}", dir.join("server.log").display().to_string())),
    ] {
        text = set_default(&text, section, key, &value);
    }
    text
}

fn set_default(config: &str, section: &str, key: &str, value: &str) -> String {
    let header = format!("[{section}]");
    match config.find(&header) {
        Some(start) => {
            let body_start = start + header.len();
            let body_end = config[body_start..].find("\n[").map_or(config.len(), |i| body_start + i);
            let has_key = config[body_start..body_end].lines().any(|line| {
                line.trim_start().starts_with(&format!("{key} "))
                    || line.trim_start().starts_with(&format!("{key}="))
            });
            if has_key {
                config.to_string()
            } else {
                format!("{}\n{key} = {value}{}", &config[..body_start], &config[body_start..])
            }
        }
        None => format!("{config}\n{header}\n{key} = {value}\n"),
    }
}

fn field(line: &str, prefix: &str) -> SocketAddr {
    let start = line.find(prefix).unwrap_or_else(|| panic!("no {prefix} in {line:?}")) + prefix.len();
    let value = line[start..].split_whitespace().next().unwrap();
    value.parse().unwrap_or_else(|e| panic!("bad address {value:?}: {e}"))
}

/// A blocking client connection with helpers to read exact replies.
pub struct Client {
    transport: Transport,
    pending: Vec<u8>,
}

/// Plain TCP, or TLS over it.
enum Transport {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Client {
    /// Connects, with a read timeout so a missing reply fails the test
    /// rather than hanging it.
    pub fn connect(address: SocketAddr) -> Self {
        Self { transport: Transport::Plain(connect_socket(address)), pending: Vec::new() }
    }

    fn read_transport(&mut self, into: &mut [u8]) -> std::io::Result<usize> {
        match &mut self.transport {
            Transport::Plain(socket) => socket.read(into),
            Transport::Tls(tls) => tls.read(into),
        }
    }

    /// The TCP socket (under TLS, if any).
    pub fn stream(&mut self) -> &mut TcpStream {
        match &mut self.transport {
            Transport::Plain(socket) => socket,
            Transport::Tls(tls) => &mut tls.sock,
        }
    }

    /// Sends bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.write_all(bytes).expect("send");
    }

    /// Reads exactly `count` bytes.
    pub fn read_exact(&mut self, count: usize) -> Vec<u8> {
        while self.pending.len() < count {
            self.fill();
        }
        self.pending.drain(..count).collect()
    }

    /// Reads one line, including its `\r\n`.
    pub fn read_line(&mut self) -> String {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                return String::from_utf8_lossy(&line).into_owned();
            }
            self.fill();
        }
    }

    /// Reads lines up to and including one equal to `last` (such as `END\r\n`).
    pub fn read_until_line(&mut self, last: &str) -> String {
        let mut text = String::new();
        loop {
            let line = self.read_line();
            text.push_str(&line);
            if line == last {
                return text;
            }
        }
    }

    /// Sends `request` and reads the reply of `reply_len` bytes.
    pub fn call(&mut self, request: &[u8], reply_len: usize) -> Vec<u8> {
        self.send(request);
        self.read_exact(reply_len)
    }

    /// Reads until the server closes the connection; returns what came.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let mut rest = std::mem::take(&mut self.pending);
        let _ = self.read_to_end(&mut rest);
        rest
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 65536];
        match self.read_transport(&mut chunk) {
            Ok(0) => panic!("server closed the connection; had {:?}", String::from_utf8_lossy(&self.pending)),
            Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("read failed: {e}; had {:?}", String::from_utf8_lossy(&self.pending)),
        }
    }
}

/// Bytes in and out of the connection (through TLS, if any); reads give
/// what the helpers have buffered first.
impl Read for Client {
    fn read(&mut self, into: &mut [u8]) -> std::io::Result<usize> {
        if !self.pending.is_empty() {
            let taken = into.len().min(self.pending.len());
            into[..taken].copy_from_slice(&self.pending[..taken]);
            self.pending.drain(..taken);
            return Ok(taken);
        }
        self.read_transport(into)
    }
}

impl Write for Client {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match &mut self.transport {
            Transport::Plain(socket) => socket.write(bytes),
            Transport::Tls(tls) => tls.write(bytes),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.transport {
            Transport::Plain(socket) => socket.flush(),
            Transport::Tls(tls) => tls.flush(),
        }
    }
}

fn connect_socket(address: SocketAddr) -> TcpStream {
    let socket = TcpStream::connect(address).unwrap_or_else(|e| panic!("connect {address}: {e}"));
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    socket.set_nodelay(true).unwrap();
    socket
}

/// Sends `request` to `address` on a fresh connection, reads until the
/// server closes it, and returns the text (for admin `stats` and HTTP).
pub fn exchange(address: SocketAddr, request: &[u8]) -> String {
    let mut client = Client::connect(address);
    client.send(request);
    String::from_utf8_lossy(&client.read_to_close()).into_owned()
}

/// The value of `STAT name value` in a `stats` reply.
pub fn stat(stats: &str, name: &str) -> Option<i64> {
    stats.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        (parts.next() == Some("STAT") && parts.next() == Some(name)).then(|| parts.next()?.parse().ok())?
    })
}

/// Waits until the admin `stats` of `server` show `name` at `expected`, for
/// counters that move just after the reply a client saw (such as
/// `bytes_written`) or when a peer leaves (`curr_connections`).
pub fn wait_for_stat(server: &ServerProcess, name: &str, expected: i64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let stats = admin_stats(server);
        if stat(&stats, name) == Some(expected) {
            return;
        }
        assert!(Instant::now() < deadline, "{name} never reached {expected}:\n{stats}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads the admin `stats` of a server.
pub fn admin_stats(server: &ServerProcess) -> String {
    let mut admin = server.connect_admin();
    admin.send(b"stats\r\n");
    admin.read_until_line("END\r\n")
}

/// `len` printable bytes that depend on `seed` and that compression cannot
/// shrink the way it shrinks a repeated byte: a value that costs a store
/// what an application's values would.
pub fn incompressible_value(seed: u64, len: usize) -> Vec<u8> {
    let mut state = (seed + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b'!' + (state % 90) as u8
        })
        .collect()
}
