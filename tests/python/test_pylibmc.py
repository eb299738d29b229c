"""petrel-memcache driven by pylibmc, a client over the C library libmemcached
(independent of pymemcache and of Petrel), through its public API: every
command it offers, noreply, multi-key operations and expiry; each test runs
over the text protocol and again over the binary protocol (`binary=True`,
where libmemcached sends quiet opcodes for noreply and multi-gets)."""

import time

import pylibmc
import pytest


@pytest.fixture(params=[False, True], ids=["text", "binary"])
def binary(request):
    return request.param


@pytest.fixture
def connect(binary):
    def connect(server, **behaviors):
        host, port = server.address
        return pylibmc.Client([f"{host}:{port}"], binary=binary, behaviors={"cas": True, **behaviors})

    return connect


@pytest.fixture
def client(server, connect):
    client = connect(server)
    yield client
    client.disconnect_all()


def test_get_set_and_the_multi_commands(client):
    assert client.set("a", b"alpha")
    assert client.get("a") == b"alpha"
    assert client.get("missing") is None
    assert client.set_multi({"b": b"beta", "c": b"gamma"}) == []
    assert client.get_multi(["a", "b", "c", "missing"]) == {"a": b"alpha", "b": b"beta", "c": b"gamma"}
    assert client.add_multi({"a": b"not stored", "d": b"delta"}) == ["a"]
    assert client.get_multi(["a", "d"]) == {"a": b"alpha", "d": b"delta"}
    assert client.delete_multi(["a", "b"])
    assert client.get_multi(["a", "b", "c"]) == {"c": b"gamma"}


def test_a_multi_get_of_twenty_thousand_keys_is_answered_whole(client):
    # libmemcached sends one get line for them all: about 300 KB, far past
    # the server's line limit, served as its keys arrive.
    keys = [f"multi-get-key-{i:06}" for i in range(20_000)]
    assert client.set_multi({key: key.encode() for key in keys[::5]}) == []
    found = client.get_multi(keys)
    assert len(found) == len(keys[::5])
    assert all(found[key] == key.encode() for key in keys[::5])
    assert client.get(keys[0]) == keys[0].encode()


def test_a_failed_set_leaves_no_stale_value(client):
    assert client.set("k", b"old")
    with pytest.raises(pylibmc.Error):
        client.set("k", b"x" * (2 << 20))
    assert client.get("k") is None


def test_values_of_every_type_keep_their_flags(client):
    # pylibmc marks each type with its own flags and decodes by them.
    for key, value in [("int", 42), ("long", 2**40), ("text", "naïve"), ("bytes", b"\x00\xff"), ("obj", [1, {"x": 2}])]:
        assert client.set(key, value)
        assert client.get(key) == value, key


def test_add_replace_append_prepend(client, binary):
    assert client.add("k", b"first")
    assert not client.add("k", b"second")
    assert client.replace("k", b"replaced")
    if binary:
        # memcached answers a binary Replace of an absent key "Not found".
        with pytest.raises(pylibmc.NotFound):
            client.replace("absent", b"x")
    else:
        assert not client.replace("absent", b"x")
    assert client.get("absent") is None
    assert client.append("k", b"-tail")
    assert client.prepend("k", b"head-")
    assert client.get("k") == b"head-replaced-tail"
    assert not client.append("absent", b"x")
    assert client.get("absent") is None


def test_gets_and_cas(client):
    assert client.set("k", b"v1")
    value, cas = client.gets("k")
    assert value == b"v1"
    assert client.cas("k", b"v2", cas)
    assert not client.cas("k", b"v3", cas), "a stale CAS is refused"
    assert client.get("k") == b"v2"
    assert client.gets("absent") == (None, None)


def test_incr_decr(client):
    assert client.set("n", 10)
    assert client.incr("n", 5) == 15
    assert client.decr("n", 100) == 0
    assert client.set("max", b"18446744073709551615")
    assert client.incr("max", 1) == 0, "wraps at 2^64"
    client.incr_multi(["n", "max"], delta=2)
    # As memcached, a shorter result is stored over the old value, padded.
    assert client.get_multi(["n", "max"]) == {"n": 2, "max": b"2" + b" " * 19}
    with pytest.raises(pylibmc.NotFound):
        client.incr("absent")
    assert client.set("text", b"not a number")
    with pytest.raises(pylibmc.Error):
        client.incr("text")


def test_delete_touch_and_expiry(client, binary):
    assert client.set("d", b"x")
    assert client.delete("d")
    assert not client.delete("d")
    assert client.set("short", b"lived", time=1)
    touched = []
    if not binary:
        # libmemcached's binary touch waits 5 s for each reply, from memcached
        # as from Petrel: binary Touch is tested with PHP and memjs instead.
        assert client.set("touched", b"x", time=3600)
        assert client.touch("touched", 1)
        assert not client.touch("absent", 10)
        touched.append("touched")
    assert client.set("already", b"gone", time=int(time.time()) - 60), "an absolute time in the past"
    assert client.get("already") is None
    assert client.get("short") == b"lived"
    time.sleep(2.1)
    assert client.get_multi(["short"] + touched) == {}


def test_noreply_writes_land_in_order(server, connect):
    quiet = connect(server, _noreply=True)
    for i in range(200):
        quiet.set(f"quiet-{i}", f"v{i}".encode())
    quiet.delete("quiet-0")
    # A client with replies reads what the quiet one wrote.
    checker = connect(server)
    deadline = time.monotonic() + 10
    while checker.get("quiet-199") != b"v199":
        assert time.monotonic() < deadline, "noreply writes never landed"
        time.sleep(0.05)
    assert checker.get("quiet-0") is None
    assert checker.get_multi([f"quiet-{i}" for i in range(1, 200)]) == {
        f"quiet-{i}": f"v{i}".encode() for i in range(1, 200)
    }


def test_flush_all_and_stats(client):
    assert client.set("k", b"v")
    ((_, raw),) = client.get_stats()
    stats = {str(name): value.decode() if isinstance(value, bytes) else value for name, value in raw.items()}
    assert stats["version"].startswith("1.6.18-petrel-"), "memcached's form, which libmemcached parses"
    for name in ["pid", "uptime", "curr_connections", "cmd_get", "cmd_set", "get_hits", "get_misses", "curr_items"]:
        assert name in stats, name
    assert int(stats["cmd_set"]) >= 1
    assert client.flush_all()
    assert client.get("k") is None
    assert client.set("after", b"kept")
    assert client.get("after") == b"kept"


def test_ketama_distribution_over_three_servers(tmp_path, binary):
    from conftest import Server

    servers = []
    for name in ["one", "two", "three"]:
        directory = tmp_path / name
        directory.mkdir()
        servers.append(Server(str(directory)))
    try:
        spread = pylibmc.Client(
            [f"{s.address[0]}:{s.address[1]}" for s in servers], binary=binary, behaviors={"ketama": True}
        )
        keys = {f"key-{i}": f"value-{i}".encode() for i in range(300)}
        assert spread.set_multi(keys) == []
        assert spread.get_multi(list(keys)) == keys
        # Every node holds a share: the keys were spread, not sent to one.
        for server in servers:
            host, port = server.address
            alone = pylibmc.Client([f"{host}:{port}"], binary=binary)
            held = alone.get_multi(list(keys))
            assert 0 < len(held) < len(keys)
    finally:
        for server in servers:
            server.stop()
