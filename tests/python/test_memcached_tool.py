"""memcached's own operator tool, memcached-tool (in Debian's memcached
package), against petrel-memcache: `dump` lists the keys with `lru_crawler
metadump all`, reads each value and prints `add` commands, which must give
back every live item when loaded into the real memcached; `keys` prints the
metadump lines. The metadump lines themselves are compared with memcached's
for the same items."""

import os
import socket
import subprocess
import time

import pytest

from conftest import running_memcached

TOOL = "/usr/share/memcached/scripts/memcached-tool"

# (key, flags, exptime, value): keys that need encoding in a dump, flags
# and expiry times, values with line ends, empty and large.
ITEMS = [
    (b"plain", 0, 0, b"value"),
    (b"per%cent", 7, 0, b"a%20b"),
    (b"unicode-\xc3\xa9", 1, 3600, b"caf\xc3\xa9"),
    (b"lines", 4294967295, 0, b"one\r\ntwo\r\n"),
    (b"empty", 3, 0, b""),
    (b"large", 9, 7200, bytes(range(256)) * 400),
] + [(b"bulk:%05d" % i, i, 0, b"v%d" % i * 10) for i in range(2000)]


def roundtrip(sock, request, ends=(b"END\r\n",)):
    sock.sendall(request)
    reply = b""
    while not reply.endswith(ends):
        chunk = sock.recv(1 << 20)
        assert chunk, f"closed after {reply[-200:]!r}"
        reply += chunk
    return reply


def store(address, items):
    with socket.create_connection(address) as sock:
        for key, flags, exptime, value in items:
            reply = roundtrip(sock, b"set %s %d %d %d\r\n%s\r\n" % (key, flags, exptime, len(value), value),
                              ends=(b"\r\n",))
            assert reply == b"STORED\r\n", key


def item(sock, key):
    """(flags, value, ttl) of `key`, or None."""
    reply = roundtrip(sock, b"mg %s f v t\r\n" % key, ends=(b"EN\r\n", b"\r\n"))
    if reply.startswith(b"EN"):
        return None
    header, _, rest = reply.partition(b"\r\n")
    fields = {flag[:1]: flag[1:] for flag in header.split()[2:]}
    return int(fields[b"f"]), rest[:-2], int(fields[b"t"])


def memcached_tool(address, *mode):
    if not os.path.exists(TOOL):
        pytest.fail("memcached-tool is missing: scripts/setup installs memcached")
    done = subprocess.run(["perl", TOOL, "%s:%d" % address, *mode], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_dump_by_memcached_tool_restores_every_live_item_into_memcached(server):
    store(server.address, ITEMS + [(b"expired", 0, -1, b"gone"), (b"deleted", 0, 0, b"gone")])
    with socket.create_connection(server.address) as sock:
        assert roundtrip(sock, b"delete deleted\r\n", ends=(b"\r\n",)) == b"DELETED\r\n"
    dump = memcached_tool(server.address, "dump")
    assert dump.count(b"add ") == len(ITEMS)
    with running_memcached() as address, socket.create_connection(address) as restored, \
            socket.create_connection(server.address) as original:
        replies = roundtrip(restored, dump + b"mn\r\n", ends=(b"MN\r\n",))
        assert replies == b"STORED\r\n" * len(ITEMS) + b"MN\r\n"
        for key, flags, exptime, value in ITEMS:
            got = item(restored, key)
            assert got is not None, key
            assert got[:2] == (flags, value) == item(original, key)[:2], key
            if exptime == 0:
                assert got[2] == -1, key
            else:
                assert exptime - 5 <= got[2] <= exptime, (key, got[2])
        for gone in (b"expired", b"deleted"):
            assert item(restored, gone) is None


def test_keys_lists_every_live_key(server):
    store(server.address, ITEMS[:10])
    lines = memcached_tool(server.address, "keys").splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(
        b"key=" + b"".join(b"%%%02X" % byte if not (chr(byte).isalnum() and byte < 128) and byte not in b"-._~"
                           else bytes([byte]) for byte in key)
        for key, *_ in ITEMS[:10])


def metadump(address):
    """{key: {field: value}} from `lru_crawler metadump all`."""
    with socket.create_connection(address) as sock:
        reply = roundtrip(sock, b"lru_crawler metadump all\r\n")
    lines = reply[:-len(b"END\r\n")].split(b"\n")
    assert lines.pop() == b"", "every line ends in a newline"
    parsed = {}
    for line in lines:
        fields = dict(field.split(b"=", 1) for field in line.split(b" "))
        assert list(fields) == [b"key", b"exp", b"la", b"cas", b"fetch", b"cls", b"size"], line
        parsed[fields.pop(b"key")] = fields
    return parsed


def test_metadump_lines_match_memcached_s(server):
    items = ITEMS[:6] + [(b"ctl\x01key", 5, 100, b"x")]
    with running_memcached() as address:
        store(address, items)
        store(server.address, items)
        now = time.time()
        expected, got = metadump(address), metadump(server.address)
    assert sorted(got) == sorted(expected)
    for key, fields in got.items():
        reference = expected[key]
        # Petrel has no slab classes: every item is in class 1.
        assert fields[b"cls"] == b"1"
        assert fields[b"size"] == reference[b"size"], (key, fields, reference)
        if reference[b"exp"] == b"-1":
            assert fields[b"exp"] == b"-1", key
        else:
            assert abs(int(fields[b"exp"]) - int(reference[b"exp"])) <= 2, (key, fields, reference)
        assert abs(int(fields[b"la"]) - now) <= 5, (key, fields)
        assert fields[b"fetch"] == b"no" == reference[b"fetch"], key
    cas_order = sorted(got, key=lambda key: int(got[key][b"cas"]))
    assert cas_order == sorted(expected, key=lambda key: int(expected[key][b"cas"]))
