"""Development servers: use PostgreSQL and Redis where they answer, else start them (`python -m tools.devinfra ...`).

`up` (run by `make dev` and `make migrate`) takes, for each server that does not answer at its URL, the first
way that works:
1. a Docker engine answers: `docker compose up -d --wait` with the committed compose.yaml (plus Mailpit for mail);
2. the server programs are installed: a private instance under .dev/ of the invoking user (of `postgres` under
   root, which PostgreSQL refuses to run as), on the default port or a free one when that is taken;
and writes the URLs it got into .env. Otherwise it prints one line per missing server saying what to install.
`down` stops what `up` started (data kept), and `reset` also deletes the data. The test suite starts throwaway
private instances with the same code (`temporary_postgres`, `temporary_redis`), never touching the development
database. A developer tool, outside the product package: see docs/development.md.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis
from dotenv import set_key

from pet_auth.config import Settings
from pet_auth.reachability import answers, redact
from tools.devinfra.ready import MAILPIT_UI

DEV_DIR = Path(".dev")
ENV_FILE = Path(".env")
COMPOSE_MARKER = "compose-started"  # in DEV_DIR: compose was started by `infra up`, so `infra down` stops it
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# Where packages put the PostgreSQL server programs when they are not on PATH (Debian/Ubuntu, Homebrew, RPMs).
POSTGRES_BIN_GLOBS = (
    "/usr/lib/postgresql/*/bin",
    "/opt/homebrew/opt/postgresql@*/bin",
    "/usr/local/opt/postgresql@*/bin",
    "/usr/pgsql-*/bin",
)
STARTUP_TIMEOUT = 60.0
MAILPIT_SMTP_PORT, MAILPIT_UI_PORT = 1025, 8025


class InfraError(Exception):
    """A server cannot be found or started; the message is one line saying what to do."""


@dataclass(frozen=True)
class Server:
    name: str
    setting: str
    default_port: int
    compose_service: str
    install: str


POSTGRES = Server(
    "PostgreSQL",
    "DATABASE_URL",
    5432,
    "postgres",
    "`sudo apt install postgresql` on Debian/Ubuntu, `brew install postgresql@15` on macOS",
)
REDIS = Server(
    "Redis",
    "REDIS_URL",
    6379,
    "redis",
    "`sudo apt install redis-server` on Debian/Ubuntu, `brew install redis` on macOS",
)
SERVERS = (POSTGRES, REDIS)


def configured_url(settings: Settings, server: Server) -> str:
    return settings.database_url if server is POSTGRES else settings.redis_url


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the servers do: a port whose last connections linger in TIME_WAIT is free for a new listener.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(*preferred: int | None) -> int:
    """The first preferred port nothing listens on, else a port the system picks."""
    for port in preferred:
        if port is not None and _port_is_free(port):
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _url_on_port(url: str, port: int, user: str | None = None) -> str:
    """The configured URL moved to 127.0.0.1:port, keeping its database (user `postgres` for our own servers)."""
    parts = urlsplit(url)
    userinfo = f"{user}@" if user else ""
    return urlunsplit(parts._replace(netloc=f"{userinfo}127.0.0.1:{port}"))


def _wait_for(done: Callable[[], bool], failure: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.02)
    raise InfraError(failure)


# --- private PostgreSQL -------------------------------------------------------------------------------------------


def find_postgres_programs() -> Path | None:
    """The directory holding initdb and pg_ctl: the one on PATH, else the newest packaged version."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    packaged = [Path(found) for pattern in POSTGRES_BIN_GLOBS for found in glob.glob(pattern)]
    candidates += sorted(packaged, key=_version_of, reverse=True)
    return next((path for path in candidates if (path / "initdb").exists() and (path / "pg_ctl").exists()), None)


def _version_of(bin_dir: Path) -> tuple[int, ...]:
    digits = "".join(ch if ch.isdigit() else " " for ch in str(bin_dir)).split()
    return tuple(int(part) for part in digits)


