"""Zero setup: `make dev` and `make test` find PostgreSQL and Redis or start them, in a fresh copy of the repository.

"Nothing answers" is made without touching this machine's servers: the copy's .env points at ports where nothing
listens (held by the test, so the servers `make dev` starts must take free ones and write them into .env), the
PostgreSQL programs are hidden in a mount namespace, and `make test` runs in a network namespace of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
import yaml
from dotenv import dotenv_values

from pet_auth.config import Settings, load_settings
from pet_auth.reachability import answers
from tests.support import ROOT
from tests.support.clients import PASSWORD, unique_email
from tools.devinfra import (
    POSTGRES,
    POSTGRES_BIN_GLOBS,
    REDIS,
    PrivatePostgres,
    find_postgres_programs,
    find_redis_server,
    free_port,
)
from tools.devinfra.ready import MAILPIT_UI, api_url, banner

MAKE = shutil.which("make")
STARTUP_TIMEOUT = 120.0


def _docker_compose_answers() -> bool:
    docker = shutil.which("docker")
    return docker is not None and subprocess.run([docker, "info"], capture_output=True).returncode == 0


@pytest.fixture
def checkout() -> Iterator[Path]:
    """The repository's files as a fresh clone of this working tree would have them (no .env, no .dev/), sharing
    this run's virtual environment. In a directory everyone can reach, as under root PostgreSQL runs as `postgres`
    (pytest's own temporary directories are private to the user)."""
    if MAKE is None or shutil.which("git") is None:
        pytest.skip("needs make and git")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True
    )
    if listed.returncode:
        pytest.skip("the repository is not a git checkout")
    with tempfile.TemporaryDirectory(prefix="pet_auth_checkout_") as directory:
        Path(directory).chmod(0o755)
        yield _copy_files(Path(directory) / "repo", listed.stdout.decode().split("\0"))


def _copy_files(repo: Path, names: list[str]) -> Path:
    for name in filter(None, names):
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    (repo / ".venv").symlink_to(ROOT / ".venv")
    return repo


def _write_env(repo: Path, **values: str) -> None:
    """The example .env, as `make` copies it, with some values changed."""
    lines = []
    for line in (repo / ".env.example").read_text().splitlines():
        key = line.partition("=")[0]
        lines.append(f"{key}={values[key]}" if key in values else line)
    (repo / ".env").write_text("\n".join(lines) + "\n")


