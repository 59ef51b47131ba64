"""Settings: one typed object, read from the environment (and `.env` in development) and validated once.

Production is the default: a process whose environment does not say `APP_ENV=development` (or `test`) runs in
production, reads no `.env` file, and refuses to start with settings that are only fit for development.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec
from dotenv import dotenv_values

EXAMPLE_SESSION_SECRET = "change-me-to-a-random-string-of-at-least-32-bytes"  # noqa: S105 - refused in production
MIN_SECRET_BYTES = 32
KEY_BYTES = 32


class SettingsError(Exception):
    """The configuration cannot be used; the message is one line meant for an operator."""


# A count, a size or a duration: zero or less is refused when the settings are read.
Positive = Annotated[int, msgspec.Meta(gt=0)]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
# A minimum password length: NIST SP 800-63B-4 allows no less than 8; more than 64 would refuse passphrases that
# the standard asks verifiers to accept.
PasswordLength = Annotated[int, msgspec.Meta(ge=8, le=64)]
DEFAULT_HIBP_RANGE_URL = "https://api.pwnedpasswords.com/range/"


class Settings(msgspec.Struct, frozen=True, kw_only=True, rename="upper"):
    app_env: Literal["development", "production", "test"] = "production"
    host: str = "127.0.0.1"
    port: Positive = 3000
    web_concurrency: Positive = 1
    # The HTTP server of `python -m pet_auth serve` (docs/performance.md): uvicorn sends no Server header; Granian
    # is faster but names itself in one on every response, which it cannot be told not to do.
    http_server: Literal["uvicorn", "granian"] = "uvicorn"
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
    redis_wait_timeout_ms: Positive = 500
    # Prefix of every Redis key this service writes; tests give each run its own.
    redis_namespace: str = "pet_auth"
    session_secret: str = EXAMPLE_SESSION_SECRET
    cors_origins: tuple[str, ...] = ("http://localhost:5173",)
    frontend_url: str = "http://localhost:5173"
    session_idle_timeout: Positive = 24 * 3600
    session_absolute_lifetime: Positive = 30 * 24 * 3600
    sessions_per_user: Positive = 32
    # Sudo mode: how long after a proof of a factor (sign-in, re-authentication, a sensitive change) a session may
    # make sensitive changes without proving one again.
    sudo_window: Positive = 300
    reset_token_ttl: Positive = 3600
    # A reset also turns off two-factor sign-in turned on less than this many seconds before it (0: never): a
    # phisher holding a session and the password may have turned it on with an authenticator of their own.
    reset_removes_mfa_enabled_within: NonNegative = 86400
    verify_token_ttl: Positive = 24 * 3600
    email_change_token_ttl: Positive = 3600
    # When true, an unverified account gets 403 email_not_verified from change-email, delete-account and any route
    # marked with the `requires_verified_email` guard.
    require_verified_email: bool = False
    mail_backend: Literal["console", "smtp"] = "console"
    mail_from: str = "Pet Manager <no-reply@localhost>"
    smtp_host: str = "localhost"
    smtp_port: Positive = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    rate_limit_window_seconds: Positive = 15 * 60
    rate_limit_login_per_account: Positive = 10
    rate_limit_login_per_device: Positive = 10
    rate_limit_login_per_ip: Positive = 100
    rate_limit_register_per_ip: Positive = 20
    rate_limit_forgot_per_ip: Positive = 20
    rate_limit_forgot_per_email: Positive = 3
    rate_limit_email_links_per_account: Positive = 3
    # Per hour: successful password changes from a session (each ends every session and mails a notice), and new
    # device cookies (each brings a guessing budget of its own).
    rate_limit_password_changes_per_account: Positive = 5
    rate_limit_new_devices_per_account: Positive = 5
    # Seconds between a password accepted for an account with two-factor sign-in and the code that completes it.
    mfa_pending_ttl: Positive = 300
    # 32 bytes (64 hex digits or base64): the root of the keys that seal TOTP secrets and hash recovery codes.
    # Empty: derived from SESSION_SECRET (then changing SESSION_SECRET makes every user set up MFA again).
    mfa_encryption_key: str = ""
    # Passkeys (WebAuthn). The relying party's id, a registrable suffix of every origin's host (default: the host of
    # FRONTEND_URL), the name authenticators show, and the origins a ceremony may come from (comma-separated;
    # default: FRONTEND_URL's origin).
    webauthn_rp_id: str = ""
    webauthn_rp_name: str = "Pet Manager"
    webauthn_origins: tuple[str, ...] = ()
    # Seconds a passkey challenge (registration, sign-in, re-authentication) stays usable, once.
    webauthn_challenge_ttl: Positive = 300
    # Passkey sign-in options asked for per client network per window (each stores a challenge).
    rate_limit_passkey_options_per_ip: Positive = 100
    # Days the activity log keeps an event; older ones go with `python -m pet_auth purge` (`make purge`).
    security_events_retention_days: Positive = 90
    # The shortest new password (register, change, reset; existing ones keep working): for an account whose
    # password is its only factor, and for one with two-factor sign-in on. 15 for the first meets NIST SP 800-63B-4.
    password_min_length_single_factor: PasswordLength = 8
    password_min_length_with_mfa: PasswordLength = 8
    # New passwords checked against Have I Been Pwned's corpus (k-anonymity range API) and what a check that
    # cannot be made does: off (never asked), fail-open (the bundled list alone), fail-closed (503). Unset: off in
    # development and test, fail-open in production.
    breached_password_check: Literal["off", "fail-open", "fail-closed"] | None = None
    # The range API; the 5-hex-digit prefix is appended. An operator's own mirror may serve it.
    hibp_range_url: str = DEFAULT_HIBP_RANGE_URL
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # The OpenAPI pages (/schema); unset: on in development and test, off in production.
    openapi_enabled: bool | None = None
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated IPs or networks, or *);
    # empty: none, every client is the address that connected.
    forwarded_allow_ips: str = ""
    metrics_enabled: bool = False
    # When set, the metrics need `Authorization: Bearer <METRICS_TOKEN>`; production refuses open metrics on the
    # app's own port.
    metrics_token: str = ""
    # `host:port` (or a port, on 127.0.0.1): the metrics on an internal address of their own, which
    # `python -m pet_auth serve` serves once for all its workers, instead of GET /metrics on the app's port.
    metrics_bind: str = ""
    # Where the worker processes keep their metrics (several workers); default: a fresh temporary directory.
    prometheus_multiproc_dir: str = ""

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def breach_check(self) -> Literal["off", "fail-open", "fail-closed"]:
        if self.breached_password_check is not None:
            return self.breached_password_check
        return "fail-open" if self.is_production else "off"

    @property
    def serves_openapi(self) -> bool:
        return not self.is_production if self.openapi_enabled is None else self.openapi_enabled

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
    def metrics_address(self) -> tuple[str, int] | None:
        """METRICS_BIND as (host, port); None when unset."""
        return bind_address(self.metrics_bind) if self.metrics_bind else None

    @property
    def session_cookie_name(self) -> str:
        # The __Host- prefix makes browsers insist on Secure, Path=/ and no Domain.
        return "__Host-pet_auth_session" if self.is_production else "pet_auth_session"

    @property
    def device_cookie_name(self) -> str:
        return "__Host-pet_auth_device" if self.is_production else "pet_auth_device"

    @property
    def mfa_cookie_name(self) -> str:
        return "__Host-pet_auth_mfa" if self.is_production else "pet_auth_mfa"

    @property
    def passkey_cookie_name(self) -> str:
        """The passkey sign-in's flow cookie: it names the challenge the sign-in options gave this browser."""
        return "__Host-pet_auth_passkey" if self.is_production else "pet_auth_passkey"

    @property
    def relying_party_id(self) -> str:
        return (self.webauthn_rp_id or urlsplit(self.frontend_url).hostname or "").lower()

    @property
    def relying_party_origins(self) -> tuple[str, ...]:
        return self.webauthn_origins or (_origin(self.frontend_url),)