class PrivatePostgres:
    """A PostgreSQL cluster in `directory`, listening on 127.0.0.1 only, trusting local connections as `postgres`.

    Under root it runs as the `postgres` OS user, as PostgreSQL refuses to run as root."""

    def __init__(self, directory: Path, programs: Path, durable: bool = True) -> None:
        self.directory = directory.resolve()
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self.programs = programs
        self.durable = durable

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        return self._run_as_postgres(str(self.programs / program), *args)

    def _run_as_postgres(self, *command: str) -> subprocess.CompletedProcess[str]:
        """Runs a command as the invoking user, or as `postgres` under root."""
        if os.geteuid() == 0:
            command = ("runuser", "-u", "postgres", "--", *command)
        # A session of its own: the server outlives the terminal's Ctrl-C that ends `make dev`.
        return subprocess.run(command, capture_output=True, text=True, timeout=120, start_new_session=True)

    @property
    def port(self) -> int | None:
        """The port of the running server (from its postmaster.pid), or None when it is not running."""
        if (
            not (self.data / "postmaster.pid").exists()
            or self._run("pg_ctl", "status", "-D", str(self.data)).returncode
        ):
            return None
        lines = (self.data / "postmaster.pid").read_text().splitlines()
        return int(lines[3]) if len(lines) > 3 and lines[3].isdigit() else None

    def start(self, port: int) -> None:
        if not (self.data / "PG_VERSION").exists():
            self._init()
        options = f"-p {port}" if self.durable else f"-p {port} -c fsync=off"
        started = self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w")
        if started.returncode:
            raise InfraError(f"PostgreSQL under {self.directory} did not start: see {self.log}")

    def stop(self, mode: str = "fast", wait: bool = True) -> bool:
        """Stops the server if it runs (waiting until it has, unless told not to); whether it did."""
        if self.port is None:
            return False
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w" if wait else "-W")
        return True

    def _init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise InfraError(
                    "PostgreSQL cannot run as root and there is no `postgres` user: run make as your own user, "
                    "or create that user (the postgresql package does)"
                ) from None
            shutil.chown(self.directory, "postgres")
            if self._run_as_postgres("test", "-w", str(self.directory)).returncode:
                raise InfraError(
                    f"the postgres user cannot reach {self.directory}, and PostgreSQL cannot run as root: run make "
                    "as your own user, or work in a directory that user can reach"
                )
        options = ["-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"]
        created = self._run("initdb", *options, *([] if self.durable else ["--no-sync"]))
        if created.returncode:
            last = (created.stderr.strip().splitlines() or ["no output"])[-1]
            raise InfraError(f"initdb failed in {self.data}: {last}")
        with (self.data / "postgresql.conf").open("a") as conf:
            # TCP on loopback only; no Unix socket, whose path could be too long for a deep checkout.
            conf.write("\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n")


# --- private Redis ------------------------------------------------------------------------------------------------


def find_redis_server() -> Path | None:
    found = shutil.which("redis-server")
    return Path(found) if found else None


class PrivateRedis:
    """A redis-server with its files in `directory`, on 127.0.0.1 only. Durable: it saves to disk on shutdown."""

    def __init__(self, directory: Path, program: Path, durable: bool = True) -> None:
        self.directory = directory.resolve()
        self.log = self.directory / "server.log"
        self.program = program
        self.durable = durable

    @property
    def port(self) -> int | None:
        """The port of the running server, or None: a server on the recorded port is ours only if it keeps its
        files in our directory (so a machine's Redis that took the port later is never stopped)."""
        try:
            port = int((self.directory / "port").read_text())
            with redis.Redis(host="127.0.0.1", port=port, socket_timeout=2) as client:
                directory = client.config_get("dir").get("dir")
        except (OSError, ValueError, redis.RedisError):
            return None
        return port if directory == str(self.directory) else None

    def start(self, port: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "port").write_text(str(port))
        options = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(self.directory), "--daemonize", "yes"]
        options += ["--pidfile", str(self.directory / "redis.pid"), "--logfile", str(self.log), "--appendonly", "no"]
        if not self.durable:
            options += ["--save", ""]
        subprocess.run([str(self.program), *options], capture_output=True, timeout=30, start_new_session=True)
        _wait_for(lambda: self.port == port, f"Redis under {self.directory} did not start: see {self.log}")

    def stop(self) -> bool:
        """Stops the server if it runs (saving its data when durable); whether it did."""
        port = self.port
        if port is None:
            return False
        with redis.Redis(host="127.0.0.1", port=port, socket_timeout=10) as client:
            client.shutdown(nosave=not self.durable)
        # The reply comes before the process is gone; wait until nothing answers any more.
        _wait_for(lambda: not answers(f"redis://127.0.0.1:{port}"), f"Redis under {self.directory} did not stop")
        return True


