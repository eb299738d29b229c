"""Fixtures: a real petrel-memcache process on free ports, in a fresh directory."""

import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

TARGET_DIR = os.environ.get(
    "CARGO_TARGET_DIR",
    os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "petrel", "target"),
)
BINARY = os.path.join(TARGET_DIR, "release", "petrel-memcache")

CONFIG = """
[listener]
address = "127.0.0.1:{port}"
[admin]
address = "127.0.0.1:0"
[workers]
threads = 2
[logging]
output = "server.log"
[storage]
block_cache_size = 8388608
write_buffer_size = 4194304
"""


class Server:
    """A petrel-memcache process; stop() or the fixture ends it."""

    def __init__(self, directory, port=0, storage="", sections=""):
        """Starts in `directory` (its data survives a restart there), on
        `port`, or on a port the kernel picks; `storage` adds keys to the
        `[storage]` section, `sections` adds sections of their own."""
        self.directory = directory
        with open(os.path.join(directory, "server.toml"), "w") as config:
            config.write(CONFIG.format(port=port) + storage + "\n" + sections)
        self.process = subprocess.Popen(
            [BINARY, "server.toml"], cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 30
        line = ""
        while " ready: " not in line:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.process.stdout], [], [], remaining)[0]:
                self.process.kill()
                raise RuntimeError("petrel-memcache did not start: " + self.process.stderr.read())
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("petrel-memcache exited: " + self.process.stderr.read())
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        host, port = fields["data"].rsplit(":", 1)
        self.address = (host, int(port))

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            assert self.process.wait(timeout=30) == 0

    def kill(self):
        """SIGKILL: no clean shutdown."""
        self.process.kill()
        self.process.wait(timeout=30)


def free_port():
    """A port free right now (for a server that must restart on the same one)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_memcached(memory_mb=64, options=()):
    """The real memcached (Debian's), one worker thread, `memory_mb` of
    items, on a free port, with `options` added: yields its address."""
    binary = shutil.which("memcached")
    if binary is None:
        pytest.fail("memcached is not installed: scripts/setup installs it")
    port = free_port()
    command = [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-t", "1", "-m", str(memory_mb), *options]
    if os.geteuid() == 0:
        command += ["-u", "nobody"]  # memcached refuses to run as root
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "memcached did not start"
                time.sleep(0.05)
        yield ("127.0.0.1", port)
    finally:
        process.terminate()
        process.wait(timeout=10)


def run_client_script(command, address, missing):
    """Runs a client test script (`command` + host and port) to its end:
    it must exit 0 having printed `done`. Fails with `missing` when the
    script's interpreter is not installed."""
    interpreter = shutil.which(command[0])
    if interpreter is None:
        pytest.fail(missing)
    arguments = [interpreter, *command[1:], address[0], str(address[1])]
    result = subprocess.run(arguments, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert result.stdout.endswith("done\n")
    return result.stdout


@pytest.fixture
def server():
    directory = tempfile.mkdtemp(prefix="petrel-pytest-")
    server = Server(directory)
    yield server
    try:
        server.stop()
    finally:
        if server.process.poll() is None:
            server.process.kill()
        shutil.rmtree(directory, ignore_errors=True)
