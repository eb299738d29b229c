"""petrel-memcache against the real memcached, byte for byte: the same
requests sent to both on fresh connections; the replies and what becomes of
the connection (closed or not) must be identical, but for what names each
server (the version, stats values, CAS numbers).

The cases are generated (differential_cases.py), plus a few written by hand
for sequences the generator does not make. A difference that is known and
explained in docs/protocol.md is listed in KNOWN_DIFFERENCES, and must still
be there: a fixed difference fails until its entry is removed."""

import re
import socket

import pytest

from conftest import running_memcached
from differential import check_case_names, known_difference
from differential_cases import PRELUDE, generate

HAND_WRITTEN = [
    ("bare newline", b"set k 0 0 1\nx\r\nget k\n"),
    ("data longer than announced", b"set k 0 0 3\r\nabcde\r\nget k\r\n"),
    ("data shorter than announced", b"set k 0 0 5\r\nabc\r\nget k\r\n"),
    ("incr wraps", b"set n 0 0 20\r\n18446744073709551615\r\nincr n 2\r\nget n\r\n"),
    ("decr keeps the length", b"set n 0 0 3\r\n100\r\ndecr n 1\r\nget n\r\n"),
    ("incr of a padded counter", b"set n 0 0 3\r\n1  \r\nincr n 1\r\nget n\r\n"),
    ("incr of digits then letters", b"set n 0 0 5\r\n12abc\r\nincr n 1\r\n"),
    ("value too large", b"set big 0 0 2000000\r\n" + b"v" * 2000000 + b"\r\nget big\r\n"),
    ("largest value that fits", b"set k 0 0 1048516\r\n" + b"v" * 1048516 + b"\r\nmg k s\r\n"),
    ("smallest value too large", b"set k 0 0 1048517\r\n" + b"v" * 1048517 + b"\r\nget k\r\n"),
    ("failed set leaves no stale value", b"set k 0 0 1049600\r\n" + b"v" * 1049600 + b"\r\nget k\r\n"),
    ("failed add keeps the old value", b"add k 0 0 1049600\r\n" + b"v" * 1049600 + b"\r\nget k\r\n"),
    ("failed ms leaves no stale value", b"ms k 1049600\r\n" + b"v" * 1049600 + b"\r\nmg k v\r\n"),
    ("meta set and get", b"ms k 2 T0 F5\r\nhi\r\nmg k v f t\r\n"),
    ("meta base64 key", b"ms YWI= 2 b\r\nhi\r\nmg YWI= b k v\r\nmg YWI= v k b\r\nget ab\r\n"),
    ("meta arithmetic autovivify", b"ma counter N0 J13 v\r\nma counter v\r\n"),
    ("meta decrement shrinks in place", b"set n 0 0 3\r\n100\r\nma n MD D1 v\r\nget n\r\nmg n v\r\n"),
    ("stats reset", b"stats reset\r\nstats detail dump\r\n"),
    ("stats detail on and off", b"stats detail on\r\nstats detail off\r\nstats detail\r\nstats detail x\r\n"),
    ("stats sizes", b"stats sizes\r\n"),
    ("delayed flush replaced by one now", b"flush_all 2\r\nflush_all\r\nset k 0 0 1\r\nx\r\n"),
    ("slabs automove levels", b"slabs automove 1\r\nslabs automove 2\r\nslabs automove 0\r\nslabs automove 0 noreply\r\n"),
    ("slabs automove refused", b"slabs automove 3\r\nslabs automove invalid\r\nslabs automove ratio\r\n"
     b"slabs automove ratio x\r\nslabs automove ratio 0.8\r\nslabs foo\r\nslabs\r\n"),
    ("slabs reassign", b"slabs reassign 20 20\r\nslabs reassign 20 21\r\nslabs reassign 1 99\r\n"
     b"slabs reassign x 2\r\nslabs reassign 1\r\nslabs reassign 1 2 3\r\n"),
]

# Case name prefix -> the reason, as docs/protocol.md gives it.
KNOWN_DIFFERENCES = {
    "get line of 70000 with a long key": "a line longer than max_line is served in pieces: a bad key "
    "late in it cannot take back VALUEs already sent",
    "key of 251 bytes": "memcached drops the replies it queued from the same read before a get "
    "with an over-long key (a client waits for them for ever); Petrel answers every command",
    "key of 300 bytes": "as above",
    "lru_crawler dump of empty classes": "memcached drops the commands pipelined after a dump in the same "
    "read (a client waits for their replies for ever); Petrel answers them after END",
}

