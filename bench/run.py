"""`make bench`: pet_auth under each HTTP server against the Express peer, same load, same run, one table.

Starts pet_auth in its production configuration (`python -m pet_auth serve`, APP_ENV=production, a random
SESSION_SECRET) twice, once under each HTTP server it can run (HTTP_SERVER=uvicorn, the default, and granian), and
the Express peer (../shared/peers/express/run.sh) against the local PostgreSQL and Redis, each with a database (and
Redis namespace) of its own, seeds users and sessions over HTTP on each, then drives them with wrk:

- GET /api/auth/me at 64 connections (Cookie rotating over the seeded sessions), WEB_CONCURRENCY 1 and 2;
- POST /api/auth/login with valid credentials, against the hash-bound ceiling (cores / seconds per verify,
  measured in this process at the app's parameters);
- GET /me again while a login storm runs beside it;
- Redis memory per session (MEMORY USAGE).

Prints one markdown table (also written to bench/results.md). Everything it creates is removed at the end:
its databases, its Redis namespaces, and the peer's `sess:` keys (the peer gets a Redis logical database
that was empty when the run began; only keys that appeared there during the run are deleted).

The services run at the same time and take turns under load, each measurement repeated (BENCH_REPS, default 3)
with the order alternating, so that the background load of a shared machine falls on both alike.

Environment knobs: BENCH_DURATION (seconds per wrk run, default 5), BENCH_USERS (default 64),
BENCH_POSTGRES (default postgresql://postgres@127.0.0.1:5432), BENCH_REDIS (default redis://127.0.0.1:6379).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field, replace
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import cast
from urllib.parse import unquote

import argon2
import asyncpg
import bcrypt
import httpx
from redis import Redis

from pet_auth.reachability import answers as server_answers

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PEER_DIR = (ROOT / ".." / "shared" / "peers" / "express").resolve()
PEER_WORK = Path(
    os.environ.get("EXPRESS_PEER_DIR")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "express-peer"
)
PYTHON = sys.executable
WRK = shutil.which("wrk") or "/usr/bin/wrk"

DURATION = int(os.environ.get("BENCH_DURATION", "5"))
REPS = int(os.environ.get("BENCH_REPS", "3"))
USERS = int(os.environ.get("BENCH_USERS", "64"))
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379")
CORES = os.cpu_count() or 1
ME_CONNECTIONS, LOGIN_CONNECTIONS, WRK_THREADS = 64, 16, 2
WARMUP_SECONDS = 2
SETTLE_SECONDS = 1
PASSWORD = "bench-load-Passw0rd-7f3a"  # a throwaway account's
PEER_LOCK = "pet_auth_bench:peer_db_lock"
COOKIE = "__Host-pet_auth_session"
SERVERS = {"uvicorn": "uvicorn", "granian": "Granian"}  # HTTP_SERVER: the name in the table; the default first
USER_AGENTS = [
    (
        "browser",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ),
    ("short", "curl/8.5.0"),
]
LOAD_BEFORE = os.getloadavg()[0]


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------- measurements


@dataclass(frozen=True)
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors + non-2xx responses
    cpu_us: float = 0.0  # CPU time of the server's processes per request (not PostgreSQL's or Redis's)
    # The same, by kind of thread (THREAD_KINDS)
    cpu_us_by_kind: dict[str, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, output: str) -> Run:
        line = next((line for line in output.splitlines() if line.startswith("BENCH_JSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk printed no result:\n{output}")
        data = json.loads(line.removeprefix("BENCH_JSON "))
        return cls(
            rps=data["requests"] / (data["duration_us"] / 1e6),
            p50_ms=data["p50_us"] / 1000,
            p99_ms=data["p99_us"] / 1000,
            requests=data["requests"],
            errors=data["socket_errors"] + data["non_2xx"],
        )


@dataclass(frozen=True)
class HashRate:
    """The login ceiling of one moment: cores / seconds per verify."""

    verify_seconds: float

    @property
    def ceiling(self) -> float:
        return CORES / self.verify_seconds


class Verifier:
    """One password verify of a service's kind, timed in this process."""

    def __init__(self, label: str, verify: Callable[[], object]) -> None:
        self.label, self._verify = label, verify
        self.all_cores_rate = 0.0  # verifies per second with every core verifying (see `measure_all_cores`)
        self.all_cores_share = 0.0  # that rate ÷ the hash ceiling measured at the same moment

    def measure_all_cores(self, seconds: float = 3.0) -> None:
        """Verifies per second with one thread per core verifying at once: what the hardware gives when the
        cores share caches and memory bandwidth (a memory-hard hash loses more there than bcrypt does)."""

        def work(deadline: float) -> int:
            count = 0
            while time.monotonic() < deadline:
                self._verify()
                count += 1
            return count

        ceiling = self.measure().ceiling
        deadline = time.monotonic() + seconds
        with ThreadPoolExecutor(CORES) as pool:
            started = time.monotonic()
            counts = list(pool.map(work, [deadline] * CORES))
            elapsed = time.monotonic() - started
        self.all_cores_rate = sum(counts) / elapsed
        self.all_cores_share = self.all_cores_rate / ceiling

    def measure(self) -> HashRate:
        self._verify()
        samples = []
        for _ in range(7):
            start = time.perf_counter()
            self._verify()
            samples.append(time.perf_counter() - start)
        return HashRate(statistics.median(samples))


