"""The unit of work: transactions are atomic; single reads run without one (issue 8: fewer round trips)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg.exceptions
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from pet_auth.db.database import TRANSACTION_ATTEMPTS, Database, create_engine
from pet_auth.domain.errors import TransactionConflict
from pet_auth.domain.ports import Repositories
from pet_auth.http.errors import status_of
from tests.support.clients import unique_email


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(create_engine(database_url, pool_size=1))
    yield database
    await database.engine.dispose()


async def transaction_states(db: AsyncEngine, database_url: str) -> list[str]:
    """The states of the other sessions on the test database (`idle`, `idle in transaction`, ...)."""
    name = database_url.rsplit("/", 1)[1]
    async with db.connect() as connection:
        rows = await connection.execute(
            text("SELECT state FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"),
            {"name": name},
        )
        return [row.state for row in rows]


async def test_a_transaction_that_fails_writes_nothing(database: Database) -> None:
    email = unique_email()

    async def write_then_fail() -> None:
        async with database.transaction() as repos:
            await repos.users.add(email, "not-a-real-hash")
            async with database.read() as other:  # another connection does not see it before the commit
                assert await other.users.get_id_by_email(email) is None
            raise RuntimeError("the unit of work fails after its write")

    with pytest.raises(RuntimeError):
        await write_then_fail()
    async with database.read() as repos:
        assert await repos.users.get_id_by_email(email) is None


async def test_a_transaction_commits_its_writes(database: Database) -> None:
    email = unique_email()
    async with database.transaction() as repos:
        credentials = await repos.users.add(email, "not-a-real-hash")
    async with database.read() as repos:
        assert await repos.users.get_id_by_email(email) == credentials.user.id


async def test_a_read_holds_no_transaction_open(database: Database, db: AsyncEngine, database_url: str) -> None:
    async with database.transaction() as repos:
        await repos.users.get_id_by_email(unique_email())
        assert "idle in transaction" in await transaction_states(db, database_url)
    async with database.read() as repos:
        await repos.users.get_id_by_email(unique_email())
        assert "idle in transaction" not in await transaction_states(db, database_url)


async def test_a_failed_statement_does_not_list_its_parameters(database: Database) -> None:
    # Such an error is logged as unexpected: SQLAlchemy's message must not list the address it was given.
    email = unique_email("secret")
    async with database.engine.connect() as connection:
        with pytest.raises(Exception, match="division by zero") as caught:
            await connection.execute(text("SELECT CAST(:value AS text), 1 / 0"), {"value": email})
    assert email not in str(caught.value)


async def test_a_burst_of_concurrent_reads_reuses_the_pooled_connections(database_url: str) -> None:
    """A connection opened for a burst stays for the next one: PostgreSQL starts a process per connection (and a
    connection setup costs more than the read), so a pool that closed its overflow after each burst spent the
    difference on every login storm (issue 20: 16 concurrent logins opened a connection for one in three)."""
    engine = create_engine(database_url)
    burst = 16

    async def backend_pids() -> set[int]:
        async def one() -> int:
            async with engine.connect() as connection:
                pid = await connection.scalar(text("SELECT pg_backend_pid()"))
                await asyncio.sleep(0.05)  # all of the burst's connections are out at once
                return int(pid)

        return set(await asyncio.gather(*(one() for _ in range(burst))))

    try:
        first = await backend_pids()
        assert len(first) == burst
        assert await backend_pids() == first
    finally:
        await engine.dispose()


@pytest.fixture
async def two_connections(database_url: str) -> AsyncIterator[Database]:
    database = Database(create_engine(database_url, pool_size=2))
    yield database
    await database.engine.dispose()


async def test_a_transaction_aborted_by_a_deadlock_runs_again(two_connections: Database) -> None:
    """Two transactions locking two users in opposite orders deadlock; PostgreSQL aborts one (40P01), which runs
    again once the other has committed, instead of answering an error."""
    async with two_connections.transaction() as repos:
        first = (await repos.users.add(unique_email(), "not-a-real-hash")).user.id
        second = (await repos.users.add(unique_email(), "not-a-real-hash")).user.id
    both_hold_one = asyncio.Barrier(2)
    runs: list[int] = []

    def locking(one: int, other: int) -> Callable[[Repositories], Awaitable[None]]:
        async def work(repos: Repositories) -> None:
            runs.append(one)
            await repos.users.lock(one)
            if runs.count(one) == 1:
                await both_hold_one.wait()
            await repos.users.lock(other)

        return work

    await asyncio.wait_for(
        asyncio.gather(
            two_connections.retrying(locking(first, second)), two_connections.retrying(locking(second, first))
        ),
        timeout=30,
    )
    # Both committed, and PostgreSQL aborted at least one run on the way.
    assert set(runs) == {first, second}
    assert len(runs) > 2


async def test_a_transaction_that_keeps_conflicting_is_a_conflict_not_a_500(database: Database) -> None:
    attempts = 0

    async def always_aborted(repos: Repositories) -> None:
        nonlocal attempts
        attempts += 1
        await repos.users.get_id_by_email("nobody@example.com")
        raise DBAPIError("SELECT 1", None, asyncpg.exceptions.SerializationError("could not serialize access"))

    with pytest.raises(TransactionConflict):
        await database.retrying(always_aborted)
    assert attempts == TRANSACTION_ATTEMPTS
    assert status_of(TransactionConflict) == 503
