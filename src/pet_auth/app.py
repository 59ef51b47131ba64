"""The composition root: `create_app(settings)` builds and wires every piece; nothing connects at import."""

from __future__ import annotations

import gc
import hmac
import os
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.logging import LoggingConfig
from litestar.openapi import OpenAPIConfig
from prometheus_client import CollectorRegistry

from pet_auth.background import BackgroundTasks
from pet_auth.config import Settings, SettingsError, load_settings
from pet_auth.db.database import Database, create_engine
from pet_auth.domain.account import AccountService
from pet_auth.domain.audit import AuditLog
from pet_auth.domain.auth import AuthService
from pet_auth.domain.devices import DeviceTokens
from pet_auth.domain.passwords import PasswordHasher
from pet_auth.domain.ports import Limit, Limits
from pet_auth.domain.recovery import RecoveryService
from pet_auth.http import metrics
from pet_auth.http.controllers.auth import AuthController
from pet_auth.http.controllers.health import HealthController
from pet_auth.http.controllers.recovery import RecoveryController
from pet_auth.http.controllers.sessions import SessionsController
from pet_auth.http.cookies import DeviceCookie
from pet_auth.http.errors import exception_handlers
from pet_auth.http.security import OriginCheckMiddleware, add_security_headers
from pet_auth.mail import ConsoleMailer, Mailer, SmtpMailer
from pet_auth.ratelimit import RedisRateLimiter
from pet_auth.redis_topology import TIMEOUT_SECONDS, create_redis
from pet_auth.sessions.backend import RedisSessionConfig
from pet_auth.sessions.store import SessionStore

MAX_BODY_BYTES = 16 * 1024


def create_mailer(settings: Settings) -> Mailer:
    if settings.mail_backend == "smtp":
        return SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            settings.mail_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )
    return ConsoleMailer(reveal_body=not settings.is_production)


def limits_from(settings: Settings) -> Limits:
    window = settings.rate_limit_window_seconds
    return Limits(
        login_per_account=Limit(
            "login-account", settings.rate_limit_login_per_account, window, cleared_by_success=True
        ),
        login_per_device=Limit("login-device", settings.rate_limit_login_per_device, window, cleared_by_success=True),
        login_per_ip=Limit("login-ip", settings.rate_limit_login_per_ip, window),
        register_per_ip=Limit("register-ip", settings.rate_limit_register_per_ip, window),
        forgot_per_ip=Limit("forgot-ip", settings.rate_limit_forgot_per_ip, window),
        forgot_per_email=Limit("forgot-email", settings.rate_limit_forgot_per_email, window),
    )


def _provide(value: object) -> Provide:
    def provider() -> Any:
        return value

    return Provide(provider, use_cache=True, sync_to_thread=False)


def create_app(settings: Settings) -> Litestar:
    secret = settings.session_secret.encode()
    db = Database(create_engine(settings.async_database_url, transaction_pooler=settings.database_transaction_pooler))
    redis = create_redis(settings)
    sessions = SessionStore(
        redis,
        namespace=f"{settings.redis_namespace}:session",
        idle_timeout=settings.session_idle_timeout,
        absolute_lifetime=settings.session_absolute_lifetime,
        most_per_user=settings.sessions_per_user,
        read_timeout=TIMEOUT_SECONDS,
        secret=secret,
        wait_replicas=settings.wait_replicas,
        wait_timeout_ms=settings.redis_wait_timeout_ms,
    )
    limiter = RedisRateLimiter(redis, settings.redis_namespace, secret)
    limits = limits_from(settings)
    # The worker processes share the cores: together they get one hash thread per core, not one each.
    hasher = PasswordHasher(threads=max(1, (os.cpu_count() or 1) // settings.web_concurrency))
    mailer = create_mailer(settings)
    background = BackgroundTasks()
    audit = AuditLog(secret)

    auth = AuthService(
        db=db,
        hasher=hasher,
        limiter=limiter,
        limits=limits,
        sessions=sessions,
        devices=DeviceTokens(hmac.digest(secret, b"pet_auth device cookie", "sha256")),
        audit=audit,
    )
    common: dict[str, Any] = {
        "db": db, "hasher": hasher, "auth": auth, "sessions": sessions,
        "mailer": mailer, "spawn": background.spawn, "audit": audit,
    }  # fmt: skip
    recovery = RecoveryService(
        **common,
        limiter=limiter,
        limits=limits,
        secret=secret,
        frontend_url=settings.frontend_url,
        token_ttl=settings.reset_token_ttl,
    )
    account = AccountService(**common)
    pings: dict[str, Callable[[], Awaitable[object]]] = {"postgresql": db.ping, "redis": redis.ping}

    session_config = RedisSessionConfig(
        key=settings.session_cookie_name,
        secret=secret,
        secure=settings.is_production,
        samesite="lax",
        max_age=settings.session_absolute_lifetime,
        exclude=["^/health", "^/ready", "^/schema", f"^{metrics.PATH}$"],
    )
    route_handlers: list[Any] = [AuthController, RecoveryController, SessionsController, HealthController]
    middleware: list[Any] = [OriginCheckMiddleware(settings.cors_origins), session_config.middleware]
    before_send: list[Any] = [add_security_headers]
    if settings.metrics_enabled:
        registry = CollectorRegistry()
        route_handlers.append(metrics.exposition(registry, settings.metrics_token, settings.prometheus_multiproc_dir))
        middleware.insert(0, metrics.StartClock(excluded=metrics.PATH))
        before_send.append(metrics.before_send(metrics.Metrics(registry)))

    async def shutdown() -> None:
        await background.drain()
        hasher.close()
        await redis.aclose()
        await db.engine.dispose()

    return Litestar(
        route_handlers=route_handlers,
        dependencies={
            "auth": _provide(auth),
            "recovery": _provide(recovery),
            "account": _provide(account),
            "pings": _provide(pings),
            "device_cookie": _provide(DeviceCookie(name=settings.device_cookie_name, secure=settings.is_production)),
        },
        middleware=middleware,
        stores={"sessions": sessions},
        cors_config=CORSConfig(
            allow_origins=list(settings.cors_origins),
            allow_credentials=True,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Content-Type"],
            max_age=600,
        ),
        exception_handlers=exception_handlers(),
        before_send=before_send,
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=OpenAPIConfig(title="pet_auth", version="0.1.0", path="/schema"),
        logging_config=LoggingConfig(
            root={"level": settings.log_level, "handlers": ["queue_listener"]},
            configure_root_logger=True,
            log_exceptions="never",
        ),
        on_startup=[_freeze_gc],
        on_shutdown=[shutdown],
    )


def _freeze_gc() -> None:
    """Move everything built at startup out of the garbage collector's sight: its passes then scan only
    the objects of requests in flight (measured: about 6% less CPU per `/me` request)."""
    gc.collect()
    gc.freeze()


def app_from_env() -> Litestar:
    """Factory for the ASGI server (`uvicorn --factory pet_auth.app:app_from_env`)."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise SystemExit(f"pet_auth: {exc}") from None
    return create_app(settings)
