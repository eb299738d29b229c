"""PHP's memcached extension (Debian's php-memcached, over libmemcached) with
the binary protocol on: tests/php/binary_client.php runs its whole API, and
must pass against the real memcached as against petrel-memcache, so that
what it expects is memcached's behaviour."""

import os
import shutil
import subprocess

import pytest

from conftest import running_memcached

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "php", "binary_client.php")


def run_php(address):
    php = shutil.which("php")
    if php is None:
        pytest.fail("php is not installed: scripts/setup installs php-cli and php-memcached")
    result = subprocess.run([php, SCRIPT, address[0], str(address[1])], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert result.stdout.endswith("done\n")
    return result.stdout


def test_the_script_holds_for_memcached():
    with running_memcached() as address:
        run_php(address)


def test_php_memcached_over_the_binary_protocol(server):
    checks = run_php(server.address)
    assert checks.count("ok: ") >= 40
