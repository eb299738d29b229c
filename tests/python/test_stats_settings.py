"""`stats settings` against memcached's: every name memcached 1.6 prints is
either printed by petrel-memcache, with the value memcached gives when
started with the same limits, or listed in docs/operations.md among the
names that describe what Petrel does not have."""

import os
import re
import socket

from conftest import running_memcached

OPERATIONS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "operations.md")


def stat_lines(address, group):
    """The `STAT name value` lines of `stats <group>`, as (name, value)."""
    with socket.create_connection(address, timeout=5) as connection:
        connection.sendall(b"stats " + group + b"\r\n")
        reply = b""
        while not reply.endswith(b"END\r\n"):
            reply += connection.recv(65536)
    return [tuple(line.split(" ", 2)[1:]) for line in reply.decode().splitlines()[:-1]]


def settings(address):
    return dict(stat_lines(address, b"settings"))


def not_listed():
    """The names docs/operations.md says are not listed, and why."""
    with open(OPERATIONS) as guide:
        text = guide.read()
    paragraph = text.split("These names of memcached's describe what Petrel does not have", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"`([a-z_]+)`", paragraph)) - {"buffers", "tls"}


def test_settings_are_memcacheds_names_with_memcacheds_values(server):
    petrel = settings(server.address)
    # The same limits as petrel-memcache's config in conftest (its defaults
    # but for two threads): a capacity of 1 GiB, 10,000 connections, 256
    # requests per turn, 1 MiB items.
    options = ("-c", "10000", "-R", "256", "-I", "1m", "-o", "idle_timeout=0")
    with running_memcached(memory_mb=1024, options=options) as address:
        memcached = settings(address)
    memcached["num_threads"] = "2"  # conftest's memcached runs one thread, petrel two
    for name, value in petrel.items():
        assert name in memcached, f"petrel lists {name}, which memcached does not"
        if name == "tcpport":
            assert value == str(server.address[1])
            continue
        assert value == memcached[name], f"{name}: petrel {value}, memcached {memcached[name]}"
    undocumented = set(memcached) - set(petrel) - not_listed()
    assert not undocumented, f"neither listed nor documented as not applying: {sorted(undocumented)}"
    assert not (set(petrel) & not_listed()), "documented as not applying, yet listed"


def conns_fields(address):
    """The fields `stats conns` gives a client connection and a listener."""
    entries = {}
    for name, value in stat_lines(address, b"conns"):
        number, field = name.split(":", 1)
        entries.setdefault(number, {})[field] = value
    listener = next(fields for fields in entries.values() if fields["state"] == "conn_listening")
    client = next(fields for fields in entries.values() if "listen_addr" in fields)
    return sorted(listener), sorted(client), client


def test_stats_conns_has_memcacheds_fields(server):
    petrel = conns_fields(server.address)
    with running_memcached() as address:
        memcached = conns_fields(address)
    assert petrel[:2] == memcached[:2]
    assert petrel[2]["listen_addr"] == f"tcp:127.0.0.1:{server.address[1]}"
    assert petrel[2]["addr"].startswith("tcp:127.0.0.1:")
