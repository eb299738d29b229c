"""`watch` against the real memcached: the same requests, watched on each
server, give the same log lines once the fields that must differ (time,
line number, connection fd, slab class) are set aside."""

import re
import socket
import time

from conftest import running_memcached

# memcached logs an item_get for the fetch inside every store, which
# petrel's stores do not make: mutations and fetchers are compared apart,
# fetchers only for requests that store nothing.
STORES = (b"set a 5 0 3\r\nabc\r\nadd a 0 0 1\r\nx\r\nreplace zz 0 0 1\r\nx\r\nappend a 0 0 2\r\nde\r\n"
          b"prepend zz 0 0 1\r\nx\r\nset n,x 0 100 1\r\n1\r\nset big 0 0 5000\r\n" + b"b" * 5000 + b"\r\n"
          b"cas a 0 0 1 1\r\nx\r\nms q 2 T0\r\nhi\r\n")
FETCHES = b"get a b\r\ngets n,x\r\nmg q v\r\nmg missing v\r\nget big\r\n"
# Slab classes: petrel has none and logs class 1 for every item.
VARYING = re.compile(rb"^ts=\d+\.\d+ gid=\d+ | cfd=\d+| clsid=\d+| rport=\d+")


def log_lines(address, kinds, requests, expected):
    watcher = socket.create_connection(address)
    watcher.sendall(b"watch " + kinds + b"\r\n")
    watcher.settimeout(5)
    assert watcher.recv(4) == b"OK\r\n"
    client = socket.create_connection(address)
    client.sendall(requests)
    time.sleep(0.3)
    # Read the replies, so that the close is a clean one (unread data would
    # make it a reset, which memcached logs as an error).
    client.settimeout(1)
    client.recv(1 << 20)
    client.close()
    received = b""
    deadline = time.monotonic() + 5
    while received.count(b"\n") < expected and time.monotonic() < deadline:
        received += watcher.recv(65536)
    watcher.close()
    return [VARYING.sub(b"", line) for line in received.splitlines()]


def test_mutations_fetchers_and_connections_are_logged_as_memcached_logs_them(server):
    with running_memcached() as memcached:
        memcached_stores = log_lines(memcached, b"mutations", STORES, 9)
        petrel_stores = log_lines(server.address, b"mutations", STORES, 9)
        memcached_fetches = log_lines(memcached, b"fetchers", FETCHES, 6)
        petrel_fetches = log_lines(server.address, b"fetchers", FETCHES, 6)
        memcached_connections = log_lines(memcached, b"connevents", b"version\r\n", 2)
        petrel_connections = log_lines(server.address, b"connevents", b"version\r\n", 2)
    assert len(memcached_stores) == 9, memcached_stores
    assert petrel_stores == memcached_stores
    assert len(memcached_fetches) == 6, memcached_fetches
    assert petrel_fetches == memcached_fetches
    assert memcached_connections == [b"type=conn_new rip=127.0.0.1 transport=tcp",
                                     b"type=conn_close rip=127.0.0.1 transport=tcp reason=normal"]
    assert petrel_connections == memcached_connections


def test_watch_answers_as_memcached_does(server):
    with running_memcached() as memcached:
        for request in [b"watch bogus\r\n", b"watch fetchers deletions\r\n"]:
            replies = []
            for address in [memcached, server.address]:
                with socket.create_connection(address) as connection:
                    connection.sendall(request)
                    connection.settimeout(5)
                    replies.append(connection.recv(100))
            assert replies[0] == replies[1] == b"ERROR\r\n", (request, replies)
