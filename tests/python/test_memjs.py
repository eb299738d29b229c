"""memjs, Node's memcache client (binary protocol only, from the npm
registry, pinned in tests/node/package-lock.json): tests/node/memjs_client.js
runs its whole API, and must pass against the real memcached as against
petrel-memcache, so that what it expects is memcached's behaviour."""

import os

from conftest import run_client_script, running_memcached

NODE_TESTS = os.path.join(os.path.dirname(__file__), "..", "node")
SCRIPT = os.path.join(NODE_TESTS, "memjs_client.js")
MISSING = "node is not installed: scripts/setup installs it, and memjs with npm"


def run_memjs(address):
    assert os.path.isdir(os.path.join(NODE_TESTS, "node_modules", "memjs")), "scripts/setup installs memjs"
    return run_client_script(["node", SCRIPT], address, MISSING)


def test_the_script_holds_for_memcached():
    with running_memcached() as address:
        run_memjs(address)


def test_memjs_over_the_binary_protocol(server):
    checks = run_memjs(server.address)
    assert checks.count("ok: ") >= 17
