"""Fixtures: real PostgreSQL and Redis, a throwaway database and Redis prefix per run, apps built from settings.

Only fixtures (and pytest's hooks) live here; the helpers the tests import are in tests/support/."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from alembic import command
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from pet_auth.app import create_app
from pet_auth.config import Settings, load_settings
from tests.support.clients import API_ORIGIN, SPA_ORIGIN, Client, MakeClient
from tests.support.database import admin_connection, alembic_config
from tests.support.servers import Servers, find_servers
from tests.support.smtp import MailSink, running_sink
from tests.support.tiers import tier_of


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test gets the marker of its tier (unit, api, topology, contract, e2e), by its file: see
    tests/support/tiers.py."""
    for item in items:
        item.add_marker(tier_of(item.path))


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    try:
        with find_servers() as found:
            yield found
    except RuntimeError as exc:
        pytest.exit(str(exc), returncode=1)


@pytest.fixture(scope="session")
async def create_database(servers: Servers) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Makes empty throwaway databases (asyncpg URLs); drops them all at the end of the run."""
    created: list[str] = []
    admin = await admin_connection(servers.postgres_url)

    async def create() -> str:
        name = f"pet_auth_test_{secrets.token_hex(6)}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        url = make_url(servers.postgres_url).set(drivername="postgresql+asyncpg", database=name)
        return url.render_as_string(hide_password=False)

    yield create
    for name in created:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture(scope="session")
async def database_url(create_database: Callable[[], Awaitable[str]]) -> str:
    """The run's database, migrated to head by Alembic (never create_all)."""
    url = await create_database()
    # Alembic's env.py runs its own event loop, so it runs beside this one.
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
    return url


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    """For tests that inspect or arrange rows directly."""
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def redis(servers: Servers) -> AsyncIterator[Redis]:
    client = Redis.from_url(servers.redis_url)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
async def run_namespace(redis: Redis) -> AsyncIterator[str]:
    """The run's Redis key prefix; every key under it is removed at the end."""
    namespace = f"pet_auth_test_{secrets.token_hex(6)}"
    yield namespace
    async for key in redis.scan_iter(match=f"{namespace}:*", count=1000):
        await redis.unlink(key)


@pytest.fixture
def make_settings(servers: Servers, database_url: str, run_namespace: str) -> Callable[..., Settings]:
    """Settings for one test: its own Redis prefix (so limits and sessions never leak between tests)."""
    namespace = f"{run_namespace}:{secrets.token_hex(4)}"

    def make(**overrides: Any) -> Settings:
        environ = {
            "APP_ENV": "test",
            "DATABASE_URL": database_url,
            "REDIS_URL": servers.redis_url,
            "REDIS_NAMESPACE": namespace,
            "SESSION_SECRET": "test-secret-" + "x" * 40,
            "CORS_ORIGINS": SPA_ORIGIN,
            "FRONTEND_URL": SPA_ORIGIN,
            # Also under APP_ENV=production: the suite never asks the public range API of breached passwords
            # (tests/test_breached_passwords.py runs one of its own).
            "BREACHED_PASSWORD_CHECK": "off",
        }
        environ.update({key.upper(): str(value) for key, value in overrides.items()})
        return load_settings(environ, env_file=None)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def make_client(make_settings: Callable[..., Settings]) -> AsyncIterator[MakeClient]:
    """Builds an app from settings (with overrides) and a client for it; all are closed after the test."""
    async with AsyncExitStack() as stack:

        async def make(settings: Settings | None = None, **overrides: Any) -> Client:
            app = create_app(settings or make_settings(**overrides))
            return await stack.enter_async_context(AsyncTestClient(app, base_url=API_ORIGIN))

        yield make


@pytest.fixture
async def client(make_client: MakeClient) -> Client:
    return await make_client()


@pytest.fixture
def smtp() -> Iterator[MailSink]:
    """A real SMTP server in this process (aiosmtpd) that keeps every mail it gets."""
    with running_sink() as sink:
        yield sink


@pytest.fixture
def mail_settings(make_settings: Callable[..., Settings], smtp: MailSink) -> Settings:
    """Settings whose mail goes to `smtp`."""
    return make_settings(**smtp.settings)
