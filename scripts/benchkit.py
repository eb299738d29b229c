"""What the benchmark scripts share: where the release binaries are, the CPUs
servers and load are pinned to, free ports, a server started and stopped,
its counters and its CPU time."""

import os
import signal
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("PETREL_CACHE", os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "petrel"))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(CACHE, "target"))
RELEASE = os.path.join(TARGET, "release")
# Servers on one CPU, the load generator on the other.
SERVER_CPU, CLIENT_CPU = "0", "1"


def build(*packages):
    """Release binaries of the packages (all of the workspace's if none)."""
    which = " ".join(f"-p {package}" for package in packages) or "--workspace"
    subprocess.run(["bash", "-c", f"source {ROOT}/scripts/common.sh && cargo build --release --bins --locked --quiet "
                    + which], check=True, env=dict(os.environ, CARGO_TARGET_DIR=TARGET))


def free_ports(count):
    """`count` distinct ports free now (a bind race with other processes
    remains possible)."""
    probes = []
    try:
        for _ in range(count):
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            probes.append(probe)
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def cpu_seconds(pid):
    """User and system time of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_port(port, process, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.args}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start")


def stats(port):
    """A server's `stats`, the numbers only."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(b"stats\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
    pairs = (line.split() for line in data.decode().splitlines())
    return {parts[1]: int(parts[2]) for parts in pairs if len(parts) == 3 and parts[0] == "STAT" and parts[2].isdigit()}


def toml_value(value):
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


class Server:
    """One server, one worker, pinned to SERVER_CPU: memcached with
    `memory_mb` and `memcached_args`, or petrel-memcache (with `storage`
    settings beside its data under `directory`) or petrel-ping. `tls`:
    (certificate, key) files. `admin` is None for memcached. `binary`: a
    petrel executable other than this tree's release build (an A/B)."""

    def __init__(self, kind, directory, memory_mb, storage=None, memcached_args=(), tls=None, stderr=None,
                 binary=None):
        self.kind = kind
        self.port, admin = free_ports(2)
        self.admin = None
        if kind == "memcached":
            command = ["memcached", "-t", "1", "-m", str(memory_mb), "-p", str(self.port), "-U", "0",
                       "-l", "127.0.0.1", "-u", "root", *memcached_args]
            if tls:
                command += ["-Z", "-o", f"ssl_chain_cert={tls[0]},ssl_key={tls[1]}"]
        else:
            self.admin = admin
            config = os.path.join(directory, "server.toml")
            with open(config, "w") as out:
                out.write(f'[listener]\naddress = "127.0.0.1:{self.port}"\n[admin]\naddress = "127.0.0.1:{admin}"\n'
                          '[workers]\nthreads = 1\n[logging]\nlevel = "warn"\n')
                if kind == "petrel-memcache":
                    settings = {"path": os.path.join(directory, "data"), **(storage or {})}
                    out.write("[storage]\n" + "".join(f"{name} = {toml_value(value)}\n"
                                                      for name, value in settings.items()))
                if tls:
                    out.write(f'[tls]\ncertificate = "{tls[0]}"\nprivate_key = "{tls[1]}"\n')
            command = [binary or os.path.join(RELEASE, kind), config]
        self.process = subprocess.Popen(["taskset", "-c", SERVER_CPU] + command, stdout=subprocess.DEVNULL,
                                        stderr=stderr or subprocess.DEVNULL)
        try:
            wait_for_port(self.port, self.process)
        except RuntimeError:
            self.stop()
            raise

    def stats(self):
        """The data port's `stats`."""
        return stats(self.port)

    def admin_stats(self):
        """The admin port's `stats` (petrel: the store's counters too)."""
        return stats(self.admin) if self.admin else {}

    def cpu_seconds(self):
        return cpu_seconds(self.process.pid)

    def stop(self):
        """SIGTERM, and a kill if it has not exited in 30 s."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
