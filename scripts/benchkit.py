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


def petracache_config(directory, port, metrics_port, memory_mb, storage):
    """PetraCache's configuration for the same budget as petrel's: its
    memtables as petrel's, the rest of the budget its block cache (it has
    no cache of its own), LZ4 as petrel's default. It turns RocksDB's
    write-ahead log off, which is not a setting."""
    memtable = storage.get("write_buffer_size", 32 << 20)
    return (f'[server]\nlisten_addr = "127.0.0.1:{port}"\nworker_threads = 1\nmax_connections = 4096\n'
            f'[storage]\ndb_path = "{os.path.join(directory, "data")}"\n'
            f'block_cache_size = {(memory_mb << 20) - 2 * memtable}\nwrite_buffer_size = {memtable}\n'
            f'max_write_buffer_number = 2\nenable_compression = true\nrocksdb_log_level = "warn"\n'
            f'[metrics]\nenabled = true\nlisten_addr = "127.0.0.1:{metrics_port}"\n')


def petracache_stats(port):
    """PetraCache's counters, from its Prometheus page, under memcached's
    names: it answers no `stats`."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    values = {}
    body = data.decode(errors="replace").split("\r\n\r\n", 1)[-1]
    for line in body.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith("petracache_"):
            values[parts[0]] = float(parts[1])
    return {"cmd_get": int(values.get("petracache_cmd_get_total", 0)),
            "cmd_set": int(values.get("petracache_cmd_set_total", 0)),
            "request_errors": int(values.get("petracache_protocol_errors_total", 0)
                                  + values.get("petracache_storage_errors_total", 0))}


def disk_bytes_written(pid):
    """Bytes a process sent toward the disk so far, less those of files it
    deleted before they were written back (/proc/PID/io)."""
    with open(f"/proc/{pid}/io") as io:
        fields = dict(line.split(": ") for line in io.read().splitlines())
    return int(fields["write_bytes"]) - int(fields["cancelled_write_bytes"])


# Threads that do a store's background work: RocksDB's own, and petrel's
# eviction and merging threads, which call into RocksDB.
BACKGROUND_THREADS = ("rocksdb:", "merging", "eviction")


def move_background_threads(pid, cpu):
    """Pins the background threads of process `pid` to `cpu`, in the normal
    scheduling class; returns how many there were. RocksDB starts its threads with the database, so all
    are there once the server answers."""
    moved = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as comm:
            name = comm.read().strip()
        if name.startswith(BACKGROUND_THREADS):
            os.sched_setaffinity(int(tid), {int(cpu)})
            # petrel puts them in the idle class, to yield to the worker on
            # a shared core; on a core of their own they compete as any
            # thread, or the load generator there would starve them.
            os.sched_setscheduler(int(tid), os.SCHED_OTHER, os.sched_param(0))
            moved += 1
    return moved


class Server:
    """One server, one worker, pinned to SERVER_CPU: memcached with
    `memory_mb` and `memcached_args`, or petrel-memcache (with `storage`
    settings beside its data under `directory`) or petrel-ping, or
    PetraCache (`binary` its executable; `storage` as petrel's). `tls`:
    (certificate, key) files. `admin` is None for memcached. `binary`: a
    petrel executable other than this tree's release build (an A/B).
    `background_cpu`: where the store's background threads run, if not
    with the worker."""

    def __init__(self, kind, directory, memory_mb, storage=None, memcached_args=(), tls=None, stderr=None,
                 binary=None, background_cpu=None):
        self.kind = kind
        self.port, admin = free_ports(2)
        self.admin = None
        self.metrics = None
        if kind == "petracache":
            self.metrics = admin
            config = os.path.join(directory, "petracache.toml")
            with open(config, "w") as out:
                out.write(petracache_config(directory, self.port, admin, memory_mb, storage or {}))
            command = [binary, config]
        elif kind == "memcached":
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
            if background_cpu is not None and not move_background_threads(self.process.pid, background_cpu):
                raise RuntimeError(f"{kind} has no background threads to move")
        except RuntimeError:
            self.stop()
            raise

    def stats(self):
        """The data port's `stats` (PetraCache: its metrics page's)."""
        return petracache_stats(self.metrics) if self.metrics else stats(self.port)

    def admin_stats(self):
        """The admin port's `stats` (petrel: the store's counters too)."""
        return stats(self.admin) if self.admin else {}

    def cpu_seconds(self):
        return cpu_seconds(self.process.pid)

    def disk_bytes_written(self):
        return disk_bytes_written(self.process.pid)

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
