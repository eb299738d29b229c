"""PHP's memcached extension (Debian's php-memcached, over libmemcached) with
the binary protocol on: tests/php/binary_client.php runs its whole API, and
must pass against the real memcached as against petrel-memcache, so that
what it expects is memcached's behaviour."""

import os

from conftest import run_client_script, running_memcached

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "php", "binary_client.php")
MISSING = "php is not installed: scripts/setup installs php-cli and php-memcached"


def test_the_script_holds_for_memcached():
    with running_memcached() as address:
        run_client_script(["php", SCRIPT], address, MISSING)


def test_php_memcached_over_the_binary_protocol(server):
    checks = run_client_script(["php", SCRIPT], server.address, MISSING)
    assert checks.count("ok: ") >= 40