# --- throwaway servers for the test suite --------------------------------------------------------------------------


@contextlib.contextmanager
def temporary_postgres() -> Iterator[str]:
    """A private PostgreSQL in a temporary directory for one test run; yields its maintenance database's URL."""
    programs = find_postgres_programs()
    if programs is None:
        raise InfraError(f"PostgreSQL does not answer and is not installed: {POSTGRES.install}")
    with tempfile.TemporaryDirectory(prefix="pet_auth_pg_") as directory:
        server = PrivatePostgres(Path(directory), programs, durable=False)
        port = free_port(POSTGRES.default_port)
        server.start(port)
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            server.stop("immediate")


@contextlib.contextmanager
def temporary_redis() -> Iterator[str]:
    """A private Redis keeping nothing on disk, for one test run; yields its URL."""
    program = find_redis_server()
    if program is None:
        raise InfraError(f"Redis does not answer and is not installed: {REDIS.install}")
    with tempfile.TemporaryDirectory(prefix="pet_auth_redis_") as directory:
        server = PrivateRedis(Path(directory), program, durable=False)
        port = free_port(REDIS.default_port)
        server.start(port)
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.stop()


# --- Docker Compose -----------------------------------------------------------------------------------------------


def _docker_compose_answers() -> bool:
    """A Docker engine answers and the compose plugin is installed."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        for args in (["info", "--format", "{{.ServerVersion}}"], ["compose", "version"]):
            if subprocess.run([docker, *args], capture_output=True, timeout=15).returncode:
                return False
    except subprocess.TimeoutExpired:
        return False
    return True


def _compose(*args: str, ports: Mapping[str, int] | None = None) -> None:
    environ = {**os.environ, **{name: str(port) for name, port in (ports or {}).items()}}
    # Not the app's .env, which compose would otherwise read for its variables.
    if subprocess.run(["docker", "compose", "--env-file", os.devnull, *args], env=environ).returncode:
        raise InfraError(f"`docker compose {' '.join(args)}` failed (see its output above)")


def _compose_up(missing: list[Server], settings: Settings, dev_dir: Path) -> dict[str, str]:
    """Starts the missing servers and Mailpit in containers; the settings that point at them."""
    ports = {
        "PET_AUTH_POSTGRES_PORT": free_port(POSTGRES.default_port),
        "PET_AUTH_REDIS_PORT": free_port(REDIS.default_port),
        "PET_AUTH_MAILPIT_SMTP_PORT": free_port(MAILPIT_SMTP_PORT),
        "PET_AUTH_MAILPIT_UI_PORT": free_port(MAILPIT_UI_PORT),
    }
    dev_dir.mkdir(exist_ok=True)
    (dev_dir / COMPOSE_MARKER).touch()
    _compose("up", "-d", "--wait", *(server.compose_service for server in missing), "mailpit", ports=ports)
    values = {
        "MAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(ports["PET_AUTH_MAILPIT_SMTP_PORT"]),
        "SMTP_STARTTLS": "false",
        "SMTP_USERNAME": "",
    }
    if POSTGRES in missing:
        port = ports["PET_AUTH_POSTGRES_PORT"]
        values[POSTGRES.setting] = _url_on_port(settings.database_url, port, "postgres")
    if REDIS in missing:
        values[REDIS.setting] = _url_on_port(settings.redis_url, ports["PET_AUTH_REDIS_PORT"])
    # `make dev`'s banner says where mail is read (tools/devinfra/ready.py).
    (dev_dir / MAILPIT_UI).write_text(f"http://127.0.0.1:{ports['PET_AUTH_MAILPIT_UI_PORT']}\n")
    print(f"pet_auth: started {', '.join(s.name for s in missing)} and Mailpit with Docker Compose")
    print(f"pet_auth: mail sent in development: http://127.0.0.1:{ports['PET_AUTH_MAILPIT_UI_PORT']}")
    return values


# --- the commands -------------------------------------------------------------------------------------------------


def _private_servers(dev_dir: Path) -> dict[Server, PrivatePostgres | PrivateRedis | None]:
    """make's own servers under dev_dir, or None for a server whose programs are not installed."""
    programs, redis_server = find_postgres_programs(), find_redis_server()
    return {
        POSTGRES: PrivatePostgres(dev_dir / "postgres", programs) if programs else None,
        REDIS: PrivateRedis(dev_dir / "redis", redis_server) if redis_server else None,
    }


