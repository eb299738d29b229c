"""petrel-memcache against the real memcached over the binary protocol, byte
for byte: the same packets sent to both on fresh connections; the replies
and what becomes of the connection must be identical, but for what names
each server (the version, stats names and values) and the CAS values
themselves (compared by their order of first appearance, so that a reply
that must repeat a CAS still must).

The cases are generated (binary_cases.py). A known difference, explained in
docs/protocol.md, is listed in KNOWN_DIFFERENCES and must still be there.
One more is a rule: when a request closes the connection (bad magic, bad
lengths), memcached may drop the replies it still had queued from the same
read, where Petrel sends every reply it owes before it closes; so when both
close, memcached's replies must begin Petrel's."""

import socket

import pytest

from binary_cases import PRELUDE, generate
from binary_packets import STAT, VERSION, end, split
from conftest import Server, running_memcached
from differential import check_case_names, known_difference

KNOWN_DIFFERENCES = {
    "stat items": "Petrel has no slab classes to report: its item, slab and connection dumps are empty",
    "stat slabs": "as above",
    "stat conns": "each server lists its own connections, by file descriptor and port",
    "stat detail dump": "memcached sends its empty per-prefix dump as a packet named 'detailed'; Petrel sends none",
    "refused opcode with a body": "memcached skips a refused opcode's extras and key twice, so eats the "
    "start of the next request",
}


class Peer:
    def __init__(self, address):
        self.address = address

    def exchange(self, request, idle=0.5):
        """Sends the prelude, waits for its end, then `request` and a NoOp;
        returns the replies to `request` (packets, then any bytes that are no
        whole packet) and whether the server closed the connection."""
        with socket.create_connection(self.address, timeout=5) as connection:
            connection.sendall(PRELUDE + end())
            settled = b""
            while not split(settled)[0]:
                settled += connection.recv(65536)
            connection.sendall(request + end())
            connection.settimeout(idle)
            received = b""
            while True:
                try:
                    chunk = connection.recv(1 << 20)
                except socket.timeout:
                    return (*split(received), False)
                except ConnectionResetError:
                    return (*split(received), True)
                if not chunk:
                    return (*split(received), True)
                received += chunk
                packets, _ = split(received)
                if packets and packets[-1].ends_exchange():
                    return packets, b"", False


def comparable(packets):
    """Packets as tuples, with CAS values by order of appearance, and the
    replies that name the server reduced to their shape."""
    cas_order = {0: 0}
    out = []
    for packet in packets:
        cas = cas_order.setdefault(packet.cas, len(cas_order))
        value = packet.value
        if packet.opcode == VERSION and packet.status == 0:
            value = b"<version>"
        if packet.opcode == STAT and packet.status == 0 and packet.key:
            if out and out[-1] == "<stats>":
                continue
            out.append("<stats>")
            continue
        out.append((packet.magic, packet.opcode, packet.status, packet.data_type, hex(packet.opaque), cas,
                    packet.extras, packet.key, value))
    return out


@pytest.fixture(scope="module")
def memcached():
    with running_memcached() as address:
        yield Peer(address)


@pytest.fixture(scope="module")
def petrel(tmp_path_factory):
    server = Server(str(tmp_path_factory.mktemp("petrel")))
    yield Peer(server.address)
    server.stop()


CASES = generate()


def test_the_generated_cases_cover_what_they_claim():
    check_case_names(CASES, KNOWN_DIFFERENCES)


@pytest.mark.parametrize("name,request_bytes", CASES, ids=[name for name, _ in CASES])
def test_binary_replies_match_memcached(memcached, petrel, name, request_bytes):
    # A fresh key space per case, over the text protocol: flush both first.
    for peer in (memcached, petrel):
        with socket.create_connection(peer.address, timeout=5) as connection:
            connection.sendall(b"flush_all\r\n")
            assert connection.recv(16) == b"OK\r\n"
    ours, theirs = (peer.exchange(request_bytes) for peer in (petrel, memcached))
    ours, theirs = ((comparable(packets), rest, closed) for packets, rest, closed in (ours, theirs))
    reason = known_difference(name, KNOWN_DIFFERENCES)
    (our_replies, our_rest, we_closed), (their_replies, their_rest, they_closed) = ours, theirs
    if we_closed and they_closed and our_replies[: len(their_replies)] == their_replies:
        # The rule above: memcached dropped replies queued before the close.
        ours = (their_replies, our_rest, we_closed)
    if reason is None:
        assert ours == theirs, f"petrel (replies, rest, closed) != memcached's for {request_bytes[:200]!r}"
    else:
        assert ours != theirs, f"no longer differs ({reason}): remove it from KNOWN_DIFFERENCES and docs"
