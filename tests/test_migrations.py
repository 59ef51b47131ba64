"""Alembic owns the schema: it upgrades, downgrades and upgrades again, and the models agree with it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from alembic import command
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.database import alembic_config


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade_on_an_empty_database(create_database: Callable[[], Awaitable[str]]) -> None:
    url = await create_database()
    config = alembic_config(url)
    await asyncio.to_thread(command.upgrade, config, "head")
    assert {"users", "password_reset_tokens"} <= await _tables(url)
    await asyncio.to_thread(command.downgrade, config, "base")
    assert await _tables(url) == {"alembic_version"}
    await asyncio.to_thread(command.upgrade, config, "head")
    assert {"users", "password_reset_tokens"} <= await _tables(url)


async def test_models_and_migrations_agree(database_url: str) -> None:
    # `alembic check` raises when autogenerate would produce any operation.
    await asyncio.to_thread(command.check, alembic_config(database_url))
