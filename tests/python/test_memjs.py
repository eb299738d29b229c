"""memjs, Node's memcache client (binary protocol only, from the npm
registry, pinned in tests/node/package-lock.json): tests/node/memjs_client.js
runs its whole API, and must pass against the real memcached as against
petrel-memcache, so that what it expects is memcached's behaviour."""

import os
import shutil
import subprocess

import pytest

from conftest import running_memcached

NODE_TESTS = os.path.join(os.path.dirname(__file__), "..", "node")


def run_memjs(address):
    node = shutil.which("node")
    if node is None or not os.path.isdir(os.path.join(NODE_TESTS, "node_modules", "memjs")):
        pytest.fail("node or memjs is missing: scripts/setup installs memjs with npm")
    script = os.path.join(NODE_TESTS, "memjs_client.js")
    result = subprocess.run([node, script, address[0], str(address[1])], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert result.stdout.endswith("done\n")
    return result.stdout


def test_the_script_holds_for_memcached():
    with running_memcached() as address:
        run_memjs(address)


def test_memjs_over_the_binary_protocol(server):
    checks = run_memjs(server.address)
    assert checks.count("ok: ") >= 17
