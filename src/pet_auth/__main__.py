"""Operator commands: `python -m pet_auth serve|create-db|purge-tokens`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from pet_auth.config import Settings, SettingsError, load_settings


def _create_database(settings: Settings) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(settings.async_migration_database_url)  # PostgreSQL itself, not a pooler

    async def create() -> None:
        server = await asyncpg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            database="postgres",
        )
        try:
            exists = await server.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", url.database)
            if not exists:
                await server.execute(f'CREATE DATABASE "{url.database}"')
                print(f"created database {url.database}")
        finally:
            await server.close()

    asyncio.run(create())


def _purge_tokens(settings: Settings) -> None:
    from pet_auth.db.database import Database, create_engine

    async def purge() -> int:
        engine = create_engine(
            settings.async_database_url, pool_size=1, transaction_pooler=settings.database_transaction_pooler
        )
        db = Database(engine)
        try:
            async with db.transaction() as repos:
                return await repos.reset_tokens.purge_dead()
        finally:
            await db.engine.dispose()

    print(f"purged {asyncio.run(purge())} used or expired reset tokens")


def _serve(settings: Settings, reload: bool) -> None:
    import uvicorn

    if settings.metrics_enabled and settings.web_concurrency > 1 and not reload:
        _share_metrics(settings)

    uvicorn.run(
        "pet_auth.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        reload=reload,
        reload_dirs=["src"] if reload else None,
        workers=None if reload else settings.web_concurrency,
        loop="uvloop",
        http="httptools",
        proxy_headers=True,
        access_log=False,
        server_header=False,
    )


def _share_metrics(settings: Settings) -> None:
    """Worker processes write their metrics to files in one directory (prometheus-client's multiprocess mode),
    named by PROMETHEUS_MULTIPROC_DIR before they start; the counts of an earlier run are removed."""
    import os
    import tempfile
    from pathlib import Path

    directory = Path(settings.prometheus_multiproc_dir or tempfile.mkdtemp(prefix="pet_auth-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def main() -> None:
    parser = argparse.ArgumentParser(prog="pet_auth")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    commands.add_parser("create-db", help="create the database named in DATABASE_URL if it does not exist")
    commands.add_parser("purge-tokens", help="delete used and expired password reset tokens")
    args = parser.parse_args()
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"pet_auth: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    if args.command == "serve":
        _serve(settings, args.reload)
    elif args.command == "create-db":
        _create_database(settings)
    else:
        _purge_tokens(settings)


if __name__ == "__main__":
    main()
