"""Every exception that means "PostgreSQL or Redis can't serve now" is a 503 `service_unavailable`, classified by
its type, never by its message; an exception that means a bug stays a 500.

Each class is raised, as the driver and SQLAlchemy raise it, from a route of the real app. The cases a real
server can produce on demand are also produced by one (here and in test_outages.py)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg
import pytest
import redis.asyncio.sentinel
import redis.exceptions
import sqlalchemy.exc
from litestar import Litestar, get
from litestar.testing import AsyncTestClient
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.engine import make_url

from pet_auth.app import create_app
from pet_auth.config import Settings
from tests.support.clients import API_ORIGIN, PASSWORD, MakeClient, register, unique_email
from tests.support.servers import Servers


def raised_by_sqlalchemy(driver_error: Exception) -> sqlalchemy.exc.DBAPIError:
    """What SQLAlchemy's asyncpg dialect raises for a driver error: its own class around the adapter's DB-API
    error, which carries the driver's exception as its cause."""
    dbapi = AsyncAdapt_asyncpg_dbapi(asyncpg)  # type: ignore[no-untyped-call]
    translate = dbapi._asyncpg_error_translate
    adapted_class = next(translate[base] for base in type(driver_error).__mro__ if base in translate)
    adapted = adapted_class(str(driver_error), driver_error)
    adapted.__cause__ = driver_error
    wrapped: sqlalchemy.exc.DBAPIError = sqlalchemy.exc.DBAPIError.instance("SELECT 1", None, adapted, dbapi.Error)
    return wrapped


UNAVAILABLE = {
    "postgres starting up": raised_by_sqlalchemy(asyncpg.CannotConnectNowError("the database system is starting up")),
    "postgres shutting down": raised_by_sqlalchemy(asyncpg.AdminShutdownError("terminating connection")),
    "postgres crashed": raised_by_sqlalchemy(asyncpg.CrashShutdownError("terminating connection")),
    "too many connections": raised_by_sqlalchemy(asyncpg.TooManyConnectionsError("too many clients already")),
    "connection gone": raised_by_sqlalchemy(asyncpg.ConnectionDoesNotExistError("connection was closed")),
    "statement cancelled": raised_by_sqlalchemy(asyncpg.QueryCanceledError("canceling statement")),
    "connection reset": ConnectionResetError("reset by peer"),  # an OSError reaches us unwrapped
    "connection refused": ConnectionRefusedError("connection refused"),
    "timeout": TimeoutError(),
    "pool exhausted": sqlalchemy.exc.TimeoutError("QueuePool limit reached"),
    "redis refused": redis.exceptions.ConnectionError("Error 111 connecting"),
    "redis timeout": redis.exceptions.TimeoutError("Timeout reading from socket"),
    "redis loading": redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"),
    "redis pool exhausted": redis.exceptions.MaxConnectionsError("Too many connections"),
    "redis read-only replica": redis.exceptions.ReadOnlyError("You can't write against a read only replica."),
    "redis master down": redis.exceptions.MasterDownError("Link with MASTER is down"),
    "redis cluster down": redis.exceptions.ClusterDownError("The cluster is down"),
    "redis try again": redis.exceptions.TryAgainError("Multiple keys request during rehashing of slot"),
    "sentinel: no master yet": redis.asyncio.sentinel.MasterNotFoundError("No master found for 'mymaster'"),
    "cluster: slot not served": redis.exceptions.SlotNotCoveredError("Slot 1234 is not covered by the cluster"),
}

# Bugs, whatever their messages say: a 500.
NOT_UNAVAILABLE = {
    "unique violation": raised_by_sqlalchemy(asyncpg.UniqueViolationError("connection refused, says the message")),
    "syntax error": raised_by_sqlalchemy(asyncpg.PostgresSyntaxError("database system is starting up")),
    "redis wrong type": redis.exceptions.ResponseError("WRONGTYPE timeout connection"),
}


@asynccontextmanager
async def client_raising(settings: Settings, error: Exception) -> AsyncIterator[AsyncTestClient[Litestar]]:
    @get("/raise", sync_to_thread=False)
    def raising() -> None:
        raise error

    app = create_app(settings)
    app.register(raising)
    async with AsyncTestClient(app, base_url=API_ORIGIN) as client:
        yield client


@pytest.mark.parametrize("name", UNAVAILABLE)
async def test_each_class_of_unavailability_is_a_503(name: str, settings: Settings) -> None:
    async with client_raising(settings, UNAVAILABLE[name]) as client:
        response = await client.get("/raise")
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "service_unavailable"


@pytest.mark.parametrize("name", NOT_UNAVAILABLE)
async def test_other_errors_are_a_500_whatever_their_message(name: str, settings: Settings) -> None:
    async with client_raising(settings, NOT_UNAVAILABLE[name]) as client:
        response = await client.get("/raise")
        assert response.status_code == 500, response.text
        assert response.json()["code"] == "internal_error"


async def test_too_many_connections_on_a_real_server_is_a_503_and_not_an_attempt(
    servers: Servers, database_url: str, make_client: MakeClient, make_settings: Callable[..., Settings]
) -> None:
    """PostgreSQL refuses a role past its connection limit with TooManyConnectionsError (SQLSTATE 53300)."""
    role = f"pet_auth_test_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(make_url(servers.postgres_url).render_as_string(hide_password=False))
    await admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
    try:
        email = unique_email()
        await register(await make_client(), email)
        limited = await make_client(
            database_url=make_url(database_url).set(username=role).render_as_string(hide_password=False),
            rate_limit_login_per_account=2,
        )
        login = {"email": email, "password": PASSWORD}
        for _ in range(4):  # twice the account's limit
            response = await limited.post("/api/auth/login", json=login)
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "service_unavailable"
        # None of them counted: the same settings on a working connection sign in.
        fresh = await make_client(rate_limit_login_per_account=2)  # the same Redis namespace, a working database
        assert (await fresh.post("/api/auth/login", json=login)).status_code == 200
    finally:
        await admin.execute(f'DROP ROLE "{role}"')
        await admin.close()