def argon2id_verifier() -> Verifier:
    """A verify at the app's parameters: the hash comes from pet_auth's own PasswordHasher, argon2 checks it."""
    from pet_auth.domain.passwords import PasswordHasher

    hasher = PasswordHasher(threads=1)
    try:
        password_hash = asyncio.run(hasher.hash(PASSWORD))
    finally:
        hasher.close()
    params = argon2.extract_parameters(password_hash)
    checker = argon2.PasswordHasher()  # verify() follows the parameters encoded in the hash
    label = f"argon2id t={params.time_cost} m={params.memory_cost // 1024} MiB p={params.parallelism}"
    return Verifier(label, lambda: checker.verify(password_hash, PASSWORD))


def bcrypt_verifier(rounds: int = 10) -> Verifier:
    """The peer's bcrypt cost 10, with Python's bcrypt (the same algorithm as node's native bcrypt)."""
    password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds))
    return Verifier(f"bcrypt cost {rounds}", lambda: bcrypt.checkpw(PASSWORD.encode(), password_hash))


def median_run(runs: list[Run]) -> Run:
    """Each figure the median over the repetitions; requests and errors summed."""
    return Run(
        rps=statistics.median(run.rps for run in runs),
        p50_ms=statistics.median(run.p50_ms for run in runs),
        p99_ms=statistics.median(run.p99_ms for run in runs),
        requests=sum(run.requests for run in runs),
        errors=sum(run.errors for run in runs),
        cpu_us=statistics.median(run.cpu_us for run in runs),
        cpu_us_by_kind={
            kind: statistics.median(run.cpu_us_by_kind.get(kind, 0.0) for run in runs)
            for kind in {kind for run in runs for kind in run.cpu_us_by_kind}
        },
    )


@dataclass
class Results:
    me_runs: list[Run] = field(default_factory=list)
    login_runs: list[tuple[HashRate, Run]] = field(default_factory=list)  # each with the hash rate just before
    storm_me_runs: list[Run] = field(default_factory=list)
    storm_login_runs: list[Run] = field(default_factory=list)

    @property
    def me(self) -> Run:
        return median_run(self.me_runs)

    @property
    def login(self) -> Run:
        return median_run([run for _, run in self.login_runs])

    @property
    def storm_me(self) -> Run:
        return median_run(self.storm_me_runs)

    @property
    def storm_login(self) -> Run:
        return median_run(self.storm_login_runs)

    @property
    def verify_seconds(self) -> float:
        return statistics.median(rate.verify_seconds for rate, _ in self.login_runs)

    @property
    def share_of_ceiling(self) -> float:
        return statistics.median(run.rps / rate.ceiling for rate, run in self.login_runs)

    def all_runs(self) -> dict[str, list[Run]]:
        return {
            "/me": self.me_runs,
            "login": [run for _, run in self.login_runs],
            "storm /me": self.storm_me_runs,
            "storm login": self.storm_login_runs,
        }


@dataclass
class Service:
    name: str
    slug: str  # names its files; for pet_auth, also its HTTP_SERVER
    cookie_name: str
    verifier: Verifier
    cookies: list[str] = field(default_factory=list)  # "name=value" Cookie header values of seeded sessions
    results: dict[int, Results] = field(default_factory=dict)  # by worker count
    bytes_per_session: dict[str, float] = field(default_factory=dict)  # by seeding User-Agent
    memory_note: str = ""


