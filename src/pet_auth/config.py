"""Settings: one typed object, read from the environment (and `.env` in development) and validated once."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import msgspec
from dotenv import dotenv_values

EXAMPLE_SESSION_SECRET = "change-me-to-a-random-string-of-at-least-32-bytes"  # noqa: S105 - refused in production
MIN_SECRET_BYTES = 32


class SettingsError(Exception):
    """The configuration cannot be used; the message is one line meant for an operator."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, rename="upper"):
    app_env: Literal["development", "production", "test"] = "development"
    host: str = "127.0.0.1"
    port: int = 3000
    web_concurrency: int = 1
    database_url: str = "postgresql://postgres@127.0.0.1:5432/pet_auth"
    # DATABASE_URL names a transaction-mode pooler (PgBouncer): no prepared statement or session state outlives
    # a transaction. Alembic then needs PostgreSQL itself: MIGRATION_DATABASE_URL (default: DATABASE_URL).
    database_transaction_pooler: bool = False
    migration_database_url: str = ""
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Sentinel: the sentinels' `host:port` list and the master's name (REDIS_URL gives db and credentials).
    redis_sentinels: tuple[str, ...] = ()
    redis_sentinel_master: str = "mymaster"
    # Cluster: REDIS_URL names any node.
    redis_cluster: bool = False
    # Replicas that must acknowledge a revocation (WAIT) before it is confirmed; default 1 under Sentinel, else 0.
    redis_wait_replicas: int | None = None
    redis_wait_timeout_ms: int = 500
    # Prefix of every Redis key this service writes; tests give each run its own.
    redis_namespace: str = "pet_auth"
    session_secret: str = EXAMPLE_SESSION_SECRET
    cors_origins: tuple[str, ...] = ("http://localhost:5173",)
    frontend_url: str = "http://localhost:5173"
    session_idle_timeout: int = 24 * 3600
    session_absolute_lifetime: int = 30 * 24 * 3600
    sessions_per_user: int = 32
    reset_token_ttl: int = 3600
    mail_backend: Literal["console", "smtp"] = "console"
    mail_from: str = "Pet Manager <no-reply@localhost>"
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    rate_limit_window_seconds: int = 15 * 60
    rate_limit_login_per_account: int = 10
    rate_limit_login_per_device: int = 10
    rate_limit_login_per_ip: int = 100
    rate_limit_register_per_ip: int = 20
    rate_limit_forgot_per_ip: int = 20
    rate_limit_forgot_per_email: int = 3
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_enabled: bool = False
    # When set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`.
    metrics_token: str = ""
    # Where the worker processes keep their metrics (several workers); default: a fresh temporary directory.
    prometheus_multiproc_dir: str = ""

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def async_database_url(self) -> str:
        return _asyncpg_url(self.database_url)

    @property
    def async_migration_database_url(self) -> str:
        return _asyncpg_url(self.migration_database_url or self.database_url)

    @property
    def wait_replicas(self) -> int:
        if self.redis_wait_replicas is not None:
            return self.redis_wait_replicas
        return 1 if self.redis_sentinels else 0

    @property
    def session_cookie_name(self) -> str:
        # The __Host- prefix makes browsers insist on Secure, Path=/ and no Domain.
        return "__Host-pet_auth_session" if self.is_production else "pet_auth_session"

    @property
    def device_cookie_name(self) -> str:
        return "__Host-pet_auth_device" if self.is_production else "pet_auth_device"


def _asyncpg_url(url: str) -> str:
    """The same URL with the asyncpg driver, whichever plain form was given."""
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgres", "postgresql", "postgresql+asyncpg"):
        return f"postgresql+asyncpg{sep}{rest}"
    return url


_TUPLE_FIELDS = {"CORS_ORIGINS", "REDIS_SENTINELS"}
_POSITIVE_FIELDS = (
    "port",
    "web_concurrency",
    "session_idle_timeout",
    "session_absolute_lifetime",
    "sessions_per_user",
    "reset_token_ttl",
    "smtp_port",
    "rate_limit_window_seconds",
    "rate_limit_login_per_account",
    "rate_limit_login_per_device",
    "rate_limit_login_per_ip",
    "rate_limit_register_per_ip",
    "rate_limit_forgot_per_ip",
    "rate_limit_forgot_per_email",
    "redis_wait_timeout_ms",
)
_HOST_PORT = re.compile(r"[^\s:]+:[0-9]{1,5}|\[[0-9a-fA-F:.]+\]:[0-9]{1,5}")


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> Settings:
    """Build settings from `environ` (default: the process environment) over an optional `.env` file."""
    raw: dict[str, str | None] = {}
    if env_file is not None and env_file.is_file():
        raw.update(dotenv_values(env_file))
    raw.update(os.environ if environ is None else environ)
    names = {f.encode_name for f in msgspec.structs.fields(Settings)}
    values: dict[str, object] = {}
    for name, value in raw.items():
        if name not in names or value is None or value == "":
            continue
        if name in _TUPLE_FIELDS:
            values[name] = tuple(part.strip().rstrip("/") for part in value.split(",") if part.strip())
        else:
            values[name] = value
    try:
        settings = msgspec.convert(values, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"invalid setting: {exc}") from None
    _check(settings)
    return settings


def _check(settings: Settings) -> None:
    for name in _POSITIVE_FIELDS:
        if getattr(settings, name) <= 0:
            raise SettingsError(f"{name.upper()} must be a positive number")
    if settings.redis_cluster and settings.redis_sentinels:
        raise SettingsError("REDIS_CLUSTER and REDIS_SENTINELS name two topologies; set one")
    for address in settings.redis_sentinels:
        if not _HOST_PORT.fullmatch(address):
            raise SettingsError(f"REDIS_SENTINELS must list host:port addresses, not {address!r}")
    if settings.redis_wait_replicas is not None and settings.redis_wait_replicas < 0:
        raise SettingsError("REDIS_WAIT_REPLICAS must be 0 or more")
    if "*" in settings.cors_origins:
        raise SettingsError("CORS_ORIGINS must list explicit origins; '*' cannot carry credentials")
    if settings.is_production:
        secret = settings.session_secret
        if secret == EXAMPLE_SESSION_SECRET or len(secret.encode()) < MIN_SECRET_BYTES:
            raise SettingsError(
                "SESSION_SECRET must be set to a random value of at least 32 bytes in production "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
