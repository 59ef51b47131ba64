"""Engine and unit of work: one transaction, the repositories bound to it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg.exceptions
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from pet_auth.db.repositories import (
    EmailTokenRepository,
    MfaRepository,
    PasskeyRepository,
    ResetTokenRepository,
    SecurityEventRepository,
    UserRepository,
)
from pet_auth.domain.errors import TransactionConflict

T = TypeVar("T")
# Runs of a transaction that PostgreSQL aborted for a concurrent one, before the request gives up (a 503).
TRANSACTION_ATTEMPTS = 3


def create_engine(url: str, *, pool_size: int = 20, transaction_pooler: bool = False) -> AsyncEngine:
    """With `transaction_pooler` (PgBouncer in transaction mode, which knows nothing of prepared statements before
    1.21), each transaction may run on another server connection, so nothing may outlive one:
    - no statement caches (asyncpg's and SQLAlchemy's), and every statement prepared under a name of its own:
      asyncpg numbers names per process, so two processes' would clash on a shared server connection;
    - no autocommit: asyncpg prepares a statement and then executes it in two exchanges, which PgBouncer may
      send to two server connections unless a transaction holds one. Reads then pay a BEGIN and a ROLLBACK, and
      the pre-ping runs in a transaction of its own (SQLAlchemy does so outside autocommit)."""
    connect_args: dict[str, Any] = {"timeout": 3, "command_timeout": 10}
    if transaction_pooler:
        connect_args |= {
            "statement_cache_size": 0,
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": _unique_statement_name,
        }
    return create_async_engine(
        url,
        # Connections beyond pool_size are closed when returned: a pool smaller than the usual concurrency (16
        # logins at once) kept opening and closing PostgreSQL connections, a server process each.
        pool_size=pool_size,
        max_overflow=10,
        pool_timeout=5,
        # A pooled connection broken by a PostgreSQL restart is detected and replaced before use.
        pool_pre_ping=True,
        # Pooled connections rest in autocommit: SQLAlchemy's asyncpg pre-ping is then one statement, not three
        # (outside autocommit it wraps the ping in BEGIN ... ROLLBACK). Transactions ask for READ COMMITTED.
        isolation_level="READ COMMITTED" if transaction_pooler else "AUTOCOMMIT",
        connect_args=connect_args,
        # A failed statement's message would list its parameters (addresses, hashes), and such a message may be
        # logged: keep them out of it.
        hide_parameters=True,
    )


def _is_conflict(exc: DBAPIError) -> bool:
    cause: BaseException | None = exc.orig
    while cause is not None:  # the driver's own exception sits under SQLAlchemy's and its adapter's
        if isinstance(cause, asyncpg.exceptions.TransactionRollbackError):
            return True
        cause = cause.__cause__
    return False


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4().hex}__"


@dataclass(frozen=True, slots=True)
class Repositories:
    users: UserRepository
    reset_tokens: ResetTokenRepository
    email_tokens: EmailTokenRepository
    mfa: MfaRepository
    security_events: SecurityEventRepository
    passkeys: PasskeyRepository


def _repositories(connection: AsyncConnection) -> Repositories:
    return Repositories(
        users=UserRepository(connection),
        reset_tokens=ResetTokenRepository(connection),
        email_tokens=EmailTokenRepository(connection),
        mfa=MfaRepository(connection),
        security_events=SecurityEventRepository(connection),
        passkeys=PasskeyRepository(connection),
    )


class Database:
    """Repositories run Core statements on a connection. Every statement of the service is explicit, so the ORM
    session's identity map and flushes would only add work (measured: docs/performance.md).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._transactional = engine.execution_options(isolation_level="READ COMMITTED")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Repositories]:
        """Commits when the block ends normally, rolls back when it raises; one that PostgreSQL aborts for a
        concurrent transaction (SQLSTATE class 40: deadlock, serialization failure) is a `TransactionConflict`."""
        try:
            async with self._transactional.begin() as connection:
                yield _repositories(connection)
        except DBAPIError as exc:
            if _is_conflict(exc):
                raise TransactionConflict from exc
            raise

    async def retrying(self, work: Callable[[Repositories], Awaitable[T]]) -> T:
        for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
            try:
                async with self.transaction() as repos:
                    return await work(repos)
            except TransactionConflict:
                if attempt == TRANSACTION_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Repositories]:
        """For one read-only statement, which needs no transaction around it: no BEGIN and COMMIT round trips
        (the login's lookup of the credentials is on every sign-in)."""
        async with self.engine.connect() as connection:
            yield _repositories(connection)

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
