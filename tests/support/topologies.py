"""Private Redis Cluster, Redis Sentinel and PgBouncer set-ups, started from the Debian programs on free ports.

Nothing here touches the machine's own Redis (6379) or PostgreSQL servers beyond connecting to PostgreSQL
through PgBouncer; every process started is stopped when its context ends.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

STARTUP_TIMEOUT = 20.0
# Redis Cluster nodes also listen on their port + 10000 (the cluster bus).
_CLUSTER_BUS_OFFSET = 10000


def wait_for(ready: Callable[[], bool], what: str, timeout: float = STARTUP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not come up")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, with_bus: bool = False) -> int:
    """A free port below the ephemeral range; with `with_bus`, its cluster bus port is free too."""
    while True:
        port = random.randint(20000, 30000)
        if _bindable(port) and (not with_bus or _bindable(port + _CLUSTER_BUS_OFFSET)):
            return port


def redis_cli(port: int, *args: str) -> str:
    result = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args], capture_output=True, text=True, timeout=10
    )
    return result.stdout.strip()


def _pong(port: int) -> bool:
    return redis_cli(port, "PING") == "PONG"


def require(*programs: str) -> None:
    missing = [program for program in programs if shutil.which(program) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")


@dataclass
class Processes:
    """Processes started by a set-up, by name; all are killed when the set-up ends."""

    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *command: str) -> None:
        self.running[name] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill(self, name: str) -> None:
        """As a crash would: no goodbye to clients or replicas."""
        process = self.running.pop(name)
        process.kill()
        process.wait(timeout=10)

    def stop_all(self) -> None:
        # SIGTERM, which `runuser` passes on to the program it runs.
        for process in self.running.values():
            process.terminate()
        for process in self.running.values():
            process.wait(timeout=10)
        self.running.clear()


def _redis_options(port: int, directory: Path) -> list[str]:
    return ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory)]


@dataclass(frozen=True)
class Cluster:
    ports: list[int]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"


@contextmanager
def redis_cluster(nodes: int = 3) -> Iterator[Cluster]:
    """A Redis Cluster of `nodes` masters and no replicas (`redis-cli --cluster create`)."""
    require("redis-server", "redis-cli")
    processes = Processes()
    with tempfile.TemporaryDirectory() as directory, ExitStack() as stack:
        stack.callback(processes.stop_all)
        ports = []
        for _ in range(nodes):
            port = free_port(with_bus=True)
            node_options = ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"]
            processes.start(f"node-{port}", "redis-server", *_redis_options(port, Path(directory)), *node_options)
            ports.append(port)
        for port in ports:
            wait_for(lambda port=port: _pong(port), f"cluster node {port}")  # type: ignore[misc]
        addresses = [f"127.0.0.1:{port}" for port in ports]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        for port in ports:
            wait_for(lambda port=port: "cluster_state:ok" in redis_cli(port, "CLUSTER", "INFO"), "the cluster")  # type: ignore[misc]
        yield Cluster(ports)


@dataclass
class SentinelSet:
    master_port: int
    replica_port: int
    sentinel_ports: list[int]
    processes: Processes
    name: str = "mymaster"

    @property
    def sentinels(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def master_address(self) -> str:
        return redis_cli(self.sentinel_ports[0], "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.name).replace("\n", ":")

    def kill_master(self) -> None:
        self.processes.kill("master")


@contextmanager
def redis_sentinel() -> Iterator[SentinelSet]:
    """A master, one replica and three sentinels (quorum 2) that promote the replica a second after the master
    stops answering."""
    require("redis-server", "redis-cli")
    processes = Processes()
    with tempfile.TemporaryDirectory() as directory, ExitStack() as stack:
        stack.callback(processes.stop_all)
        root = Path(directory)
        master, replica = free_port(), free_port()
        processes.start("master", "redis-server", *_redis_options(master, root))
        wait_for(lambda: _pong(master), "the master")
        processes.start(
            "replica", "redis-server", *_redis_options(replica, root), "--replicaof", "127.0.0.1", str(master)
        )
        wait_for(lambda: "master_link_status:up" in redis_cli(replica, "INFO", "replication"), "the replica")
        sentinels = []
        for _ in range(3):
            port = free_port()
            config = root / f"sentinel-{port}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {root}\n"
                f"sentinel monitor mymaster 127.0.0.1 {master} 2\n"
                "sentinel down-after-milliseconds mymaster 1000\n"
                "sentinel failover-timeout mymaster 5000\n"
            )
            processes.start(f"sentinel-{port}", "redis-server", str(config), "--sentinel")
            sentinels.append(port)
        for port in sentinels:
            # Each sentinel has found the replica and the other sentinels: a failover can be agreed on.
            wait_for(
                lambda port=port: _sentinel_ready(port),  # type: ignore[misc]
                f"sentinel {port}",
            )
        yield SentinelSet(master, replica, sentinels, processes)


def _sentinel_ready(port: int) -> bool:
    info = redis_cli(port, "SENTINEL", "MASTER", "mymaster").split("\n")
    fields = dict(zip(info[::2], info[1::2], strict=False))
    return fields.get("num-slaves") == "1" and fields.get("num-other-sentinels") == "2"


@dataclass(frozen=True)
class PgBouncer:
    port: int


@contextmanager
def pgbouncer(postgres_host: str, postgres_port: int, pool_size: int = 3) -> Iterator[PgBouncer]:
    """PgBouncer in transaction mode in front of the PostgreSQL server, `pool_size` server connections per
    database; run as the `postgres` user (it refuses root)."""
    program = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(program).exists():
        pytest.skip("needs pgbouncer (apt-get install pgbouncer)")
    processes = Processes()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    with tempfile.TemporaryDirectory() as directory, ExitStack() as stack:
        stack.callback(processes.stop_all)
        root = Path(directory)
        port = free_port()
        (root / "userlist.txt").write_text('"postgres" ""\n')
        config = root / "pgbouncer.ini"
        config.write_text(
            f"[databases]\n* = host={postgres_host} port={postgres_port}\n"
            f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {root / 'userlist.txt'}\n"
            f"pool_mode = transaction\ndefault_pool_size = {pool_size}\nmax_client_conn = 500\n"
            f"logfile = {root / 'pgbouncer.log'}\n"
        )
        if as_postgres:
            shutil.chown(root, "postgres")
            for path in root.iterdir():
                shutil.chown(path, "postgres")
        processes.start("pgbouncer", *as_postgres, program, str(config))
        wait_for(lambda: not _bindable(port), "pgbouncer")
        yield PgBouncer(port)