def wrk_process(url: str, mode: str, connections: int, seconds: int, files: dict[str, Path]) -> subprocess.Popen[str]:
    environ = {**os.environ, "BENCH_MODE": mode, **{name: str(path) for name, path in files.items()}}
    command = [WRK, f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    command += ["-s", str(BENCH / "wrk.lua"), url]
    return subprocess.Popen(command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


# pet_auth's threads: each process's main thread runs its event loop; its password-hash threads name themselves.
THREAD_KINDS = ("event loop", "password-hash", "other")


def server_cpu_seconds(session: int) -> dict[str, float]:
    """User + system CPU of every thread of every process in the server's session (uvicorn, Granian or node, and
    their workers), by kind of thread."""
    totals = dict.fromkeys(THREAD_KINDS, 0.0)
    for stat in Path("/proc").glob("[0-9]*/task/[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, fields = text[text.index("(") + 1 : text.rindex(")")], text.rsplit(")", 1)[1].split()
        if int(fields[3]) != session:  # fields[3] is the session id (field 6 of proc(5))
            continue
        process, thread = stat.parts[2], stat.parts[4]
        kind = "password-hash" if name == "password-hash" else "event loop" if process == thread else "other"
        totals[kind] += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return totals


def finish(
    process: subprocess.Popen[str], session: int | None = None, cpu_before: dict[str, float] | None = None
) -> Run:
    output, _ = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{output}")
    run = Run.parse(output)
    if session is not None and cpu_before is not None and run.requests:
        after = server_cpu_seconds(session)
        by_kind = {kind: (after[kind] - cpu_before[kind]) / run.requests * 1e6 for kind in THREAD_KINDS}
        run = replace(run, cpu_us=sum(by_kind.values()), cpu_us_by_kind=by_kind)
    return run


@dataclass
class Target:
    """A running service: where it listens, its process session (for CPU time), its wrk input files."""

    service: Service
    url: str
    session: int
    files: dict[str, Path]
    cpu_before: dict[str, float] | None = None

    def run(self, mode: str, connections: int, seconds: int, *, cpu: bool = False) -> subprocess.Popen[str]:
        self.cpu_before = server_cpu_seconds(self.session) if cpu else None
        return wrk_process(self.url, mode, connections, seconds, self.files)

    def finish(self, process: subprocess.Popen[str]) -> Run:
        if self.cpu_before is None:
            return finish(process)
        return finish(process, self.session, self.cpu_before)


def measure(targets: list[Target], workers: int) -> None:
    """Every measurement REPS times, the services taking turns (the first one changes every round), so that
    the machine's drifting background load falls on both alike; each figure is then a median."""
    results = {id(target): target.service.results.setdefault(workers, Results()) for target in targets}

    def rounds() -> Iterator[Target]:
        for rep in range(REPS):
            yield from targets[rep % len(targets) :] + targets[: rep % len(targets)]

    for target in targets:
        finish(target.run("me", ME_CONNECTIONS, WARMUP_SECONDS))
    for target in rounds():
        results[id(target)].me_runs.append(target.finish(target.run("me", ME_CONNECTIONS, DURATION, cpu=True)))
    for target in rounds():
        time.sleep(SETTLE_SECONDS)  # the last run's queued work (hashes above all) finishes before the timing
        rate = target.service.verifier.measure()
        run = target.finish(target.run("login", LOGIN_CONNECTIONS, DURATION, cpu=True))
        results[id(target)].login_runs.append((rate, run))
    for target in rounds():
        # The storm starts first and ends last, so that every /me request of the run meets it.
        storm = target.run("login", LOGIN_CONNECTIONS, DURATION + 2)
        time.sleep(1)
        results[id(target)].storm_me_runs.append(finish(target.run("me", ME_CONNECTIONS, DURATION)))
        results[id(target)].storm_login_runs.append(finish(storm))


# --------------------------------------------------------------------------------------------- processes


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def process(
    command: list[str], environ: dict[str, str], cwd: Path, logfile: Path, ready: Callable[[], bool]
) -> Iterator[subprocess.Popen[bytes]]:
    with logfile.open("ab") as out:
        proc = subprocess.Popen(
            command, env=environ, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 180
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not start; its log:\n{logfile.read_text()[-3000:]}")
            time.sleep(0.2)
        yield proc
    finally:
        # The process and its children (uvicorn or cluster workers) share the session we gave it.
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def answers(url: str, expected: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == expected
        except httpx.HTTPError:
            return False

    return check


# --------------------------------------------------------------------------------------------- seeding


def cookie_from(response: httpx.Response, name: str) -> str:
    for header in response.headers.get_list("set-cookie"):
        pair = header.split(";", 1)[0]
        if pair.startswith(f"{name}=") and pair != f"{name}=":
            return pair
    raise RuntimeError(f"no {name} cookie in the {response.status_code} response to {response.request.url}")


def user_agent(i: int) -> str:
    return USER_AGENTS[i % len(USER_AGENTS)][1]


def seed(url: str, service: Service) -> None:
    """Register USERS accounts, end the sign-up session, sign in again: one live session per user.

    Users alternate between a browser's User-Agent and a short one: pet_auth keeps it in the session (for the
    list of sessions), so its memory per session depends on it; the peer's does not.
    """

    async def one(client: httpx.AsyncClient, i: int, gate: asyncio.Semaphore) -> str:
        body = {"email": f"bench-{i}@bench.example", "password": PASSWORD}
        agent = {"User-Agent": user_agent(i)}
        async with gate:
            registered = await client.post(f"{url}/api/auth/register", json=body, headers=agent)
            if registered.status_code != 201:
                raise RuntimeError(f"{service.name} register: {registered.status_code} {registered.text}")
            signup = cookie_from(registered, service.cookie_name)
            logout = await client.post(f"{url}/api/auth/logout", headers={"Cookie": signup, **agent})
            if logout.status_code not in (200, 204):
                raise RuntimeError(f"{service.name} logout: {logout.status_code}")
            login = await client.post(f"{url}/api/auth/login", json=body, headers=agent)
            if login.status_code != 200:
                raise RuntimeError(f"{service.name} login: {login.status_code} {login.text}")
            cookie = cookie_from(login, service.cookie_name)
            me = await client.get(f"{url}/api/auth/me", headers={"Cookie": cookie, **agent})
            if me.status_code != 200:
                raise RuntimeError(f"{service.name} /me with a fresh session: {me.status_code}")
            return cookie

    async def run() -> list[str]:
        # Cookies travel only in the headers we set: the client keeps none of its own.
        jar = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
        async with httpx.AsyncClient(cookies=jar, timeout=30) as client:
            gate = asyncio.Semaphore(CORES * 2)
            return list(await asyncio.gather(*(one(client, i, gate) for i in range(USERS))))

    service.cookies = asyncio.run(run())


def session_memory(redis: Redis, keys: list[bytes] | list[str]) -> int:
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    return sum(int(size or 0) for size in pipe.execute())


# --------------------------------------------------------------------------------------------- the run


@dataclass
class Resources:
    ours: dict[str, tuple[str, str]]  # by HTTP server: its database and its Redis namespace
    peer_db: str
    peer_redis_db: int = -1
    peer_baseline: set[bytes] = field(default_factory=set)


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def pick_peer_redis_db() -> tuple[int, set[bytes]]:
    """A logical Redis database that is empty (claimed with a lock key): the peer's sess: keys go there."""
    for number in range(15, 0, -1):
        redis = Redis.from_url(f"{REDIS}/{number}")
        try:
            if redis.dbsize() == 0 and redis.set(PEER_LOCK, "1", nx=True, ex=3600):
                return number, set(redis.scan_iter(match="sess:*", count=1000))
        finally:
            redis.close()
    raise RuntimeError("no empty Redis logical database (1-15) for the peer's sessions")


def cleanup(resources: Resources) -> None:
    for name in [*(db for db, _ in resources.ours.values()), resources.peer_db]:
        try:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except Exception as exc:
            log(f"could not drop database {name}: {exc}")
    ours = Redis.from_url(f"{REDIS}/0")
    try:
        for _, namespace in resources.ours.values():
            keys = list(ours.scan_iter(match=f"{namespace}:*", count=1000))
            for start in range(0, len(keys), 500):
                ours.delete(*keys[start : start + 500])
    finally:
        ours.close()
    if resources.peer_redis_db >= 0:
        peer = Redis.from_url(f"{REDIS}/{resources.peer_redis_db}")
        try:
            keys = [key for key in peer.scan_iter(match="sess:*", count=1000) if key not in resources.peer_baseline]
            for start in range(0, len(keys), 500):
                peer.delete(*keys[start : start + 500])
            peer.delete(PEER_LOCK)
        finally:
            peer.close()


def ours_environment(resources: Resources, http_server: str) -> dict[str, str]:
    """Create the database and schema of pet_auth under `http_server`; the environment of that server."""
    database, namespace = resources.ours[http_server]
    database_url = f"{POSTGRES}/{database}"
    environ = {
        **os.environ,
        "APP_ENV": "production",
        "SESSION_SECRET": secrets.token_urlsafe(48),  # one for the whole run: sessions outlive a restart
        "HOST": "127.0.0.1",
        "DATABASE_URL": database_url,
        "REDIS_URL": f"{REDIS}/0",
        "REDIS_NAMESPACE": namespace,
        "HTTP_SERVER": http_server,
        # Seeding registers USERS accounts from one address; the production default allows 20 per window.
        "RATE_LIMIT_REGISTER_PER_IP": str(USERS * 10),
        # The sign-ups measure the service, not Have I Been Pwned (which the peer does not ask either).
        "BREACHED_PASSWORD_CHECK": "off",
    }
    asyncio.run(_admin(f'CREATE DATABASE "{database}"'))
    subprocess.run(
        [str(Path(PYTHON).parent / "alembic"), "upgrade", "head"],
        cwd=ROOT,
        env=environ,
        check=True,
        capture_output=True,
    )
    return environ


@contextmanager
def serve_ours(service: Service, workers: int, base_env: dict[str, str], tmp: Path) -> Iterator[Target]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environ = {**base_env, "PORT": str(port), "WEB_CONCURRENCY": str(workers)}
    command = [PYTHON, "-m", "pet_auth", "serve"]
    # cwd=tmp: no .env file is read; the settings are exactly the environment above.
    with process(command, environ, tmp, tmp / f"{service.slug}.log", answers(f"{url}/ready", 200)) as server:
        if not service.cookies:
            log(f"{service.name}: seeding {USERS} users")
            seed(url, service)
            measure_memory_ours(service, base_env["REDIS_NAMESPACE"])
        yield Target(service, url, server.pid, write_inputs(service, tmp))


def measure_memory_ours(service: Service, namespace: str) -> None:
    """Each user's sessions are one hash (which is also the per-user index); rate-limit counters are not
    session state. A hash's memory is spread over the sessions it holds: with one session per user, all of it.
    """
    import msgspec

    from pet_auth.http.user_agents import describe_user_agent
    from pet_auth.redis_store.sessions import CREDENTIAL_VERSION, PROFILE, PROFILE_VERSION, SessionRecord

    redis = Redis.from_url(f"{REDIS}/0")
    try:
        keys = list(redis.scan_iter(match=f"{namespace}:session:*", count=1000))
        pipe = redis.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        hashes = cast("list[dict[bytes, bytes]]", pipe.execute())
        for stored in hashes:
            for user_field in (PROFILE, PROFILE_VERSION, CREDENTIAL_VERSION):
                stored.pop(user_field.encode(), None)
        sessions = sum(len(stored) for stored in hashes)
        if sessions != USERS:
            raise RuntimeError(f"expected {USERS} pet_auth sessions in Redis, found {sessions} in {len(keys)} keys")
        by_agent: dict[str, list[float]] = {name: [] for name, _ in USER_AGENTS}
        agents = {describe_user_agent(agent): name for name, agent in USER_AGENTS}
        for key, stored in zip(keys, hashes, strict=True):
            share = session_memory(redis, [key]) / len(stored)
            for raw in stored.values():
                by_agent[agents[msgspec.msgpack.decode(raw, type=SessionRecord).device]].append(share)
    finally:
        redis.close()
    service.bytes_per_session = {name: statistics.mean(sizes) for name, sizes in by_agent.items()}
    service.memory_note = (
        f"one hash per user ({len(keys)} hashes / {sessions} sessions) holding the user's fields once and each "
        "session's own, which is also the per-user index; the User-Agent is kept as a short description"
    )


def peer_environment(resources: Resources) -> dict[str, str]:
    resources.peer_redis_db, resources.peer_baseline = pick_peer_redis_db()
    environ = {
        **os.environ,
        "DATABASE_URL": f"{POSTGRES}/{resources.peer_db}",
        "REDIS_URL": f"{REDIS}/{resources.peer_redis_db}",
    }
    # NODE_ENV stays unset: with NODE_ENV=production the peer marks its cookie Secure and, having no
    # `trust proxy`, then never sends it over plain HTTP, so no session could be seeded at all.
    environ.pop("NODE_ENV", None)
    return environ


@contextmanager
def serve_peer(service: Service, workers: int, base_env: dict[str, str], tmp: Path) -> Iterator[Target]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environ = {**base_env, "PORT": str(port)}
    if workers == 1:
        # The peer's own script: installs its packages once, creates its database and schema, runs server.js.
        command, cwd = [str(PEER_DIR / "run.sh")], tmp
    else:
        environ |= {"PEER_WORKERS": str(workers), "PEER_SERVER": str(PEER_WORK / "server.js")}
        command, cwd = ["node", str(BENCH / "peer_cluster.js")], PEER_WORK
    with process(command, environ, cwd, tmp / "peer.log", answers(f"{url}/api/auth/me", 401)) as server:
        if not service.cookies:
            log(f"{service.name}: seeding {USERS} users")
            seed(url, service)
            measure_memory_peer(service, base_env["REDIS_URL"])
        yield Target(service, url, server.pid, write_inputs(service, tmp))


def measure_memory_peer(service: Service, redis_url: str) -> None:
    # The sid cookie is "s:<id>.<signature>", URL-encoded; the session lives at sess:<id>.
    keys = [f"sess:{unquote(cookie.split('=', 1)[1])[2:].rsplit('.', 1)[0]}" for cookie in service.cookies]
    redis = Redis.from_url(redis_url)
    try:
        if redis.exists(*keys) != len(keys):
            raise RuntimeError("a seeded peer session is missing from Redis")
        sizes = [session_memory(redis, [key]) for key in keys]
    finally:
        redis.close()
    service.bytes_per_session = {
        name: statistics.mean(sizes[i :: len(USER_AGENTS)]) for i, (name, _) in enumerate(USER_AGENTS)
    }
    service.memory_note = f"{statistics.mean(sizes):.0f} B session key (it keeps no User-Agent), no index"


def write_inputs(service: Service, tmp: Path) -> dict[str, Path]:
    files = {"BENCH_COOKIES": tmp / f"{service.slug}_cookies", "BENCH_LOGINS": tmp / f"{service.slug}_logins"}
    files["BENCH_COOKIES"].write_text("\n".join(service.cookies) + "\n")
    files["BENCH_LOGINS"].write_text("".join(f"bench-{i}@bench.example\t{PASSWORD}\n" for i in range(USERS)))
    return files


# --------------------------------------------------------------------------------------------- the table


def table(ours: list[Service], peer: Service) -> str:
    """One column per pet_auth server, the peer's, then each server's ratio to the peer. A target (issue 20) is
    checked for every pet_auth server: ✅/❌ in the order of the columns."""
    rows: list[list[str]] = []

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b else "n/a"

    def verdict(target: str, oks: list[bool]) -> str:
        return f"{target} {''.join('✅' if ok else '❌' for ok in oks)}"

    def add(label: str, values: list[float], peer_value: float, fmt: str, target: str = "") -> None:
        rows.append([
            label, *(format(v, fmt) for v in values), format(peer_value, fmt),
            *(ratio(v, peer_value) for v in values), target,
        ])  # fmt: skip

    def add_text(label: str, values: list[str], peer_value: str, target: str = "") -> None:
        rows.append([label, *values, peer_value, *([""] * len(values)), target])

    def procs(workers: int) -> str:
        return f"{workers} process{'es' if workers > 1 else ''}"

    for workers in (1, 2):
        me, p = [o.results[workers].me for o in ours], peer.results[workers].me
        add(f"`/me` req/s, {procs(workers)}", [o.rps for o in me], p.rps, ".0f",
            verdict("≥ 3x", [o.rps >= 3 * p.rps for o in me]))  # fmt: skip
        add(f"`/me` p50 ms, {procs(workers)}", [o.p50_ms for o in me], p.p50_ms, ".1f")
        add(f"`/me` p99 ms, {procs(workers)}", [o.p99_ms for o in me], p.p99_ms, ".1f",
            verdict("≤ 0.35x", [o.p99_ms <= 0.35 * p.p99_ms for o in me]) if workers == 1 else "")  # fmt: skip
        add(f"`/me` server CPU µs per request, {procs(workers)}", [o.cpu_us for o in me], p.cpu_us, ".0f")
    for workers in (1, 2):
        results, p = [o.results[workers] for o in ours], peer.results[workers]
        add(f"login req/s, {procs(workers)}", [o.login.rps for o in results], p.login.rps, ".1f")
        add_text(
            f"hash ceiling, logins/s = {CORES} cores ÷ s per verify, {procs(workers)}",
            [f"{CORES / o.verify_seconds:.1f} ({o.verify_seconds * 1000:.1f} ms)" for o in results],
            f"{CORES / p.verify_seconds:.1f} ({p.verify_seconds * 1000:.1f} ms)",
        )
        add_text(f"login % of hash ceiling, {procs(workers)}", [f"{o.share_of_ceiling:.0%}" for o in results],
                 f"{p.share_of_ceiling:.0%}",
                 verdict("≥ 90%", [o.share_of_ceiling >= 0.9 for o in results]) if workers == 1 else "")  # fmt: skip
        add_text(
            f"server CPU ms per login: {' / '.join(THREAD_KINDS)} threads, {procs(workers)}",
            [" / ".join(f"{o.login.cpu_us_by_kind[kind] / 1000:.1f}" for kind in THREAD_KINDS) for o in results],
            f"{p.login.cpu_us / 1000:.1f} (all threads)",
        )
    verifier = ours[0].verifier  # the same argon2id for every server
    add(f"verifies/s with all {CORES} cores verifying at once (no server running)",
        [verifier.all_cores_rate] * len(ours), peer.verifier.all_cores_rate, ".1f")  # fmt: skip
    add_text("the same, % of the hash ceiling measured with it (a server doing nothing else)",
             [f"{verifier.all_cores_share:.0%}"] * len(ours), f"{peer.verifier.all_cores_share:.0%}")  # fmt: skip
    for workers in (1, 2):
        results, p = [o.results[workers] for o in ours], peer.results[workers]
        add(f"`/me` p99 ms during a login storm, {procs(workers)}", [o.storm_me.p99_ms for o in results],
            p.storm_me.p99_ms, ".1f")  # fmt: skip
        storms = [o.storm_me.p99_ms / o.me.p99_ms for o in results]
        add_text(f"storm p99 ÷ idle p99, {procs(workers)}", [f"{storm:.2f}x" for storm in storms],
                 f"{p.storm_me.p99_ms / p.me.p99_ms:.2f}x",
                 verdict("≤ 1.5x", [storm <= 1.5 for storm in storms]) if workers == 1 else "")  # fmt: skip
        add(f"`/me` req/s during the storm, {procs(workers)}", [o.storm_me.rps for o in results], p.storm_me.rps,
            ".0f")  # fmt: skip
        add(f"logins/s during the storm, {procs(workers)}", [o.storm_login.rps for o in results],
            p.storm_login.rps, ".1f")  # fmt: skip
    for name, agent in USER_AGENTS:
        sizes, p_bytes = [o.bytes_per_session[name] for o in ours], peer.bytes_per_session[name]
        add(f"Redis bytes per session, {name} User-Agent ({len(agent)} chars)", sizes, p_bytes, ".0f",
            verdict("≤ 1x", [size <= p_bytes for size in sizes]))  # fmt: skip
    header = ["Metric", *(o.name for o in ours), peer.name, *(f"{o.name} ÷ peer" for o in ours), "Target (issue 20)"]
    align = ["---", *(["---:"] * (2 * len(ours) + 1)), "---"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def notes(ours: list[Service], peer: Service) -> str:
    errors = {
        f"{service.name} {procs}p {name}": count
        for service in [*ours, peer]
        for procs, results in service.results.items()
        for name, runs in results.all_runs().items()
        if (count := sum(run.errors for run in runs))
    }
    cpu = platform.machine()
    with suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    lines = [
        f"- {time.strftime('%Y-%m-%d %H:%M %Z')}, {CORES} cores ({cpu}), load average before the run "
        f"{LOAD_BEFORE:.1f}. The {len(ours) + 1} services run side by side and take turns under load: each figure is "
        f"the median of {REPS} wrk runs of {DURATION} s ({WRK_THREADS} threads), the order alternating round by round. "
        f"`/me` at {ME_CONNECTIONS} connections rotating over {USERS} seeded sessions, login at {LOGIN_CONNECTIONS} "
        f"connections rotating over the {USERS} accounts. wrk, the services, PostgreSQL and Redis share the cores.",
        "- pet_auth: `python -m pet_auth serve`, APP_ENV=production, a random 48-byte SESSION_SECRET, "
        "`WEB_CONCURRENCY` 1 or 2, once with HTTP_SERVER=uvicorn (uvloop + httptools) and once with "
        "HTTP_SERVER=granian (ASGI, uvloop, HTTP/1), each with a database and Redis namespace of its own; its login "
        "also rotates the session "
        "(new id, new session in the user's Redis hash). Express peer: `../shared/peers/express/run.sh` for 1 process; "
        "for 2, the same server.js under Node's cluster module (`bench/peer_cluster.js`), sharing one port.",
        "- Hash ceiling: cores ÷ the median of 7 single verifies timed in the benchmark process just before each "
        f"login run, {SETTLE_SECONDS} s after the previous run ended (the % rows are medians of the per-run "
        "ratios): pet_auth's "
        f"{ours[0].verifier.label} (a hash made by its PasswordHasher), the peer's "
        f"{peer.verifier.label}. The all-cores rows time one thread per core verifying at once for 3 s before the "
        "servers start: how far the hardware itself falls short of that ceiling when every core hashes.",
        "- Server CPU: user + system time of the server's processes (not PostgreSQL's or Redis's) per request; for "
        "a login, split by thread: each process's main thread (uvicorn's event loop; under Granian the Python side "
        "of its worker, its Rust threads counting as other), the password-hash threads (named so by pet_auth), and "
        "the rest (the log writer, Granian's runtime).",
        f"- Redis: MEMORY USAGE, one live session per user. pet_auth: {ours[0].memory_note}; peer: {peer.memory_note}.",
        "- Errors (socket errors + non-2xx responses): "
        + (", ".join(f"{name}: {count}" for name, count in errors.items()) if errors else "none."),
    ]
    return "\n".join(lines)


def main() -> int:
    if not Path(WRK).exists():
        print("bench: wrk is not installed", file=sys.stderr)
        return 2
    for name, url in (("BENCH_POSTGRES", POSTGRES), ("BENCH_REDIS", REDIS)):
        if not server_answers(url):
            print(f"bench: nothing answers at {name}={url}: start that server or set {name}", file=sys.stderr)
            return 2
    suffix = secrets.token_hex(3)
    # Each namespace is 8 characters, as long as the default "pet_auth": key lengths count in MEMORY USAGE.
    resources = Resources(
        {server: (f"pet_auth_bench_{server}_{suffix}", f"p{server[0]}{suffix}") for server in SERVERS},
        f"express_peer_bench_{suffix}",
    )
    started = time.monotonic()
    argon2id = argon2id_verifier()
    ours = [Service(f"pet_auth, {SERVERS[server]}", server, COOKIE, argon2id) for server in SERVERS]
    peer = Service("Express peer", "peer", "sid", bcrypt_verifier())
    for verifier in (argon2id, peer.verifier):
        verifier.measure_all_cores()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pet_auth_bench_")))
        stack.callback(cleanup, resources)
        ours_envs = {service.slug: ours_environment(resources, service.slug) for service in ours}
        peer_env = peer_environment(resources)
        for workers in (1, 2):
            with ExitStack() as servers:
                targets = [
                    servers.enter_context(serve_ours(service, workers, ours_envs[service.slug], tmp))
                    for service in ours
                ]
                targets.append(servers.enter_context(serve_peer(peer, workers, peer_env, tmp)))
                log(f"measuring all {len(targets)} at {workers} process(es) each, {REPS} rounds")
                measure(targets, workers)
    text = (
        f"{table(ours, peer)}\n\n{notes(ours, peer)}\n\n"
        f"Reproduce: `make bench` (this run took {time.monotonic() - started:.0f} s).\n"
    )
    print(text)
    (BENCH / "results.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
