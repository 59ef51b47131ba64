"""The service through PgBouncer (Debian's 1.18) in transaction mode with a pool of 3 server connections: 24
concurrent journeys, no 500. Migrations go to PostgreSQL directly (MIGRATION_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from pet_auth.db.database import Database, create_engine
from tests.support import ROOT
from tests.support.clients import PASSWORD, unique_email
from tests.support.live_server import live_server
from tests.support.servers import Servers
from tests.support.topologies import PgBouncer, pgbouncer
from tools.devinfra import free_port

NEW_PASSWORD = "another horse, another battery"
JOURNEYS = 24


@pytest.fixture(scope="module")
def bouncer(servers: Servers) -> Iterator[PgBouncer]:
    postgres = make_url(servers.postgres_url)
    with pgbouncer(postgres.host or "127.0.0.1", postgres.port or 5432, pool_size=3) as started:
        yield started


def through(bouncer: PgBouncer, database_url: str) -> str:
    """The same database, by way of PgBouncer."""
    return make_url(database_url).set(port=bouncer.port).render_as_string(hide_password=False)


async def journey(url: str) -> list[tuple[str, int]]:
    """register, me, logout, login, change-password, me, forgot; each step's name and status."""
    email = unique_email("pooled")
    steps: list[tuple[str, int]] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def step(name: str, method: str, path: str, body: dict[str, str] | None = None) -> None:
            steps.append((name, (await client.request(method, path, json=body)).status_code))

        await step("register", "POST", "/api/auth/register", {"email": email, "password": PASSWORD})
        await step("me", "GET", "/api/auth/me")
        await step("logout", "POST", "/api/auth/logout")
        await step("login", "POST", "/api/auth/login", {"email": email, "password": PASSWORD})
        change = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
        await step("change-password", "POST", "/api/auth/change-password", change)
        await step("me again", "GET", "/api/auth/me")
        await step("forgot", "POST", "/api/auth/forgot-password", {"email": email})
    return steps


EXPECTED = [
    ("register", 201),
    ("me", 200),
    ("logout", 204),
    ("login", 200),
    ("change-password", 204),
    ("me again", 200),
    ("forgot", 202),
]


async def test_concurrent_journeys_through_a_transaction_pooler(
    make_settings: Callable[..., Any], bouncer: PgBouncer, database_url: str
) -> None:
    settings = make_settings(
        database_url=through(bouncer, database_url),
        database_transaction_pooler=True,
        rate_limit_register_per_ip=1000,
        rate_limit_login_per_ip=1000,
        rate_limit_forgot_per_ip=1000,
    )
    # Two worker processes: their statements' names must not clash on PgBouncer's shared server connections.
    with live_server(settings, workers=2) as server:
        results = await asyncio.gather(*(journey(server.url) for _ in range(JOURNEYS)))
    failed = [steps for steps in results if steps != EXPECTED]
    assert not failed, f"{len(failed)} of {JOURNEYS} journeys went wrong, e.g. {failed[0]}"


async def test_pre_ping_and_transactions_work_through_the_pooler(bouncer: PgBouncer, database_url: str) -> None:
    """The pooled connection's pre-ping, a read outside a transaction and a transaction all run on whichever
    server connection PgBouncer lends, again and again (more than the pool holds)."""
    database = Database(create_engine(through(bouncer, database_url), pool_size=5, transaction_pooler=True))
    try:
        for _ in range(3):
            await asyncio.gather(*(database.ping() for _ in range(10)))
            async with database.read() as repos:
                assert await repos.users.get_credentials_by_email(unique_email("nobody")) is None
            async with database.transaction() as repos:
                assert await repos.users.get_credentials_by_email(unique_email("nobody")) is None
    finally:
        await database.engine.dispose()


def test_migrations_go_to_the_migration_url(database_url: str) -> None:
    """DATABASE_URL names a pooler that is not even there: Alembic uses MIGRATION_DATABASE_URL."""
    unreachable = make_url(database_url).set(port=free_port()).render_as_string(hide_password=False)
    # As `make migrate` runs it: in development, where no SESSION_SECRET is asked for.
    environ = {
        **os.environ,
        "APP_ENV": "development",
        "DATABASE_URL": unreachable,
        "MIGRATION_DATABASE_URL": database_url,
    }
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=environ, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    del environ["MIGRATION_DATABASE_URL"]
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=environ, capture_output=True, timeout=60
    )
    assert result.returncode != 0  # without it, DATABASE_URL: the missing pooler
