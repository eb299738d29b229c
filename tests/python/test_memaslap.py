"""memaslap (libmemcached-tools, installed as `memcaslap`) against
petrel-memcache: its keys begin with control bytes, which memcached accepts,
so every set it sends must be stored, not refused."""

import shutil
import socket
import subprocess


def stats(address):
    with socket.create_connection(address, timeout=5) as connection:
        connection.sendall(b"stats\r\n")
        received = b""
        while not received.endswith(b"END\r\n"):
            received += connection.recv(65536)
    return {
        parts[1]: parts[2]
        for parts in (line.split(" ") for line in received.decode().splitlines())
        if len(parts) == 3 and parts[0] == "STAT"
    }


def test_memaslap_sets_are_stored_and_gets_hit(server, tmp_path):
    binary = shutil.which("memcaslap") or shutil.which("memaslap")
    assert binary, "memaslap is not installed: scripts/setup installs libmemcached-tools"
    config = tmp_path / "memaslap.cnf"
    config.write_text("key\n16 16 1\nvalue\n100 100 1\ncmd\n0 0.5\n1 0.5\n")
    before = stats(server.address)
    host, port = server.address
    result = subprocess.run(
        [binary, "-s", f"{host}:{port}", "-T", "1", "-c", "4", "-t", "2s", "-F", str(config)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    after = stats(server.address)
    sets = int(after["cmd_set"]) - int(before["cmd_set"])
    assert sets > 1000, result.stdout
    assert int(after["request_errors"]) == int(before["request_errors"]), "memaslap's requests were refused"
    assert int(after["get_hits"]) > int(before["get_hits"]), "memaslap reads back what it set"
