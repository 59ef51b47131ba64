"""Operator commands: `python -m pet_auth serve|create-db|purge|openapi|check` (`purge-tokens`: the former name of
`purge`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import NoReturn

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

    try:
        asyncio.run(create())
    except (OSError, asyncpg.PostgresError) as exc:
        # Refused, unreachable, or a wrong user or password: one line, never a traceback.
        _fail(_database_unusable(settings, exc))


def _purge(settings: Settings) -> None:
    """Delete used and expired links, and activity log events older than SECURITY_EVENTS_RETENTION_DAYS."""
    from pet_auth.db.database import Database, create_engine

    async def purge() -> tuple[int, int]:
        engine = create_engine(
            settings.async_database_url, pool_size=1, transaction_pooler=settings.database_transaction_pooler
        )
        db = Database(engine)
        try:
            async with db.transaction() as repos:
                links = await repos.reset_tokens.purge_dead() + await repos.email_tokens.purge_dead()
                events = await repos.security_events.purge_older_than(settings.security_events_retention_days)
                return links, events
        finally:
            await db.engine.dispose()

    from sqlalchemy.exc import DBAPIError

    try:
        links, events = asyncio.run(purge())
    except (OSError, DBAPIError) as exc:
        _fail(_database_unusable(settings, exc))
    print(f"purged {links} used or expired reset and email links")
    print(f"purged {events} security events older than {settings.security_events_retention_days} days")


def _database_unusable(settings: Settings, exc: BaseException) -> str:
    from pet_auth.reachability import redact

    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return (
        f"PostgreSQL at {redact(settings.database_url)} cannot be used ({reason}): check that it runs and that "
        "DATABASE_URL is right (in development `make dev` starts one)"
    )


def _check(settings: Settings) -> None:
    """Names each server that does not answer, and starts none. Status 3 for that, so that `make start` tells it
    from settings that cannot be used (1): it serves anyway in the first case only."""
    from pet_auth.reachability import unanswered

    problems = unanswered(settings)
    if problems:
        _fail("\n".join(problems), status=3)


def _fail(message: str, status: int = 1) -> NoReturn:
    for line in message.splitlines():
        print(f"pet_auth: {line}", file=sys.stderr)
    raise SystemExit(status)


def openapi_document() -> bytes:
    """The OpenAPI document the server serves at /schema/openapi.json, built without a server or any connection
    (creating the app connects nothing). Test settings: the document does not depend on the environment."""
    import msgspec

    from pet_auth.app import create_app

    document = create_app(Settings(app_env="test")).openapi_schema.to_schema()
    return msgspec.json.format(msgspec.json.encode(document), indent=2) + b"\n"


APP = "pet_auth.app:app_from_env"


def _serve(settings: Settings, reload: bool) -> None:
    internal = settings.metrics_address if settings.metrics_enabled else None
    # METRICS_BIND: multiprocess mode whatever the number of workers, so that the one internal server reads the same
    # files whether the app runs in worker processes (several, Granian, --reload) or in this one (uvicorn's single).
    if settings.metrics_enabled and (internal is not None or (settings.web_concurrency > 1 and not reload)):
        directory = _share_metrics(settings)
        if internal is not None:
            _serve_metrics(settings, *internal, directory)
    # Auto-reload (`make dev`) stays with uvicorn, whose reloader restarts on changes under src only.
    if settings.http_server == "granian" and not reload:
        _serve_granian(settings)
    else:
        _serve_uvicorn(settings, reload)


def _serve_granian(settings: Settings) -> None:
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.server import Server

    Server(
        APP,
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.web_concurrency,
        loop=Loops.uvloop,
        http=HTTPModes.http1,  # as uvicorn: a proxy in front speaks HTTP/2 to browsers
        websockets=False,
        log_access=False,
    ).serve()


def _serve_uvicorn(settings: Settings, reload: bool) -> None:
    import uvicorn

    uvicorn.run(
        APP,
        factory=True,
        host=settings.host,
        port=settings.port,
        reload=reload,
        reload_dirs=["src"] if reload else None,
        workers=None if reload else settings.web_concurrency,
        loop="uvloop",
        http="httptools",
        # Forwarded headers are the app's business (FORWARDED_ALLOW_IPS, see app_from_env): uvicorn's own reading
        # of them (trusting 127.0.0.1 by default, and the environment) is off.
        proxy_headers=False,
        access_log=False,
        server_header=False,
    )


def _share_metrics(settings: Settings) -> str:
    """Worker processes write their metrics to files in one directory (prometheus-client's multiprocess mode),
    named by PROMETHEUS_MULTIPROC_DIR before they start; the counts of an earlier run are removed. Before
    prometheus-client is first imported in this process too: it picks its mode then, for good."""
    import os
    import tempfile
    from pathlib import Path

    directory = Path(settings.prometheus_multiproc_dir or tempfile.mkdtemp(prefix="pet_auth-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return str(directory)


def _serve_metrics(settings: Settings, host: str, port: int, directory: str) -> None:
    """METRICS_BIND: the workers' metrics on their internal address, from this process, before any worker starts
    (once: a worker of its own each would fight over the port)."""
    from pet_auth.http.metrics import serve_internal

    try:
        serve_internal(host, port, settings.metrics_token, directory)
    except OSError as exc:
        _fail(f"METRICS_BIND {settings.metrics_bind} cannot be listened on: {exc.strerror or exc}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="pet_auth")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--reload", action="store_true", help="restart on code changes (development, uvicorn)")
    commands.add_parser("create-db", help="create the database named in DATABASE_URL if it does not exist")
    purge_help = "delete used and expired reset and email links, and security events past their retention"
    commands.add_parser("purge", help=purge_help)
    commands.add_parser("purge-tokens", help=f"{purge_help} (the former name of purge)")
    commands.add_parser("openapi", help="print the OpenAPI document (JSON) without starting a server")
    commands.add_parser("check", help="name PostgreSQL or Redis when it does not answer (exit status 3)")
    args = parser.parse_args()
    if args.command == "openapi":
        sys.stdout.buffer.write(openapi_document())
        return
    try:
        settings = load_settings()
    except SettingsError as exc:
        _fail(str(exc))
    if args.command == "serve":
        _serve(settings, args.reload)
    elif args.command == "create-db":
        _create_database(settings)
    elif args.command == "check":
        _check(settings)
    else:  # purge, purge-tokens
        _purge(settings)


if __name__ == "__main__":
    main()
