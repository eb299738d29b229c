//! TLS on the data and admin ports: rustls clients, client certificates,
//! bad and stalled handshakes, certificates reloaded while serving, and
//! the kill -9 cycles over TLS. (Python's ssl module and `openssl
//! s_client` are in tests/python/test_tls.py.)

use std::io::Read;
use std::sync::Arc;

use petrel_testkit::exchange;
use petrel_testkit::tls::Certificates;

use super::durability::{Connect, kill_9_cycles};
use super::*;

/// Certificates in a directory that lives as long as the test.
fn certificates() -> (tempfile::TempDir, Certificates) {
    let dir = tempfile::tempdir().unwrap();
    let certificates = Certificates::generate(dir.path());
    (dir, certificates)
}

fn tls_server(certificates: &Certificates, extra: &str) -> ServerProcess {
    ServerProcess::start(BINARY, &format!("{CONFIG}{}{extra}", certificates.server_section(false)))
}

/// Whether a connection is refused: the handshake or the first exchange
/// fails, or the server closes without answering.
fn refused(mut client: Client) -> bool {
    if client.handshake().is_err() || client.write_all(b"version\r\n").is_err() {
        return true;
    }
    let mut reply = Vec::new();
    match client.read_to_end(&mut reply) {
        Err(_) => true,
        Ok(_) => !String::from_utf8_lossy(&reply).starts_with("VERSION"),
    }
}

fn tls_stat(server: &ServerProcess, name: &str) -> i64 {
    stat(&admin_stats(server), name).unwrap_or_else(|| panic!("no {name} in stats"))
}

#[test]
fn a_tls_client_sets_and_gets_pipelined_and_large_values() {
    let (_dir, certificates) = certificates();
    let server = tls_server(&certificates, "");
    let mut client = Client::connect_tls(server.data_addr(), certificates.client_config(None));
    set(&mut client, "small", 7, "hello");
    let large = "v".repeat(900_000);
    set(&mut client, "large", 0, &large);
    // A pipelined batch larger than one TLS record each way.
    let mut batch = Vec::new();
    for i in 0..500 {
        write!(batch, "set key-{i} {i} 0 1000\r\n{}\r\n", "x".repeat(1000)).unwrap();
    }
    for _ in 0..3 {
        batch.extend_from_slice(b"get large small\r\n");
    }
    client.send(&batch);
    assert_eq!(client.read_exact(500 * 8), b"STORED\r\n".repeat(500));
    let expected = format!("VALUE large 0 900000\r\n{large}\r\nVALUE small 7 5\r\nhello\r\nEND\r\n");
    for _ in 0..3 {
        assert_eq!(client.read_exact(expected.len()), expected.as_bytes());
    }
    let stats = admin_stats(&server);
    assert_eq!(stat(&stats, "ssl_handshake_errors"), Some(0));
    let settings = exchange_tls(&server, &certificates, b"stats settings\r\n");
    assert!(settings.contains("STAT ssl_enabled yes\r\n"), "{settings}");
    assert!(settings.contains("STAT ssl_min_version tlsv1.2\r\n"), "{settings}");
}

fn exchange_tls(server: &ServerProcess, certificates: &Certificates, request: &[u8]) -> String {
    let mut client = Client::connect_tls(server.data_addr(), certificates.client_config(None));
    client.send(request);
    client.read_until_line("END\r\n")
}

#[test]
fn plain_text_and_garbage_instead_of_a_client_hello_are_closed_and_the_server_goes_on() {
    let (_dir, certificates) = certificates();
    let server = tls_server(&certificates, "");
    assert!(refused(server.connect()), "a plain-text client got an answer");
    let mut garbage = server.connect();
    let noise: Vec<u8> = (0..65536u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let _ = garbage.write_all(&noise);
    let mut rest = Vec::new();
    let _ = garbage.read_to_end(&mut rest);
    // A TLS record header announcing a huge handshake message, then nothing.
    let mut oversized = server.connect();
    oversized.send(&[0x16, 0x03, 0x01, 0xff, 0xff]);
    oversized.send(&[0x01; 4096]);
    assert!(tls_stat(&server, "ssl_handshake_errors") >= 2);
    let mut client = Client::connect_tls(server.data_addr(), certificates.client_config(None));
    set(&mut client, "after", 0, "still serving");
}

#[test]
fn with_a_client_ca_only_clients_with_a_certificate_it_signed_get_in() {
    let (_dir, certificates) = certificates();
    let config = format!("{CONFIG}{}", certificates.server_section(true));
    let server = ServerProcess::start(BINARY, &config);
    let address = server.data_addr();
    assert!(refused(Client::connect_tls(address, certificates.client_config(None))), "no certificate");
    assert!(
        refused(Client::connect_tls(address, certificates.client_config(Some("stranger")))),
        "untrusted CA"
    );
    let mut client = Client::connect_tls(address, certificates.client_config(Some("client")));
    set(&mut client, "key", 1, "authenticated");
    assert!(tls_stat(&server, "ssl_handshake_errors") >= 2);
}

#[test]
fn a_handshake_that_stalls_is_closed_by_the_idle_timeout_and_holds_little_memory() {
    let (_dir, certificates) = certificates();
    let server = tls_server(&certificates, "[listener]\nidle_timeout = 1\n");
    let before = server.rss_bytes();
    // Half a ClientHello each: a record header promising more.
    let mut stalled: Vec<Client> = (0..300)
        .map(|_| {
            let mut client = server.connect();
            client.send(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01]);
            client
        })
        .collect();
    wait_for_stat(&server, "total_connections", 300);
    let grown = server.rss_bytes().saturating_sub(before);
    assert!(grown < 32 << 20, "300 stalled handshakes took {grown} bytes");
    let started = Instant::now();
    for client in &mut stalled {
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).expect("closed by the server, not timed out");
    }
    assert!(started.elapsed() < Duration::from_secs(10), "closed after {:?}", started.elapsed());
    assert!(tls_stat(&server, "idle_kicks") >= 300);
}

