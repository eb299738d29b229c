"""Three petrel-memcache nodes behind twemproxy (nutcracker), the real binary."""

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
from pymemcache.client.base import Client

from conftest import Server, free_port

NUTCRACKER = shutil.which("nutcracker") or "/usr/sbin/nutcracker"


def md5_hash(key):
    """twemproxy's `hash: md5`: the first four bytes of the MD5, little-endian.

    (Its `fnv1a_64` computes in 32 bits with truncated constants and clusters
    short, similar keys on one node: 280 of 300 `user:N` keys on one of three.)
    """
    return int.from_bytes(hashlib.md5(key).digest()[:4], "little")


def ketama_continuum(names):
    """twemproxy's ketama points for equally weighted servers (nc_ketama.c)."""
    points = []
    per_server = int(1 / len(names) * 160 / 4 * len(names) + 0.0000000001) * 4
    for index, name in enumerate(names):
        for pointer in range(per_server // 4):
            digest = hashlib.md5(f"{name}-{pointer}".encode()).digest()
            for alignment in range(4):
                value = int.from_bytes(digest[alignment * 4 : alignment * 4 + 4], "little")
                points.append((value, index))
    points.sort()
    return points


def ketama_node(points, key):
    """The first point at or after the key's hash, wrapping around."""
    target = md5_hash(key.encode())
    for value, index in points:
        if value >= target:
            return index
    return points[0][1]


def wait_for_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@pytest.fixture
def cluster():
    directories = [tempfile.mkdtemp(prefix="petrel-node-") for _ in range(3)]
    ports = [free_port() for _ in range(3)]
    nodes = [Server(directory, port) for directory, port in zip(directories, ports)]
    proxy_port, stats_port = free_port(), free_port()
    config_dir = tempfile.mkdtemp(prefix="petrel-twemproxy-")
    config = os.path.join(config_dir, "twemproxy.yml")
    with open(config, "w") as out:
        out.write(
            "petrel:\n"
            f"  listen: 127.0.0.1:{proxy_port}\n"
            "  hash: md5\n  distribution: ketama\n  timeout: 2000\n"
            "  auto_eject_hosts: false\n  server_retry_timeout: 500\n  server_failure_limit: 1\n"
            "  servers:\n" + "".join(f"   - 127.0.0.1:{port}:1 node{i + 1}\n" for i, port in enumerate(ports))
        )
    proxy = subprocess.Popen([NUTCRACKER, "-c", config, "-s", str(stats_port), "-o", os.path.join(config_dir, "nc.log")])
    wait_for_port(proxy_port)
    yield {"nodes": nodes, "ports": ports, "proxy": ("127.0.0.1", proxy_port), "names": ["node1", "node2", "node3"]}
    proxy.kill()
    proxy.wait()
    for node in nodes:
        if node.process.poll() is None:
            node.stop()
    for directory in directories + [config_dir]:
        shutil.rmtree(directory, ignore_errors=True)


def test_keys_land_on_the_nodes_ketama_says(cluster):
    proxy = Client(cluster["proxy"], timeout=5)
    keys = [f"user:{i}" for i in range(300)]
    for key in keys:
        assert proxy.set(key, key.encode(), noreply=False)
    points = ketama_continuum(cluster["names"])
    direct = [Client(("127.0.0.1", port), timeout=5) for port in cluster["ports"]]
    placed = [0, 0, 0]
    for key in keys:
        expected = ketama_node(points, key)
        holders = [i for i, client in enumerate(direct) if client.get(key) == key.encode()]
        assert holders == [expected], f"{key}: on {holders}, ketama says {expected}"
        placed[expected] += 1
    assert all(count > 30 for count in placed), placed


def test_a_multi_key_get_across_nodes_works_through_the_proxy(cluster):
    proxy = Client(cluster["proxy"], timeout=5)
    items = {f"multi:{i}": str(i).encode() for i in range(50)}
    assert proxy.set_many(items, noreply=False) == []
    assert proxy.get_many(list(items) + ["multi:missing"]) == items


def test_a_restarted_node_serves_its_keys_again(cluster):
    proxy = Client(cluster["proxy"], timeout=5)
    points = ketama_continuum(cluster["names"])
    keys = [f"warm:{i}" for i in range(200)]
    for key in keys:
        assert proxy.set(key, key.encode(), noreply=False)
    on_node2 = [key for key in keys if ketama_node(points, key) == 1]
    assert on_node2
    node2 = cluster["nodes"][1]
    node2.kill()
    restarted = Server(node2.directory, cluster["ports"][1])
    cluster["nodes"][1] = restarted
    # The proxy reconnects after server_retry_timeout; then no cold cache.
    deadline = time.monotonic() + 30
    while True:
        try:
            values = Client(cluster["proxy"], timeout=5).get_many(on_node2)
            if len(values) == len(on_node2):
                break
        except Exception:
            pass
        assert time.monotonic() < deadline, "the restarted node's keys never came back"
        time.sleep(0.2)
    assert values == {key: key.encode() for key in on_node2}
