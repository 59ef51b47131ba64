"""Runs the service as a real server (`python -m pet_auth serve`, under HTTP_SERVER) in a child process, for tests
that need a real socket (a browser, several worker processes, a dependency stopped under traffic)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from pet_auth.config import Settings
from tools.devinfra import free_port


def settings_environ(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process load exactly these settings."""
    import msgspec

    environ: dict[str, str] = {}
    for name, value in msgspec.structs.asdict(settings).items():
        key = name.upper()
        if value is None:
            continue  # unset: the child takes the same default
        if isinstance(value, tuple):
            environ[key] = ",".join(value)
        elif isinstance(value, bool):
            environ[key] = "true" if value else "false"
        else:
            environ[key] = str(value)
    return environ


@dataclass(frozen=True)
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def output(self) -> str:
        """What the server has written to stdout and stderr so far."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")


@contextmanager
def live_server(
    settings: Settings, workers: int = 1, extra_env: Mapping[str, str] | None = None
) -> Iterator[LiveServer]:
    port = free_port()
    environ = {**os.environ, **settings_environ(settings), "PORT": str(port), "WEB_CONCURRENCY": str(workers)}
    environ.update(extra_env or {})
    # The server's log goes to a file: a pipe nobody reads would block it once full.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pet_auth", "serve"],
            env=environ,
            cwd="/",  # no .env file is read from here
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its workers too can be found, and stopped, as one group
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_healthy(url, process, log)
            yield LiveServer(url, process, log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            # A worker its server gave up on (killed above) would outlive the test.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: IO[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited with {process.returncode}: {log.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not become healthy")


def worker_processes(pid: int) -> list[int]:
    """A live server's worker processes: its children, but for multiprocessing's resource tracker (uvicorn's and
    Granian's workers alike)."""
    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if parent == pid and b"resource_tracker" not in command:
            workers.append(int(stat.parent.name))
    return workers