def decode_key(value: str) -> bytes | None:
    """A 32-byte key written as 64 hex digits or as base64 (standard or URL-safe, padding optional); None if not."""
    if re.fullmatch(r"[0-9A-Fa-f]{64}", value):
        return bytes.fromhex(value)
    standard = value.replace("-", "+").replace("_", "/")
    try:
        key = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if len(key) == KEY_BYTES else None


def _origin(url: str) -> str:
    """`scheme://host[:port]` of a URL (its path, query and fragment dropped)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _asyncpg_url(url: str) -> str:
    """The same URL with the asyncpg driver, whichever plain form was given."""
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgres", "postgresql", "postgresql+asyncpg"):
        return f"postgresql+asyncpg{sep}{rest}"
    return url


_TUPLE_FIELDS = {"CORS_ORIGINS", "REDIS_SENTINELS", "WEBAUTHN_ORIGINS"}
_HOST_PORT = re.compile(r"[^\s:]+:[0-9]{1,5}|\[[0-9a-fA-F:.]+\]:[0-9]{1,5}")
_BIND = re.compile(r"(?:(?P<host>[^\s:\[\]/]+|\[[0-9a-fA-F:.]+\]):)?(?P<port>[0-9]{1,5})")
MAX_PORT = 65535


def bind_address(value: str) -> tuple[str, int] | None:
    """`host:port`, `[ipv6]:port` or a port alone (on 127.0.0.1) as (host, port); None if it is none of these."""
    match = _BIND.fullmatch(value)
    if match is None or not 0 < int(match["port"]) <= MAX_PORT:
        return None
    return (match["host"] or "127.0.0.1").strip("[]"), int(match["port"])


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
    if settings.mfa_encryption_key and decode_key(settings.mfa_encryption_key) is None:
        raise SettingsError("MFA_ENCRYPTION_KEY must be 32 bytes, written as 64 hex digits or in base64")
    if settings.password_min_length_with_mfa > settings.password_min_length_single_factor:
        raise SettingsError(
            "PASSWORD_MIN_LENGTH_WITH_MFA must not exceed PASSWORD_MIN_LENGTH_SINGLE_FACTOR: a second factor never "
            "calls for a longer password"
        )
    if not _is_http_url(settings.hibp_range_url):
        raise SettingsError(f"HIBP_RANGE_URL must be an http(s) URL, not {settings.hibp_range_url!r}")
    if settings.redis_cluster and settings.redis_sentinels:
        raise SettingsError("REDIS_CLUSTER and REDIS_SENTINELS name two topologies; set one")
    for address in settings.redis_sentinels:
        if not _HOST_PORT.fullmatch(address):
            raise SettingsError(f"REDIS_SENTINELS must list host:port addresses, not {address!r}")
    if settings.redis_wait_replicas is not None and settings.redis_wait_replicas < 0:
        raise SettingsError("REDIS_WAIT_REPLICAS must be 0 or more")
    if "*" in settings.cors_origins:
        raise SettingsError("CORS_ORIGINS must list explicit origins; '*' cannot carry credentials")
    if settings.metrics_bind:
        bound = bind_address(settings.metrics_bind)
        if bound is None:
            raise SettingsError(f"METRICS_BIND must be host:port or a port, not {settings.metrics_bind!r}")
        if bound[1] == settings.port:
            raise SettingsError(f"METRICS_BIND must name another port than the app's (PORT={settings.port})")
    if settings.is_production:
        _check_production(settings)
    _check_relying_party(settings)


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


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a malformed port or [IPv6] host raises here
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.fragment


def _check_relying_party(settings: Settings) -> None:
    """Passkey settings that cannot work are refused in every environment (a browser would refuse each ceremony);
    production also wants https origins (http only on localhost). A registrable suffix is approximated: the RP ID
    has a dot, or is `localhost` (a bare public suffix such as `com` is refused; `co.uk` is not caught). The loopback
    addresses pass as FRONTEND_URL does, though browsers refuse an IP address as an RP ID."""
    rp_id = settings.relying_party_id
    if not rp_id or ("." not in rp_id.strip(".") and rp_id not in _LOCAL_HOSTS):
        raise SettingsError(f"WEBAUTHN_RP_ID must be a domain such as example.com or localhost, not {rp_id!r}")
    for origin in settings.relying_party_origins:
        try:
            parts = urlsplit(origin)
            host = parts.hostname
            parts.port  # noqa: B018 - a malformed port raises here
        except ValueError:
            host = None
        if host is None or parts.scheme not in ("http", "https") or parts.path or parts.query or parts.fragment:
            raise SettingsError(f"WEBAUTHN_ORIGINS must list origins (scheme://host[:port]), not {origin!r}")
        if host != rp_id and not host.endswith("." + rp_id):
            raise SettingsError(
                f"WEBAUTHN_RP_ID {rp_id!r} must be the host of every WEBAUTHN_ORIGINS origin or a suffix of it "
                f"after a dot; {origin!r} does not match"
            )
        local = parts.scheme == "http" and host in _LOCAL_HOSTS
        if settings.is_production and parts.scheme != "https" and not local:
            raise SettingsError(f"WEBAUTHN_ORIGINS must list https origins in production, not {origin!r}")


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
    if settings.metrics_enabled and not settings.metrics_token and not settings.metrics_bind:
        raise SettingsError(
            "METRICS_TOKEN must be set in production when METRICS_ENABLED=true, or METRICS_BIND to an internal "
            "host:port: the metrics would be open to anyone on the app's port"
        )