/// The certificate a new connection is served, as PEM-free DER.
fn served_certificate(server: &ServerProcess, certificates: &Certificates) -> Vec<u8> {
    let mut client = Client::connect_tls(server.data_addr(), certificates.client_config(None));
    client.handshake().expect("handshake");
    client.peer_certificate().expect("the server's certificate")
}

#[test]
fn certificates_reload_on_refresh_certs_and_sighup_and_a_bad_one_keeps_the_old() {
    let (_dir, certificates) = certificates();
    let server = tls_server(&certificates, "");
    let first = served_certificate(&server, &certificates);
    let mut open = Client::connect_tls(server.data_addr(), certificates.client_config(None));
    set(&mut open, "before", 0, "reload");

    // New files (same CA, new key): `refresh_certs` on the admin port.
    let renewed = renewal(&certificates, "renewed");
    copy_server_files(&renewed, &certificates);
    assert_eq!(exchange(server.admin_addr(), b"refresh_certs\r\nquit\r\n"), "OK\r\n");
    let second = served_certificate(&server, &certificates);
    assert_ne!(second, first);
    set(&mut open, "during", 0, "the open connection keeps going");

    // A broken key: refused with the reason, the last good one stays.
    std::fs::write(certificates.path("server.key"), "not a key\n").unwrap();
    let reply = exchange(server.admin_addr(), b"refresh_certs\r\nquit\r\n");
    assert!(reply.starts_with("SERVER_ERROR ") && reply.contains("server.key"), "{reply}");
    assert_eq!(served_certificate(&server, &certificates), second);

    // SIGHUP reloads too.
    let third_files = renewal(&certificates, "third");
    copy_server_files(&third_files, &certificates);
    // SAFETY: kill(2) on the test's own child process.
    unsafe { libc::kill(server.pid() as i32, libc::SIGHUP) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while served_certificate(&server, &certificates) == second {
        assert!(Instant::now() < deadline, "SIGHUP did not reload the certificates");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn copy_server_files(from: &Certificates, to: &Certificates) {
    for file in ["server.pem", "server.key"] {
        std::fs::copy(from.path(file), to.path(file)).unwrap();
    }
}

/// Another set of certificates from the same CA, made in `name` under the
/// first set's directory.
fn renewal(certificates: &Certificates, name: &str) -> Certificates {
    let dir = certificates.dir.join(name);
    std::fs::create_dir(&dir).unwrap();
    let renewed = Certificates::generate(&dir);
    for file in ["ca.pem", "ca.key"] {
        std::fs::copy(certificates.path(file), renewed.path(file)).unwrap();
    }
    renewed.sign_server();
    renewed
}

#[test]
fn the_admin_port_can_have_tls_too() {
    let (_dir, certificates) = certificates();
    let server = tls_server(&certificates, "admin = true\n");
    let mut admin = Client::connect_tls(server.admin_addr(), certificates.client_config(None));
    admin.send(b"stats\r\n");
    assert!(admin.read_until_line("END\r\n").contains("STAT curr_connections"));
    assert!(refused(server.connect_admin()), "plain text reached the TLS admin port");
}

#[test]
fn acknowledged_writes_over_tls_survive_kill_9_at_random_moments() {
    let (_dir, certificates) = certificates();
    let config = format!("{CONFIG}{}", certificates.server_section(false));
    let client_config = certificates.client_config(None);
    let connect: Connect = Arc::new(move |address| Client::connect_tls(address, client_config.clone()));
    kill_9_cycles(&config, connect);
}
