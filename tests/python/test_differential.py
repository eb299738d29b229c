"""petrel-memcache against the real memcached, byte for byte: the same
requests, malformed ones above all, sent to both on fresh connections; the
replies must be identical (but for the version text)."""

import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from conftest import free_port

# (name, bytes sent). Each case runs on a fresh connection to each server,
# followed by `mn`, whose `MN` marks the end of the replies (unless the
# server closed the connection). No case stores "MN\r\n" in a value.
CASES = [
    ("unknown command", b"bogus\r\n"),
    ("empty line", b"\r\n"),
    ("upper case", b"GET k\r\n"),
    ("bare newline", b"set k 0 0 1\nx\r\nget k\n"),
    ("set with a bad length", b"set k 0 0 abc\r\n"),
    ("set with a negative length", b"set k 0 0 -1\r\n"),
    ("set with bad flags", b"set k abc 0 1\r\nx\r\n"),
    ("set missing arguments", b"set k 0 0\r\n"),
    ("data longer than announced", b"set k 0 0 3\r\nabcde\r\nget k\r\n"),
    ("data shorter than announced", b"set k 0 0 5\r\nabc\r\nget k\r\n"),
    ("key too long", b"get " + b"k" * 251 + b"\r\n"),
    ("key of 250 bytes", b"set " + b"k" * 250 + b" 0 0 1\r\nx\r\nget " + b"k" * 250 + b"\r\n"),
    ("get without a key", b"get\r\n"),
    ("noreply", b"set k 0 0 1 noreply\r\nx\r\nget k\r\n"),
    ("add existing", b"set k 0 0 1\r\nx\r\nadd k 0 0 1\r\ny\r\nget k\r\n"),
    ("replace missing", b"replace nothing 0 0 1\r\nx\r\n"),
    ("append missing", b"append nothing 0 0 1\r\nx\r\nprepend nothing 0 0 1\r\nx\r\nget nothing\r\n"),
    ("incr missing", b"incr nothing 1\r\n"),
    ("incr non-numeric", b"set n 0 0 2\r\nab\r\nincr n 1\r\n"),
    ("incr bad delta", b"set n 0 0 1\r\n1\r\nincr n abc\r\n"),
    ("incr delta too big", b"set n 0 0 1\r\n1\r\nincr n 18446744073709551616\r\n"),
    ("incr wraps", b"set n 0 0 20\r\n18446744073709551615\r\nincr n 2\r\nget n\r\n"),
    ("decr floors", b"set n 0 0 2\r\n10\r\ndecr n 11\r\nget n\r\n"),
    ("incr grows the length", b"set n 0 0 2\r\n99\r\nincr n 1\r\nget n\r\n"),
    ("decr keeps the length", b"set n 0 0 3\r\n100\r\ndecr n 1\r\nget n\r\n"),
    ("incr missing delta", b"incr n\r\n"),
    ("touch missing", b"touch nothing 10\r\n"),
    ("touch without exptime", b"touch k\r\n"),
    ("delete missing", b"delete nothing\r\n"),
    ("delete with a time", b"set k 0 0 1\r\nx\r\ndelete k 0\r\n"),
    ("delete with a bad time", b"delete k 5\r\n"),
    ("cas missing item", b"cas nothing 0 0 1 1\r\nx\r\n"),
    ("cas without unique", b"cas k 0 0 1\r\nx\r\n"),
    ("negative exptime", b"set k 0 -1 1\r\nx\r\nget k\r\n"),
    ("gat missing", b"gat 10 nothing\r\n"),
    ("flush_all bad delay", b"flush_all abc\r\n"),
    ("flush_all noreply", b"flush_all noreply\r\nget k\r\n"),
    ("verbosity", b"verbosity 1\r\nverbosity\r\n"),
    ("value too large", b"set big 0 0 2000000\r\n" + b"v" * 2000000 + b"\r\nget big\r\n"),
    ("meta get without key", b"mg\r\n"),
    ("meta get missing", b"mg nothing v\r\n"),
    ("meta get quiet miss", b"mg nothing v q\r\n"),
    ("meta set and get", b"ms k 2 T0 F5\r\nhi\r\nmg k v f t\r\n"),
    ("meta set bad length", b"ms k abc\r\n"),
    ("meta set missing length", b"ms k\r\n"),
    ("meta delete missing", b"md nothing\r\n"),
    ("meta arithmetic on missing", b"ma nothing\r\n"),
    ("meta arithmetic autovivify", b"ma counter N0 J13 v\r\nma counter v\r\n"),
    ("meta bad flag", b"mg k !\r\n"),
    ("meta noop", b"mn\r\n"),
    ("meta debug missing", b"me nothing\r\n"),
    ("set with an extra word", b"set k 0 0 1 bogus\r\nx\r\nget k\r\n"),
    ("set with too many words", b"set k 0 0 1 noreply extra\r\nx\r\n"),
    ("incr with too many words", b"incr k 1 noreply extra\r\n"),
    ("touch bad exptime", b"touch k abc\r\n"),
    ("touch with too many words", b"touch k 1 noreply x\r\n"),
    ("gat without keys", b"gat 10\r\n"),
    ("gat bad exptime", b"gat abc k\r\n"),
    ("gats without arguments", b"gats\r\n"),
    ("delete with too many words", b"delete k 0 noreply x\r\n"),
    ("delete with a stray word", b"delete k noreply x\r\n"),
    ("delete without a key", b"delete\r\n"),
    ("flush_all with too many words", b"flush_all 1 noreply x\r\n"),
    ("flush_all negative delay", b"flush_all -1\r\n"),
    ("meta without keys", b"md\r\nma\r\nms\r\nme\r\n"),
    ("meta set without length", b"ms k\r\n"),
    ("meta noop with a word", b"mn x\r\n"),
    ("verbosity with too many words", b"verbosity 1 noreply x\r\n"),
    ("verbosity bad level", b"verbosity x\r\n"),
    ("version with a word", b"version x\r\n"),
    ("quit with a word", b"quit x\r\n"),
    ("stats with too many words", b"stats x y z w\r\n"),
    ("get of many keys", b"get " + b"a " * 30 + b"\r\n"),
    ("incr negative delta", b"incr k -1\r\n"),
    ("cas bad unique", b"cas k 0 0 1 abc\r\nx\r\n"),
    ("cas with too many words", b"cas k 0 0 1 1 noreply x\r\nx\r\n"),
    ("incr of a padded counter", b"set n 0 0 3\r\n1  \r\nincr n 1\r\nget n\r\n"),
    ("incr with a leading space", b"set n 0 0 2\r\n 1\r\nincr n 1\r\n"),
    ("incr of digits then letters", b"set n 0 0 5\r\n12abc\r\nincr n 1\r\n"),
    ("incr of a long value", b"set n 0 0 24\r\n000000000000000000000001\r\nincr n 1\r\n"),
    ("meta decrement shrinks in place", b"set n 0 0 3\r\n100\r\nma n MD D1 v\r\nget n\r\nmg n v\r\n"),
]



