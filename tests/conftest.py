"""Fixtures: real PostgreSQL and Redis, a throwaway database and Redis prefix per run, apps built from settings."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from alembic import command
from alembic.config import Config
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from pet_auth.app import create_app
from pet_auth.config import Settings, load_settings
from tests.servers import Servers, find_servers
from tests.smtp import MailSink, running_sink

ROOT = Path(__file__).resolve().parent.parent
API_ORIGIN = "http://testserver.local"
SPA_ORIGIN = "http://localhost:5173"
PASSWORD = "correct horse battery staple"

Client = AsyncTestClient[Any]
MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    try:
        with find_servers() as found:
            yield found
    except RuntimeError as exc:
        pytest.exit(str(exc), returncode=1)


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    return config


async def _admin(servers: Servers) -> asyncpg.Connection:
    url = make_url(servers.postgres_url)
    return await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, database=url.database
    )


@pytest.fixture(scope="session")
async def create_database(servers: Servers) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Makes empty throwaway databases (asyncpg URLs); drops them all at the end of the run."""
    created: list[str] = []
    admin = await _admin(servers)

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


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{secrets.token_hex(5)}@example.com"


def forget_device(client: Client) -> None:
    """Drop the device cookie, so that the client's next sign-in comes from a device the account never saw."""
    for name in [name for name in client.cookies if name.endswith("pet_auth_device")]:
        client.cookies.delete(name)


async def register(client: Client, email: str | None = None, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/api/auth/register", json={"email": email or unique_email(), "password": password})
    assert response.status_code == 201, response.text
    return msgspec.json.decode(response.content)["user"]  # type: ignore[no-any-return]
