//! The example server works as a memcached: a real process, a real socket.

use petrel_testkit::ServerProcess;

const BINARY: &str = env!("CARGO_BIN_EXE_petrel-memory-memcache");

#[test]
fn the_example_serves_memcache_from_memory() {
    let server = ServerProcess::start(BINARY, "[workers]\nthreads = 2\n");
    let mut client = server.connect();
    client.send(b"set greeting 7 0 5\r\nhello\r\nget greeting\r\nincr n 1\r\nmn\r\n");
    assert_eq!(client.read_line(), "STORED\r\n");
    assert_eq!(client.read_until_line("END\r\n"), "VALUE greeting 7 5\r\nhello\r\nEND\r\n");
    assert_eq!(client.read_line(), "NOT_FOUND\r\n");
    assert_eq!(client.read_line(), "MN\r\n");
    let ready = petrel_testkit::exchange(server.admin_addr(), b"GET /ready HTTP/1.1\r\n\r\n");
    assert!(ready.starts_with("HTTP/1.1 200 OK") && ready.ends_with("READY\n"), "{ready}");
}
