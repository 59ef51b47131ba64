"""`make bench`, second part: what the service costs as the data grows.

Starts a private redis-server on a free port (never the machine's shared one: a million sessions take hundreds of
megabytes) and pet_auth in its production configuration against it and a throwaway PostgreSQL database, then:

- seeds live sessions directly in Redis, in the service's own format (redis_store/sessions.py: one hash per user, its
  fields and the session under its HMAC digest), through pipelines, up to each size of BENCH_SCALE_SESSIONS
  (default 1000,100000,1000000), and at each size measures GET /api/auth/me with wrk (64 connections, the cookies
  of 1 000 sessions spread over the whole key space) and Redis's memory (`used_memory` growth ÷ sessions);
- inserts BENCH_SCALE_USERS users (default 1 000 000) into PostgreSQL with one INSERT ... SELECT over
  generate_series (all with the same password hash, made by the service's own hasher), and measures login
  throughput over 64 of them.

Prints a markdown table (also written to bench/scale-results.md). Everything it made is removed at the end.
Knobs: BENCH_DURATION (seconds per wrk run, default 5), BENCH_POSTGRES (default postgresql://postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import msgspec
from redis import Redis
from run import DURATION, POSTGRES, PYTHON, ROOT, Run, finish, free_port, log, wrk_process

from pet_auth.domain.passwords import PasswordHasher
from pet_auth.keys import derive_keys
from pet_auth.redis_store.sessions import Profile, SessionRecord, session_handle

SIZES = [int(size) for size in os.environ.get("BENCH_SCALE_SESSIONS", "1000,100000,1000000").split(",")]
USERS = int(os.environ.get("BENCH_SCALE_USERS", "1000000"))
SAMPLE = 1000  # sessions whose cookies wrk rotates over, spread over the key space
LOGINS = 64
CONNECTIONS = 64
NAMESPACE = "pet_auth_scale"
PASSWORD = "scale-bench-Passw0rd-5c1e"  # the throwaway accounts'
IDLE_TIMEOUT = 24 * 3600
BATCH = 5000


@contextmanager
def private_redis(directory: Path) -> Iterator[Redis]:
    port = free_port()
    options = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory)]
    server = subprocess.Popen(["redis-server", *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = Redis(port=port)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except Exception:
                time.sleep(0.05)
        yield client
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=10)


@contextmanager
def throwaway_database() -> Iterator[str]:
    name = f"pet_auth_scale_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        url = f"{POSTGRES}/{name}"
        subprocess.run(
            [PYTHON, "-m", "alembic", "upgrade", "head"],
            cwd=ROOT,
            env={**os.environ, "APP_ENV": "test", "DATABASE_URL": url, "MIGRATION_DATABASE_URL": url},
            check=True,
            capture_output=True,
        )
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(statement: str, database: str = "postgres", *args: object) -> None:
    connection = await asyncpg.connect(f"{POSTGRES}/{database}")
    try:
        await connection.execute(statement, *args)
    finally:
        await connection.close()


@contextmanager
def serve(database_url: str, redis_port: int, secret: str) -> Iterator[str]:
    port = free_port()
    environ = {
        **os.environ,
        "APP_ENV": "production",
        "SESSION_SECRET": secret,
        "DATABASE_URL": database_url,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "REDIS_NAMESPACE": NAMESPACE,
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_LOGIN_PER_IP": "1000000000",
    }
    server = subprocess.Popen([PYTHON, "-m", "pet_auth", "serve"], env=environ, cwd="/", start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def seed_sessions(redis: Redis, secret: bytes, first: int, last: int, sampled: set[int]) -> dict[int, str]:
    """Sessions for users `first`..`last` (one each), stored as the service stores them; the cookies of the
    `sampled` users."""
    cookies: dict[int, str] = {}
    now_ms = time.time_ns() // 1_000_000
    created = (datetime.now(UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    record = SessionRecord(
        issued_at=now_ms // 1000, last_seen_ms=now_ms, device="Chrome 131 on Linux", ip="203.0.113.7"
    )
    session = msgspec.msgpack.encode(record)
    pipe = redis.pipeline(transaction=False)
    for user_id in range(first, last + 1):
        token = f"{user_id}.{secrets.token_urlsafe(32)}"
        if user_id in sampled:
            cookies[user_id] = f"__Host-pet_auth_session={token}"
        profile = msgspec.msgpack.encode(Profile(f"scale-{user_id}@bench.example", created))
        key = f"{NAMESPACE}:session:{{{user_id}}}"
        pipe.hset(key, mapping={"u": profile, "p": 1, "v": 1, session_handle(secret, token): session})
        pipe.expire(key, IDLE_TIMEOUT)
        if len(pipe) >= 2 * BATCH:
            pipe.execute()
    pipe.execute()
    return cookies


def wrk(url: str, mode: str, inputs: dict[str, Path]) -> Run:
    run = finish(wrk_process(url, mode, CONNECTIONS, DURATION, inputs))
    if run.errors:
        raise RuntimeError(f"{mode}: {run.errors} of {run.requests} requests failed")
    return run


def main() -> int:
    secret = secrets.token_urlsafe(48)
    rows: list[str] = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        redis = stack.enter_context(private_redis(tmp))
        database_url = stack.enter_context(throwaway_database())
        url = stack.enter_context(serve(database_url, redis.connection_pool.connection_kwargs["port"], secret))
        baseline = int(redis.info("memory")["used_memory"])
        seeded, cookies = 0, {}
        for size in SIZES:
            step = max(1, size // SAMPLE)
            sampled = set(range(step, size + 1, step))
            started = time.monotonic()
            cookies.update(seed_sessions(redis, derive_keys(secret).session_digest, seeded + 1, size, sampled))
            seeded = size
            log(f"seeded {size} sessions ({time.monotonic() - started:.1f} s)")
            memory = int(redis.info("memory")["used_memory"])
            files = {"BENCH_COOKIES": tmp / "cookies"}
            files["BENCH_COOKIES"].write_text("".join(f"{cookies[user_id]}\n" for user_id in sorted(sampled)))
            me = wrk(url, "me", files)
            rows.append(
                f"| {size:,} | {me.rps:.0f} | {me.p99_ms:.1f} | {(memory - baseline) / size:.0f} | "
                f"{memory / 2**20:.0f} MiB |".replace(",", " ")
            )
        login_row = measure_logins(database_url, url, tmp)
    table = "\n".join(
        [
            "| live sessions in Redis | `/me` req/s | `/me` p99 ms | Redis bytes per session | Redis `used_memory` |",
            "|---:|---:|---:|---:|---:|",
            *rows,
            "",
            "| users in PostgreSQL | login req/s | login p99 ms |",
            "|---:|---:|---:|",
            login_row,
        ]
    )
    print(table)
    (ROOT / "bench" / "scale-results.md").write_text(table + "\n")
    return 0


def measure_logins(database_url: str, url: str, tmp: Path) -> str:
    hasher = PasswordHasher(threads=1)
    try:
        password_hash = asyncio.run(hasher.hash(PASSWORD))
    finally:
        hasher.close()
    started = time.monotonic()
    asyncio.run(
        _admin(
            "INSERT INTO users (email, password_hash) "
            "SELECT 'scale-' || g || '@bench.example', $1 FROM generate_series(1, $2::int) AS g",
            database_url.rsplit("/", 1)[1],
            password_hash,
            USERS,
        )
    )
    asyncio.run(_admin("VACUUM ANALYZE users", database_url.rsplit("/", 1)[1]))
    log(f"inserted {USERS} users ({time.monotonic() - started:.1f} s)")
    step = max(1, USERS // LOGINS)
    files = {"BENCH_LOGINS": tmp / "logins", "BENCH_SET_COOKIES": tmp / "issued"}
    emails = [f"scale-{i}@bench.example" for i in range(step, USERS + 1, step)][:LOGINS]
    files["BENCH_LOGINS"].write_text("".join(f"{email}\t{PASSWORD}\n" for email in emails))
    login = wrk(url, "login", files)
    return f"| {USERS:,} | {login.rps:.1f} | {login.p99_ms:.1f} |".replace(",", " ")


if __name__ == "__main__":
    sys.exit(main())
