"""CPU per `GET /api/auth/me` of the app alone: no HTTP server, no client, no socket of its own.

    .venv/bin/python bench/app_only.py [--src PATH] [--rounds N] [--origin]

Builds the app as `python -m pet_auth serve` does (`app_from_env`, production settings, a throwaway database and
Redis namespace on the local servers, removed at the end), signs one user in, then calls the ASGI app directly,
64 `/me` requests at a time (so that their session reads are batched as under load), and prints the CPU time of
the process per request for each round of 6 400, then the least, the first quartile and the median. The least is
the figure to compare: on a shared machine the background load only ever adds to it.

`--origin` sends the SPA's `Origin` with each request, as a browser does for every cross-origin fetch (wrk in
`make bench` sends none). `--src` runs another checkout's code (`git worktree add /tmp/before <commit>`, then
`--src /tmp/before/src`): alternate the two a few times to compare a change.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import uvloop
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379")
CONCURRENCY, PER_ROUND = 64, 6400
PASSWORD = "bench-load-Passw0rd-7f3a"  # a throwaway account's
SPA_ORIGIN = "http://localhost:5173"

Message = dict[str, Any]


async def call(
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> list[Message]:
    """One request through the ASGI app; the messages it sent back."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "state": {},
        "headers": [(b"host", b"127.0.0.1:3000"), *headers], "client": ("127.0.0.1", 5555),
        "server": ("127.0.0.1", 3000),
    }  # fmt: skip
    received = False

    async def receive() -> Message:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # never disconnects
        raise AssertionError

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@asynccontextmanager
async def running(app: Any) -> AsyncIterator[None]:
    """The app's startup and, at the end, its shutdown, as a server's lifespan protocol drives them."""
    messages: asyncio.Queue[Message] = asyncio.Queue()
    started, stopped = asyncio.Event(), asyncio.Event()

    async def send(message: Message) -> None:
        (started if message["type"].startswith("lifespan.startup.") else stopped).set()

    await messages.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, messages.get, send))
    await started.wait()
    try:
        yield
    finally:
        await messages.put({"type": "lifespan.shutdown"})
        await stopped.wait()
        await task


async def sign_in(app: Any) -> bytes:
    body = json.dumps({"email": "app-only@bench.example", "password": PASSWORD}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    for path in ("/api/auth/register", "/api/auth/login"):
        start = (await call(app, "POST", path, headers, body))[0]
        assert start["status"] in (200, 201), start
    return next(
        value.split(b";")[0]
        for name, value in start["headers"]
        if name == b"set-cookie" and value.startswith(b"__Host-pet_auth_session=")
    )


async def measure(rounds: int, origin: bool) -> list[float]:
    from pet_auth.app import app_from_env

    print(f"pet_auth from {Path(sys.modules['pet_auth'].__file__ or '').parent}", file=sys.stderr)
    app = app_from_env()
    async with running(app):
        headers = [(b"cookie", await sign_in(app)), (b"user-agent", b"wrk")]
        if origin:
            headers.append((b"origin", SPA_ORIGIN.encode()))
        cpu_per_request = []
        for _ in range(rounds):
            started = time.process_time()
            for _ in range(PER_ROUND // CONCURRENCY):
                replies = await asyncio.gather(*(call(app, "GET", "/api/auth/me", headers) for _ in range(CONCURRENCY)))
                assert all(reply[0]["status"] == 200 for reply in replies), replies[0]
            cpu_per_request.append((time.process_time() - started) / PER_ROUND * 1e6)
            print(f"round: {cpu_per_request[-1]:.1f} µs", file=sys.stderr)
    return cpu_per_request


async def admin(statement: str) -> None:
    connection = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the pet_auth source tree to run")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--origin", action="store_true", help=f"send Origin: {SPA_ORIGIN}")
    args = parser.parse_args()
    sys.path.insert(0, str(args.src.resolve()))
    suffix = secrets.token_hex(3)
    database, namespace = f"pet_auth_app_only_{suffix}", f"a{suffix}"
    os.environ.update({
        "APP_ENV": "production",
        "SESSION_SECRET": secrets.token_urlsafe(48),
        "DATABASE_URL": f"{POSTGRES}/{database}",
        "REDIS_URL": f"{REDIS}/0",
        "REDIS_NAMESPACE": namespace,
        "CORS_ORIGINS": SPA_ORIGIN,
        "BREACHED_PASSWORD_CHECK": "off",  # the CPU of the app alone: no call to Have I Been Pwned
    })  # fmt: skip
    asyncio.run(admin(f'CREATE DATABASE "{database}"'))
    try:
        alembic = str(Path(sys.executable).parent / "alembic")
        subprocess.run([alembic, "upgrade", "head"], cwd=ROOT, check=True, capture_output=True)
        results = uvloop.run(measure(args.rounds, args.origin))
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        asyncio.run(drop_namespace(namespace))
    quartile = statistics.quantiles(results, n=4, method="inclusive")[0] if len(results) > 1 else results[0]
    print(
        f"{args.src}: CPU per /me, µs: least {min(results):.1f}, first quartile {quartile:.1f}, "
        f"median {statistics.median(results):.1f} ({args.rounds} rounds of {PER_ROUND}"
        f"{', with Origin' if args.origin else ''})"
    )
    return 0


async def drop_namespace(namespace: str) -> None:
    redis = Redis.from_url(f"{REDIS}/0")
    try:
        keys = [key async for key in redis.scan_iter(match=f"{namespace}:*", count=1000)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


if __name__ == "__main__":
    sys.exit(main())
