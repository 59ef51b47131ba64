"""Settings: one typed object, read from the environment (and `.env` in development) and validated once.

Production is the default: a process whose environment does not say `APP_ENV=development` (or `test`) runs in
production, reads no `.env` file, and refuses to start with settings that are only fit for development.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import msgspec
from dotenv import dotenv_values

EXAMPLE_SESSION_SECRET = "change-me-to-a-random-string-of-at-least-32-bytes"  # noqa: S105 - refused in production
MIN_SECRET_BYTES = 32


class SettingsError(Exception):
    """The configuration cannot be used; the message is one line meant for an operator."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, rename="upper"):
    app_env: Literal["development", "production", "test"] = "production"
    host: str = "127.0.0.1"
    port: int = 3000
    web_concurrency: int = 1
    database_url: str = "postgresql://postgres@127.0.0.1:5432/pet_auth"
    redis_url: str = "redis://127.0.0.1:6379/0"
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
    # The OpenAPI pages (/schema); unset: on in development and test, off in production.
    openapi_enabled: bool | None = None
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated IPs or networks, or *);
    # empty: none, every client is the address that connected.
    forwarded_allow_ips: str = ""

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def serves_openapi(self) -> bool:
        return not self.is_production if self.openapi_enabled is None else self.openapi_enabled

    @property
    def async_database_url(self) -> str:
        """The same URL with the asyncpg driver, whichever plain form was given."""
        scheme, sep, rest = self.database_url.partition("://")
        if scheme in ("postgres", "postgresql", "postgresql+asyncpg"):
            return f"postgresql+asyncpg{sep}{rest}"
        return self.database_url

    @property
    def session_cookie_name(self) -> str:
        # The __Host- prefix makes browsers insist on Secure, Path=/ and no Domain.
        return "__Host-pet_auth_session" if self.is_production else "pet_auth_session"

    @property
    def device_cookie_name(self) -> str:
        return "__Host-pet_auth_device" if self.is_production else "pet_auth_device"


_TUPLE_FIELDS = {"CORS_ORIGINS"}
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
)


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> Settings:
    """Build settings from `environ` (default: the process environment), over the `.env` file when `environ`
    itself says `APP_ENV=development`: a file left lying around can never turn a server into a development one."""
    source = os.environ if environ is None else environ
    raw: dict[str, str | None] = {}
    if source.get("APP_ENV") == "development" and env_file is not None and env_file.is_file():
        raw.update(dotenv_values(env_file))
    raw.update(source)
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
    if "*" in settings.cors_origins:
        raise SettingsError("CORS_ORIGINS must list explicit origins; '*' cannot carry credentials")
    if settings.is_production:
        _check_production(settings)


_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _is_https_or_local(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.hostname  # noqa: B018 - a malformed [IPv6] host raises here
    except ValueError:
        return False
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS


def _check_production(settings: Settings) -> None:
    secret = settings.session_secret
    if secret == EXAMPLE_SESSION_SECRET or len(secret.encode()) < MIN_SECRET_BYTES:
        raise SettingsError(
            "SESSION_SECRET must be set to a random value of at least 32 bytes in production "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
        )
    for origin in settings.cors_origins:
        if not _is_https_or_local(origin):
            raise SettingsError(f"CORS_ORIGINS must list https origins in production, not {origin!r}")
    if not _is_https_or_local(settings.frontend_url):
        raise SettingsError(f"FRONTEND_URL must be an https URL in production, not {settings.frontend_url!r}")
