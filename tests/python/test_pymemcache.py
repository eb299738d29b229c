"""petrel-memcache driven by pymemcache, an independent client, through its public API."""

import time

import pytest
from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient
from pymemcache.exceptions import MemcacheClientError

from conftest import Server


@pytest.fixture
def client(server):
    client = Client(server.address, connect_timeout=5, timeout=5)
    yield client
    client.close()


def test_set_get_and_many(client):
    assert client.set("a", b"alpha", noreply=False)
    assert client.get("a") == b"alpha"
    assert client.get("missing") is None
    assert client.set_many({"b": b"beta", "c": b"gamma"}, noreply=False) == []
    assert client.get_many(["a", "b", "c", "missing"]) == {"a": b"alpha", "b": b"beta", "c": b"gamma"}
    assert client.delete_many(["a", "b"], noreply=False)
    assert client.get_many(["a", "b", "c"]) == {"c": b"gamma"}


class FlagsSerde:
    """Stores (bytes, flags) pairs as they are, to see the flags come back."""

    def serialize(self, key, value):
        return value

    def deserialize(self, key, value, flags):
        return value, flags


def test_flags_survive_the_round_trip(server):
    client = Client(server.address, serde=FlagsSerde())
    client.set("flagged", (b"v", 12345), noreply=False)
    assert client.get("flagged") == (b"v", 12345)
    client.set("max", (b"w", 4294967295), noreply=False)
    assert client.get("max") == (b"w", 4294967295)
    client.close()


def test_add_replace(client):
    assert client.replace("k", b"1", noreply=False) is False
    assert client.add("k", b"1", noreply=False) is True
    assert client.add("k", b"2", noreply=False) is False
    assert client.replace("k", b"3", noreply=False) is True
    assert client.get("k") == b"3"


def test_append_prepend(client):
    assert client.append("k", b"x", noreply=False) is False
    client.set("k", b"mid", noreply=False)
    assert client.append("k", b"-end", noreply=False) is True
    assert client.prepend("k", b"start-", noreply=False) is True
    assert client.get("k") == b"start-mid-end"


def test_gets_and_cas(client):
    assert client.cas("k", b"x", 1, noreply=False) is None
    client.set("k", b"first", noreply=False)
    value, cas = client.gets("k")
    assert value == b"first"
    assert client.cas("k", b"second", int(cas) + 1000, noreply=False) is False
    assert client.cas("k", b"second", cas, noreply=False) is True
    assert client.cas("k", b"third", cas, noreply=False) is False
    assert client.get("k") == b"second"
    results = client.gets_many(["k", "missing"])
    assert list(results) == ["k"] and results["k"][0] == b"second"


def test_incr_decr(client):
    assert client.incr("n", 1, noreply=False) is None
    client.set("n", b"10", noreply=False)
    assert client.incr("n", 5, noreply=False) == 15
    assert client.decr("n", 100, noreply=False) == 0
    client.set("n", b"18446744073709551615", noreply=False)
    assert client.incr("n", 1, noreply=False) == 0
    client.set("word", b"abc", noreply=False)
    with pytest.raises(MemcacheClientError):
        client.incr("word", 1, noreply=False)


def test_touch_and_expiry(client):
    assert client.touch("missing", 10, noreply=False) is False
    client.set("k", b"v", expire=100, noreply=False)
    assert client.touch("k", 1, noreply=False) is True
    client.set("gone", b"v", expire=-1, noreply=False)
    assert client.get("gone") is None
    client.set("past", b"v", expire=int(time.time()) - 10, noreply=False)
    assert client.get("past") is None
    client.set("short", b"v", expire=1, noreply=False)
    assert client.get("short") == b"v"
    time.sleep(2.1)
    assert client.get("short") is None
    assert client.get("k") is None


def test_delete(client):
    assert client.delete("k", noreply=False) is False
    client.set("k", b"v", noreply=False)
    assert client.delete("k", noreply=False) is True
    assert client.get("k") is None


def test_flush_all(client):
    client.set_many({"a": b"1", "b": b"2"}, noreply=False)
    assert client.flush_all(noreply=False) is True
    assert client.get_many(["a", "b"]) == {}
    client.set("c", b"3", noreply=False)
    assert client.get("c") == b"3"


def test_noreply_writes_are_applied(client):
    client.set("k", b"v", noreply=True)
    client.append("k", b"w", noreply=True)
    client.incr("missing", 1, noreply=True)
    assert client.get("k") == b"vw"


def test_stats_and_version(client):
    client.set("k", b"v", noreply=False)
    client.get("k")
    stats = client.stats()
    for name in [b"pid", b"uptime", b"curr_connections", b"cmd_get", b"cmd_set", b"get_hits", b"curr_items"]:
        assert name in stats, name
    assert stats[b"get_hits"] >= 1
    assert client.version().startswith(b"1.6.18-petrel-"), "memcached's form, which libmemcached parses"


def test_large_value_is_refused_and_connection_goes_on(client):
    with pytest.raises(Exception):
        client.set("big", b"x" * (1024 * 1024 + 1), noreply=False)
    assert client.set("small", b"ok", noreply=False)
    assert client.get("small") == b"ok"


def test_data_survives_a_restart(server):
    client = Client(server.address)
    client.set_many({f"key-{i}": f"value-{i}".encode() for i in range(1000)}, noreply=False)
    client.close()
    server.stop()
    again = Server(server.directory)
    try:
        client = Client(again.address)
        values = client.get_many([f"key-{i}" for i in range(1000)])
        assert values == {f"key-{i}": f"value-{i}".encode() for i in range(1000)}
        client.close()
    finally:
        again.stop()


def test_hash_client_across_two_servers(server, tmp_path):
    other = Server(str(tmp_path))
    try:
        client = HashClient([server.address, other.address], use_pooling=False)
        items = {f"spread-{i}": str(i).encode() for i in range(200)}
        client.set_many(items, noreply=False)
        assert client.get_many(list(items)) == items
        # Both servers hold some of the keys.
        counts = [Client(address).stats()[b"curr_items"] for address in (server.address, other.address)]
        assert all(count > 0 for count in counts), counts
        client.close()
    finally:
        other.stop()