def _start_private(missing: list[Server], settings: Settings, dev_dir: Path) -> dict[str, str]:
    instances = _private_servers(dev_dir)
    unavailable = [server for server in missing if instances[server] is None]
    if unavailable:
        raise InfraError(
            "\n".join(
                f"{s.name} does not answer at {redact(configured_url(settings, s))}, no Docker engine answers, and "
                f"{s.name} is not installed: install it ({s.install}) or set {s.setting} to a server that runs"
                for s in unavailable
            )
        )
    values: dict[str, str] = {}
    for server in missing:
        instance = instances[server]
        assert instance is not None
        port = instance.port
        if port is None:
            # The port it had before, when the default is taken, keeps .env stable from one start to the next.
            port = free_port(server.default_port, urlsplit(configured_url(settings, server)).port)
            instance.start(port)
        user = "postgres" if server is POSTGRES else None
        values[server.setting] = _url_on_port(configured_url(settings, server), port, user)
        print(f"pet_auth: {server.name} runs under {instance.directory} on 127.0.0.1:{port} (stop: make infra-down)")
    return values


def up(settings: Settings, environ: Mapping[str, str], env_file: Path = ENV_FILE, dev_dir: Path = DEV_DIR) -> None:
    """Makes the configured servers answer, starting what is missing; raises InfraError saying what to do."""
    missing = [s for s in SERVERS if not answers(configured_url(settings, s))]
    if not missing:
        return
    problems = []
    for server in missing:
        url = redact(configured_url(settings, server))
        if server.setting in environ:
            problems.append(
                f"{server.name} does not answer at {url}, set by {server.setting} in the environment: start it, or "
                f"unset {server.setting} to let make start one"
            )
        elif urlsplit(url).hostname not in LOCAL_HOSTS:
            problems.append(f"{server.name} does not answer at {url}: start it, or set {server.setting} in {env_file}")
    if problems:
        raise InfraError("\n".join(problems))
    if _docker_compose_answers():
        values = _compose_up(missing, settings, dev_dir)
    else:
        values = _start_private(missing, settings, dev_dir)
    env_file.touch()
    for key, value in values.items():
        set_key(env_file, key, value, quote_mode="never")
    print(f"pet_auth: wrote {', '.join(values)} to {env_file}")


def down(dev_dir: Path = DEV_DIR, delete_data: bool = False) -> None:
    """Stops what `up` started; with delete_data also removes the containers' volumes and .dev/."""
    stopped = [
        f"{server.name} under {instance.directory}"
        for server, instance in _private_servers(dev_dir).items()
        if instance is not None and instance.stop()
    ]
    marker = dev_dir / COMPOSE_MARKER
    if marker.exists() or (delete_data and _docker_compose_answers()):
        _compose("down", *(["--volumes"] if delete_data else []))
        marker.unlink(missing_ok=True)
        (dev_dir / MAILPIT_UI).unlink(missing_ok=True)
        stopped.append("the Docker Compose services")
    print(f"pet_auth: stopped {', '.join(stopped)}" if stopped else "pet_auth: nothing that make started is running")
    if delete_data and dev_dir.exists():
        shutil.rmtree(dev_dir)
        print(f"pet_auth: deleted {dev_dir}/")