def comparable(reply):
    """The reply with the version text, which names each server, left out."""
    return re.sub(rb"VERSION [^\r]*", b"VERSION ...", reply)


class Peer:
    """A server to talk to: address, and what it runs."""

    def __init__(self, address):
        self.address = address

    def exchange(self, request):
        # One MN for each mn the case sends, and one for the closing mn.
        expected_noops = request.count(b"mn\r\n") + 1
        with socket.create_connection(self.address, timeout=5) as connection:
            connection.sendall(request + b"mn\r\n")
            received = b""
            while received.count(b"MN\r\n") < expected_noops:
                try:
                    chunk = connection.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                received += chunk
            return received


@pytest.fixture(scope="module")
def memcached():
    binary = shutil.which("memcached")
    if binary is None:
        pytest.fail("memcached is not installed: scripts/setup installs it")
    port = free_port()
    command = [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-t", "1", "-m", "64"]
    if os.geteuid() == 0:
        command += ["-u", "nobody"]  # memcached refuses to run as root
    process = subprocess.Popen(command)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "memcached did not start"
            time.sleep(0.05)
    yield Peer(("127.0.0.1", port))
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def petrel(tmp_path_factory):
    from conftest import Server

    server = Server(str(tmp_path_factory.mktemp("petrel")))
    yield Peer(server.address)
    server.stop()


@pytest.mark.parametrize("name,request_bytes", CASES, ids=[name for name, _ in CASES])
def test_replies_match_memcached(memcached, petrel, name, request_bytes):
    # A fresh key space per case: flush both first.
    for peer in (memcached, petrel):
        assert peer.exchange(b"flush_all\r\n") == b"OK\r\nMN\r\n"
    assert comparable(petrel.exchange(request_bytes)) == comparable(memcached.exchange(request_bytes))