@contextlib.contextmanager
def _unreachable_urls() -> Iterator[dict[str, str]]:
    """Local URLs of servers that are not running. Their ports stay taken meanwhile (bound, not listening), so a
    server started for them must take other ports and say where in .env."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(2):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        yield {
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{ports[0]}/pet_auth",
            "REDIS_URL": f"redis://127.0.0.1:{ports[1]}/0",
        }


def _environ(repo: Path) -> dict[str, str]:
    """This process's environment without any server settings, importing the copy's code."""
    drop = {"DATABASE_URL", "REDIS_URL", "APP_ENV", "TEST_DATABASE_URL", "TEST_REDIS_URL", "PORT"}
    environ = {key: value for key, value in os.environ.items() if key not in drop}
    return {**environ, "PYTHONPATH": str(repo / "src")}


def _make(repo: Path, *targets: str) -> list[str]:
    # -o: the shared virtual environment is installed already; the copy's newer pyproject.toml must not reinstall it.
    return [str(MAKE), "-C", str(repo), "-o", ".venv/.installed", *targets]


def _run_make(repo: Path, *targets: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(_make(repo, *targets), env=_environ(repo), capture_output=True, text=True, timeout=300)
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return result


@pytest.fixture
def make_dev(checkout: Path) -> Iterator[tuple[Path, dict[str, str], str]]:
    """`make dev` in the copy, in the background, with nothing answering at the configured URLs; yields the copy,
    those URLs and the API's URL. Afterwards the servers it started are stopped and deleted."""
    if find_postgres_programs() is None or find_redis_server() is None:
        pytest.skip("needs the PostgreSQL and Redis server programs")
    if _docker_compose_answers():
        pytest.skip("a Docker engine answers here, so make dev would take the Docker Compose path")
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    with (checkout / "make-dev.log").open("w+") as log, contextlib.ExitStack() as held:
        unreachable = held.enter_context(_unreachable_urls())
        _write_env(checkout, PORT=str(port), **unreachable)
        process = subprocess.Popen(
            _make(checkout, "dev"), env=_environ(checkout), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while not _healthy(api):
                log.seek(0)
                assert process.poll() is None, f"make dev exited with {process.returncode}:\n{log.read()}"
                assert time.monotonic() < deadline, f"make dev did not answer /health:\n{log.read()}"
                time.sleep(0.2)
            held.close()  # the configured ports were taken while make dev started; that is over
            yield checkout, unreachable, api
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
            subprocess.run(_make(checkout, "infra-reset"), env=_environ(checkout), capture_output=True, timeout=120)


def _healthy(api: str) -> bool:
    try:
        return httpx.get(f"{api}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _ready_block(log: Path, timeout: float = 10.0) -> str:
    """The block make dev prints once the server answers (it polls /health itself, so it may come a moment after)."""
    deadline = time.monotonic() + timeout
    while True:
        text = log.read_text()
        if "pet_auth is ready (development)" in text:
            assert text.count("pet_auth is ready (development)") == 1, text
            start = text.index("pet_auth is ready (development)")
            return text[start : text.index("\n\n", start)] + "\n"
        assert time.monotonic() < deadline, f"make dev printed no ready block:\n{text}"
        time.sleep(0.2)


def _dev_settings(**values: str) -> Settings:
    return load_settings({"APP_ENV": "development", **values}, env_file=None)


def test_the_ready_block_names_the_api_with_the_frontends_host_name(tmp_path: Path) -> None:
    assert api_url(_dev_settings()) == "http://localhost:3000"
    assert api_url(_dev_settings(HOST="0.0.0.0", PORT="8000")) == "http://localhost:8000"  # noqa: S104
    # A frontend on 127.0.0.1 is the same site as an API called 127.0.0.1, not localhost.
    assert api_url(_dev_settings(CORS_ORIGINS="http://127.0.0.1:5173")) == "http://127.0.0.1:3000"
    assert api_url(_dev_settings(HOST="192.0.2.10")) == "http://192.0.2.10:3000"

    block = banner(_dev_settings(CORS_ORIGINS="http://localhost:5173,http://localhost:4173"), tmp_path)
    assert "127.0.0.1" not in block
    assert "  API       http://localhost:3000\n" in block
    assert "  Frontend  http://localhost:5173, http://localhost:4173 (CORS_ORIGINS" in block
    assert "MAIL_BACKEND=console" in block
    smtp = banner(_dev_settings(MAIL_BACKEND="smtp", SMTP_HOST="mail.example", SMTP_PORT="2525"), tmp_path)
    assert "  Mail      sent by SMTP through mail.example:2525 (MAIL_BACKEND=smtp)" in smtp
    # Mailpit, started by infra up with Docker Compose: where to read the mail.
    (tmp_path / MAILPIT_UI).write_text("http://127.0.0.1:8025\n")
    mailpit = banner(_dev_settings(MAIL_BACKEND="smtp", SMTP_PORT="1025"), tmp_path)
    assert "  Mail      caught by Mailpit: open http://127.0.0.1:8025 (MAIL_BACKEND=smtp)" in mailpit


def _urls(repo: Path) -> tuple[str, str]:
    env = dotenv_values(repo / ".env")
    return str(env["DATABASE_URL"]), str(env["REDIS_URL"])


async def _user_exists(database_url: str, email: str) -> bool:
    parts = urlsplit(database_url)
    connection = await asyncpg.connect(
        host=parts.hostname, port=parts.port, user=parts.username, database=parts.path.lstrip("/")
    )
    try:
        return bool(await connection.fetchval("SELECT count(*) FROM users WHERE email = $1", email))
    finally:
        await connection.close()


def test_make_dev_starts_private_servers_when_nothing_answers_and_infra_down_stops_them(
    make_dev: tuple[Path, dict[str, str], str],
) -> None:
    repo, unreachable, api = make_dev
    # When it answers, make dev says where things are, once: the API as the app must call it (localhost), the
    # frontend it accepts, where mail goes.
    block = _ready_block(repo / "make-dev.log")
    port = urlsplit(api).port
    assert f"  API       http://localhost:{port}\n" in block
    assert "  Frontend  http://localhost:5173 (CORS_ORIGINS" in block
    assert "  Mail      printed in this terminal, links included (MAIL_BACKEND=console)" in block
    email = unique_email()
    response = httpx.post(f"{api}/api/auth/register", json={"email": email, "password": PASSWORD}, timeout=30)
    assert response.status_code == 201, response.text

    # The configured ports were taken, so the servers run elsewhere, and .env says where.
    database_url, redis_url = _urls(repo)
    assert database_url != unreachable["DATABASE_URL"]
    assert redis_url != unreachable["REDIS_URL"]
    assert answers(database_url)
    assert answers(redis_url)
    programs = find_postgres_programs()
    assert programs is not None
    assert PrivatePostgres(repo / ".dev" / "postgres", programs).port == urlsplit(database_url).port
    # Owned by whoever ran make; PostgreSQL refuses to run as root, so under root by `postgres`.
    owner = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    assert (repo / ".dev" / "postgres" / "data").owner() == owner
    assert asyncio.run(_user_exists(database_url, email))

    stopped = _run_make(repo, "infra-down")
    assert stopped.returncode == 0, stopped.stderr
    assert not answers(database_url)
    assert not answers(redis_url)

    # Started again: the same ports, the data kept.
    again = _run_make(repo, "migrate")
    assert again.returncode == 0, again.stderr
    assert _urls(repo) == (database_url, redis_url)
    assert asyncio.run(_user_exists(database_url, email))

    reset = _run_make(repo, "infra-reset")
    assert reset.returncode == 0, reset.stderr
    assert not answers(database_url)
    assert not answers(redis_url)
    assert not (repo / ".dev").exists()


def _unshare(*flags: str) -> list[str]:
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) to hide programs or the network from one command")
    if subprocess.run([unshare, *flags, "true"], capture_output=True).returncode:
        pytest.skip(f"unshare {' '.join(flags)} is not permitted here")
    return [unshare, *flags]


def test_without_server_programs_make_dev_says_what_to_install(checkout: Path, tmp_path: Path) -> None:
    with _unreachable_urls() as unreachable:
        _write_env(checkout, **unreachable)
    hidden = [path for pattern in POSTGRES_BIN_GLOBS for path in Path("/").glob(pattern.lstrip("/"))]
    mounts = "".join(f"mount -t tmpfs none {path} && " for path in hidden)
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    command = f"{mounts}exec env PATH={empty_path} {' '.join(_make(checkout, 'dev'))}"
    result = subprocess.run(
        [*_unshare("-m"), "sh", "-c", command], env=_environ(checkout), capture_output=True, text=True, timeout=120
    )

    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("pet_auth: ")]
    assert len(lines) == 2, result.stderr
    postgres, redis = lines
    assert "PostgreSQL does not answer at postgresql://postgres@127.0.0.1:" in postgres
    assert "`sudo apt install postgresql`" in postgres
    assert "`brew install postgresql@15`" in postgres
    assert "Redis does not answer at redis://127.0.0.1:" in redis
    assert "`sudo apt install redis-server`" in redis
    assert "`brew install redis`" in redis
    assert "Error 1" in result.stderr  # `infra up` itself exited with 1
    assert not (checkout / ".dev").exists()