# Replies that name the server rather than describe the data, and one that
# memcached gives at random: a counter that `decr` shortens is padded with
# spaces to its old length, unless a reply still being sent holds the item,
# which a pipelined `get` before the `decr` may or may not.
NORMALISE = [
    (re.compile(rb"VERSION [^\r]*"), b"VERSION ..."),
    (re.compile(rb"(STAT [^\r]*\r\n)+"), b"STAT ...\r\n"),
    (re.compile(rb"(VALUE \S+ \d+ \d+) \d+\r\n"), rb"\1 <cas>\r\n"),
    (re.compile(rb"(\r\n|^)((?:VA \d+|HD|EN|NF|NS|EX)(?: [^\r]*)?) c\d+"), rb"\1\2 c<cas>"),
    (re.compile(rb" la=\d+ cas=\d+ fetch=(yes|no) cls=\d+ size=\d+"), rb" la=<> cas=<> fetch=\1 cls=<> size=<>"),
    (re.compile(rb"(VALUE \S+ \d+) \d+((?: <cas>)?\r\n)(\d+) *\r\n"), rb"\1 <len>\2\3\r\n"),
]


def comparable(reply):
    for pattern, replacement in NORMALISE:
        reply = pattern.sub(replacement, reply)
    return reply


def expected_noops(request):
    """How many `MN` replies the request asks for, the final `mn` included."""
    lines = request.replace(b"\r\n", b"\n").split(b"\n")
    return sum(1 for line in lines if line == b"mn" or line.startswith(b"mn ")) + 1


class Peer:
    """A server to talk to."""

    def __init__(self, address):
        self.address = address

    def exchange(self, request, idle=0.5, prelude=b""):
        """Sends `prelude` and waits for its replies, then sends `request`
        and a final `mn`; returns the reply to `request` and whether the
        server closed the connection. Reading stops at the last `MN`, at
        the close, or after `idle` seconds of silence (a server swallowing a
        value announced larger than what was sent).

        The prelude goes alone: memcached drops the replies it has queued
        from one read when a later command in the same read closes the
        connection or is a `get` with a bad key (see docs/protocol.md)."""
        noops = expected_noops(request)
        with socket.create_connection(self.address, timeout=5) as connection:
            if prelude:
                connection.sendall(prelude + b"mn\r\n")
                settled = b""
                while not settled.endswith(b"MN\r\n"):
                    settled += connection.recv(65536)
            connection.sendall(request + b"mn\r\n")
            connection.settimeout(idle)
            received = b""
            while received.count(b"MN\r\n") < noops:
                try:
                    chunk = connection.recv(1 << 20)
                except socket.timeout:
                    return received, False
                except ConnectionResetError:
                    return received, True
                if not chunk:
                    return received, True
                received += chunk
            return received, False


@pytest.fixture(scope="module")
def memcached():
    with running_memcached() as address:
        yield Peer(address)


@pytest.fixture(scope="module")
def petrel(tmp_path_factory):
    from conftest import Server

    # Reads recorded in items, as memcached records them, so that `me`'s
    # fetch and `mg`'s h and l can be compared too.
    server = Server(str(tmp_path_factory.mktemp("petrel")), storage="track_access = true\n")
    yield Peer(server.address)
    server.stop()


CASES = HAND_WRITTEN + generate()


def test_the_generated_cases_cover_what_they_claim():
    check_case_names(CASES, KNOWN_DIFFERENCES)


@pytest.mark.parametrize("name,request_bytes", CASES, ids=[name for name, _ in CASES])
def test_replies_match_memcached(memcached, petrel, name, request_bytes):
    # A fresh key space per case: flush both first.
    for peer in (memcached, petrel):
        assert peer.exchange(b"flush_all\r\n") == (b"OK\r\nMN\r\n", False)
    ours, theirs = (peer.exchange(request_bytes, prelude=PRELUDE) for peer in (petrel, memcached))
    ours, theirs = (comparable(ours[0]), ours[1]), (comparable(theirs[0]), theirs[1])
    reason = known_difference(name, KNOWN_DIFFERENCES)
    if reason is None:
        assert ours == theirs, f"petrel (reply, closed) != memcached's for {request_bytes[:300]!r}"
    else:
        assert ours != theirs, f"no longer differs ({reason}): remove it from KNOWN_DIFFERENCES and docs"
