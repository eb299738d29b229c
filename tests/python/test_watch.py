"""`watch` against the real memcached: the same requests, watched on each
server, give the same log lines once the fields that must differ (time,
line number, connection fd, slab class) are set aside."""

import os
import re
import shutil
import socket
import tempfile
import time

from conftest import Server, running_memcached

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


# The fields of an eviction line that depend on when and what was evicted.
EVICTION_VARYING = re.compile(rb"^ts=\d+\.\d+ gid=\d+ | key=\S+| la=\d+| clsid=\d+")


def eviction_lines(address, count):
    """Writes 1 KiB items nobody reads (random bytes, which compression
    cannot shrink), at about 5 MB/s, until `count` eviction lines came;
    returns them without their varying fields."""
    watcher = socket.create_connection(address)
    watcher.sendall(b"watch evictions\r\n")
    watcher.settimeout(10)
    assert watcher.recv(4) == b"OK\r\n"
    watcher.setblocking(False)
    client = socket.create_connection(address)
    received = b""
    for batch in range(400):
        client.sendall(b"".join(b"set k%d-%d 0 0 1024 noreply\r\n%s\r\n" % (batch, i, os.urandom(1024))
                                for i in range(200)))
        time.sleep(0.04)
        try:
            received += watcher.recv(1 << 20)
        except BlockingIOError:
            pass
        if received.count(b"\n") - received.count(b"skipped=") >= count:
            break
    client.close()
    watcher.close()
    # A watcher that falls behind is told how many lines it missed
    # (`skipped=N`, as memcached tells it): a merge on probation evicts a
    # few files' worth of newcomers at once, more than a watcher's queue.
    lines = [line for line in received.splitlines() if not line.startswith(b"skipped=")][:count]
    assert len(lines) == count, f"{len(lines)} eviction lines"
    return [EVICTION_VARYING.sub(b"", line) for line in lines]


def test_evictions_are_logged_as_memcached_logs_them():
    """Items written and never read, evicted: one line each, in memcached's
    format, the same once time, line number, key, last access and slab class
    are set aside."""
    with running_memcached(memory_mb=2) as memcached:
        memcached_lines = eviction_lines(memcached, 20)
    directory = tempfile.mkdtemp(prefix="petrel-pytest-")
    petrel = Server(directory, storage="capacity = 16777216\nitem_cache_size = 0\n")
    try:
        petrel_lines = eviction_lines(petrel.address, 20)
    finally:
        petrel.stop()
        shutil.rmtree(directory, ignore_errors=True)
    assert memcached_lines == [b"type=eviction fetch=no ttl=-1 size=1024"] * 20, memcached_lines
    assert petrel_lines == memcached_lines