@pytest.mark.parametrize(
    ("command", "says", "status"),
    [
        (["create-db"], "PostgreSQL at postgresql://postgres:***@127.0.0.1:{pg}/pet_auth cannot be used", 1),
        (["purge-tokens"], "PostgreSQL at postgresql://postgres:***@127.0.0.1:{pg}/pet_auth cannot be used", 1),
        # 3, not 1: `make start` serves anyway when a server is down, and stops on unusable settings (1).
        (["check"], "PostgreSQL does not answer at postgresql://postgres:***@127.0.0.1:{pg}/pet_auth", 3),
    ],
)
def test_an_unreachable_database_is_one_line_not_a_traceback(
    tmp_path: Path, command: list[str], says: str, status: int
) -> None:
    pg = free_port()
    environ = {
        **os.environ,
        "APP_ENV": "development",  # so that no other setting is asked for
        "DATABASE_URL": f"postgresql://postgres:secret@127.0.0.1:{pg}/pet_auth",
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    result = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "pet_auth", *command],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == status
    assert "Traceback" not in result.stderr
    assert "secret" not in result.stderr
    assert result.stderr.splitlines()[0].startswith(f"pet_auth: {says.format(pg=pg)}"), result.stderr


def test_check_says_nothing_when_both_servers_answer(tmp_path: Path) -> None:
    with socket.socket() as postgres, socket.socket() as redis:
        for listener in (postgres, redis):
            listener.bind(("127.0.0.1", 0))
            listener.listen()
        environ = {
            **os.environ,
            "APP_ENV": "development",
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{postgres.getsockname()[1]}/pet_auth",
            "REDIS_URL": f"redis://127.0.0.1:{redis.getsockname()[1]}/0",
        }
        result = subprocess.run(
            [str(ROOT / ".venv/bin/python"), "-m", "pet_auth", "check"],
            cwd=tmp_path,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


# What starts servers (Docker Compose, initdb, pg_ctl, runuser, redis-server) is for a checkout, never installed.
DEVELOPMENT_ONLY = ("subprocess", "docker", "initdb", "pg_ctl", "runuser", "redis-server", "tools.devinfra")


def test_the_installed_package_holds_no_development_servers() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    where = pyproject["tool"]["setuptools"]["packages"]["find"]["where"]
    assert where == ["src"]
    # What setuptools can find there (any directory, as namespace packages count): pet_auth and nothing else.
    top_level = {path.name for path in (ROOT / "src").iterdir() if path.name != "__pycache__"}
    assert {name for name in top_level if not name.endswith(".egg-info")} == {"pet_auth"}
    assert importlib.util.find_spec("pet_auth.devinfra") is None
    for module in sorted((ROOT / "src").rglob("*.py")):
        text = module.read_text().lower()
        found = [word for word in DEVELOPMENT_ONLY if word in text]
        assert not found, f"{module.relative_to(ROOT)} mentions {found}"


def test_compose_file_has_the_servers_make_dev_starts() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:7")
    assert {POSTGRES.compose_service, REDIS.compose_service, "mailpit"} <= set(services)
    for name in ("postgres", "redis", "mailpit"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("postgres", "redis"):
        (volume,) = services[name]["volumes"]
        assert volume.split(":")[0] in compose["volumes"], name  # a named volume, not a bind mount
    mailpit_ports = {port.rsplit(":", 1)[1] for port in services["mailpit"]["ports"]}
    assert mailpit_ports == {"1025", "8025"}


def test_docker_compose_accepts_the_compose_file() -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode:
        pytest.skip("the `docker compose` plugin is not installed")
    result = subprocess.run(
        [docker, "compose", "--env-file", os.devnull, "config", "--quiet"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_make_test_passes_when_nothing_answers(checkout: Path) -> None:
    """The whole suite in a network namespace where no server answers: it starts private ones."""
    if _docker_compose_answers():
        pytest.skip("a Docker engine answers here, so the suite would use testcontainers")
    ip = shutil.which("ip")
    if ip is None:
        pytest.skip("needs ip(8) to bring up the namespace's loopback")
    command = f"{ip} link set lo up && exec {' '.join(_make(checkout, 'test'))} PYTEST_ARGS='-q -p no:cacheprovider'"
    result = subprocess.run(
        [*_unshare("-n"), "sh", "-c", command], env=_environ(checkout), capture_output=True, text=True, timeout=1200
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
