"""Throwaway databases: the admin connection that creates and drops them, and Alembic pointed at one."""

from __future__ import annotations

import asyncpg
from alembic.config import Config
from sqlalchemy.engine import make_url

from tests.support import ROOT


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    return config


async def admin_connection(postgres_url: str) -> asyncpg.Connection:
    """A connection to the server's maintenance database, which can create and drop the run's databases."""
    url = make_url(postgres_url)
    return await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, database=url.database
    )
