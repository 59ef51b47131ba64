"""The composition root: `create_app(settings)` builds and wires every piece; nothing connects at import."""

from __future__ import annotations

import gc
import os
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, cast

import httpx
from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.logging import LoggingConfig
from litestar.middleware import DefineMiddleware
from litestar.types import ASGIApp
from prometheus_client import CollectorRegistry
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from pet_auth.background import BackgroundTasks
from pet_auth.config import Settings, SettingsError, decode_key, load_settings
from pet_auth.db.database import Database, create_engine
from pet_auth.domain.account import AccountService
from pet_auth.domain.addresses import AddressService
from pet_auth.domain.audit import AuditLog
from pet_auth.domain.auth import AuthService
from pet_auth.domain.devices import DeviceTokens
from pet_auth.domain.email_links import EmailLinks
from pet_auth.domain.mfa import FAILED_CODES_NOTICED, MfaService
from pet_auth.domain.password_reset import PasswordResetService
from pet_auth.domain.passwords import BreachCheck, PasswordHasher, PasswordPolicy
from pet_auth.domain.ports import Limit, Limits
from pet_auth.domain.secret_box import SecretBox
from pet_auth.http import metrics
from pet_auth.http.controllers.account import AccountController
from pet_auth.http.controllers.auth import AuthController
from pet_auth.http.controllers.health import HealthController
from pet_auth.http.controllers.mfa import MfaController
from pet_auth.http.controllers.password_reset import PasswordResetController
from pet_auth.http.controllers.security_events import SecurityEventsController
from pet_auth.http.controllers.sessions import SessionsController
from pet_auth.http.cookies import DEVICE_COOKIE_MAX_AGE, HttpOnlyCookie
from pet_auth.http.cors import enable_cors
from pet_auth.http.errors import exception_handlers
from pet_auth.http.openapi import openapi_config
from pet_auth.http.requests import ApiRequest
from pet_auth.http.security import OriginCheckMiddleware, security_headers
from pet_auth.http.session_cookie import RedisSessionConfig
from pet_auth.keys import derive_keys, derive_mfa_keys
from pet_auth.mail import ConsoleMailer, Mailer, MailNotifier, SmtpMailer
from pet_auth.pwned import PwnedPasswords, create_client, miss_counter
from pet_auth.redis_store.client import TIMEOUT_SECONDS, create_redis
from pet_auth.redis_store.pending import PendingSignInStore
from pet_auth.redis_store.ratelimit import RedisRateLimiter
from pet_auth.redis_store.sessions import SessionStore

MAX_BODY_BYTES = 16 * 1024


def create_mailer(settings: Settings, address_hash: Callable[[str], str]) -> Mailer:
    if settings.mail_backend == "smtp":
        return SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            settings.mail_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )
    # In production the console mailer logs no address, no body (a reset link is a secret): a keyed hash only.
    return ConsoleMailer(reveal=not settings.is_production, address_hash=address_hash)


HOUR = 3600
# Notices to an address an account left, per hour: a loop of address changes must not flood it.
EMAIL_CHANGED_NOTICES_PER_HOUR = 3


def limits_from(settings: Settings) -> Limits:
    window = settings.rate_limit_window_seconds
    return Limits(
        login_per_account=Limit(
            "login-account", settings.rate_limit_login_per_account, window, cleared_by_success=True
        ),
        login_per_device=Limit("login-device", settings.rate_limit_login_per_device, window, cleared_by_success=True),
        login_per_ip=Limit("login-ip", settings.rate_limit_login_per_ip, window, per_client_network=True),
        register_per_ip=Limit("register-ip", settings.rate_limit_register_per_ip, window, per_client_network=True),
        forgot_per_ip=Limit("forgot-ip", settings.rate_limit_forgot_per_ip, window, per_client_network=True),
        forgot_per_email=Limit("forgot-email", settings.rate_limit_forgot_per_email, window),
        email_links_per_account=Limit("email-links-account", settings.rate_limit_email_links_per_account, window),
        password_changes_per_account=Limit(
            "password-changes-account", settings.rate_limit_password_changes_per_account, HOUR
        ),
        new_devices_per_account=Limit("new-devices-account", settings.rate_limit_new_devices_per_account, HOUR),
        mfa_failures_per_account=Limit("mfa-failures-account", FAILED_CODES_NOTICED - 1, window),
        mfa_failure_notices_per_account=Limit("mfa-failure-notices-account", 1, window),
        email_changed_notices_per_address=Limit("email-changed-notices", EMAIL_CHANGED_NOTICES_PER_HOUR, HOUR),
    )


def password_policy(
    settings: Settings, http: httpx.AsyncClient | None, registry: CollectorRegistry | None
) -> PasswordPolicy:
    breached = None
    if http is not None:
        misses = None if registry is None else miss_counter(registry)
        breached = PwnedPasswords(http, settings.hibp_range_url, misses)
    return PasswordPolicy(
        min_length_single_factor=settings.password_min_length_single_factor,
        min_length_with_mfa=settings.password_min_length_with_mfa,
        breach_check=BreachCheck(settings.breach_check),
        breached=breached,
    )


def _provide(value: object) -> Provide:
    def provider() -> Any:
        return value

    return Provide(provider, use_cache=True, sync_to_thread=False)


def create_app(settings: Settings) -> Litestar:
    keys = derive_keys(settings.session_secret)
    db = Database(create_engine(settings.async_database_url, transaction_pooler=settings.database_transaction_pooler))
    redis = create_redis(settings)
    sessions = SessionStore(
        redis,
        namespace=f"{settings.redis_namespace}:session",
        idle_timeout=settings.session_idle_timeout,
        absolute_lifetime=settings.session_absolute_lifetime,
        most_per_user=settings.sessions_per_user,
        read_timeout=TIMEOUT_SECONDS,
        secret=keys.session_digest,
        wait_replicas=settings.wait_replicas,
        wait_timeout_ms=settings.redis_wait_timeout_ms,
    )
    limiter = RedisRateLimiter(redis, settings.redis_namespace, keys.rate_limit)
    limits = limits_from(settings)
    # The worker processes share the cores: together they get one hash thread per core, not one each.
    hasher = PasswordHasher(threads=max(1, (os.cpu_count() or 1) // settings.web_concurrency))
    audit = AuditLog(keys.audit)
    notifier = MailNotifier(create_mailer(settings, audit.email_hash))
    background = BackgroundTasks()
    registry = CollectorRegistry() if settings.metrics_enabled else None
    # One HTTP client for every breach check of the process; none when the check is off (nothing is ever asked).
    http = None if settings.breach_check == "off" else create_client()
    policy = password_policy(settings, http, registry)

    links = EmailLinks(
        notifier=notifier,
        spawn=background.spawn,
        secret=keys.email_link,
        frontend_url=settings.frontend_url,
        verify_ttl=settings.verify_token_ttl,
        change_ttl=settings.email_change_token_ttl,
    )
    pending = PendingSignInStore(
        redis,
        namespace=f"{settings.redis_namespace}:mfa-pending",
        key=keys.mfa_pending,
        ttl=settings.mfa_pending_ttl,
    )
    auth = AuthService(
        db=db,
        hasher=hasher,
        limiter=limiter,
        limits=limits,
        sessions=sessions,
        devices=DeviceTokens(keys.device_cookie),
        links=links,
        pending=pending,
        notifier=notifier,
        spawn=background.spawn,
        audit=audit,
        frontend_url=settings.frontend_url,
        policy=policy,
    )
    password_reset = PasswordResetService(
        db=db,
        hasher=hasher,
        limiter=limiter,
        limits=limits,
        sessions=sessions,
        notifier=notifier,
        spawn=background.spawn,
        audit=audit,
        secret=keys.reset_token,
        frontend_url=settings.frontend_url,
        token_ttl=settings.reset_token_ttl,
        removes_mfa_enabled_within=timedelta(seconds=settings.reset_removes_mfa_enabled_within),
        policy=policy,
    )
    account = AccountService(
        db=db,
        hasher=hasher,
        auth=auth,
        limiter=limiter,
        limits=limits,
        sessions=sessions,
        notifier=notifier,
        spawn=background.spawn,
        audit=audit,
        policy=policy,
    )
    addresses = AddressService(
        db=db,
        auth=auth,
        links=links,
        limiter=limiter,
        limits=limits,
        sessions=sessions,
        notifier=notifier,
        spawn=background.spawn,
        audit=audit,
        frontend_url=settings.frontend_url,
    )
    mfa_root = decode_key(settings.mfa_encryption_key)
    encryption_key, recovery_code_key = derive_mfa_keys(mfa_root, settings.session_secret)
    mfa = MfaService(
        db=db,
        auth=auth,
        limiter=limiter,
        limits=limits,
        sessions=sessions,
        pending=pending,
        secret_box=SecretBox(encryption_key),
        recovery_code_key=recovery_code_key,
        notifier=notifier,
        spawn=background.spawn,
        audit=audit,
        frontend_url=settings.frontend_url,
    )
    pings: dict[str, Callable[[], Awaitable[object]]] = {"postgresql": db.ping, "redis": redis.ping}

    session_config = RedisSessionConfig(
        key=settings.session_cookie_name,
        sessions=sessions,
        secret=keys.session_digest,
        secure=settings.is_production,
        samesite="lax",
        max_age=settings.session_absolute_lifetime,
        exclude=["^/health", "^/ready", "^/schema", f"^{metrics.PATH}$"],
    )
    route_handlers: list[Any] = [
        AuthController,
        MfaController,
        PasswordResetController,
        AccountController,
        SessionsController,
        SecurityEventsController,
        HealthController,
    ]
    middleware: list[Any] = [
        DefineMiddleware(OriginCheckMiddleware, allowed_origins=settings.cors_origins),
        session_config.middleware,
    ]
    before_send: list[Any] = [security_headers(hsts=settings.is_production)]
    if registry is not None:
        if not settings.metrics_bind:  # else `python -m pet_auth serve` serves them on that internal address
            route_handlers.append(
                metrics.exposition(registry, settings.metrics_token, settings.prometheus_multiproc_dir)
            )
        middleware.insert(0, metrics.StartClock(excluded=metrics.PATH))
        before_send.append(metrics.before_send(metrics.Metrics(registry)))

    async def shutdown() -> None:
        await background.drain()
        hasher.close()
        if http is not None:
            await http.aclose()
        await redis.aclose()
        await db.engine.dispose()

    app = Litestar(
        route_handlers=route_handlers,
        state=State({"require_verified_email": settings.require_verified_email}),
        dependencies={
            "auth": _provide(auth),
            "password_reset": _provide(password_reset),
            "account": _provide(account),
            "addresses": _provide(addresses),
            "mfa": _provide(mfa),
            "pings": _provide(pings),
            "device_cookie": _provide(
                HttpOnlyCookie(settings.device_cookie_name, settings.is_production, DEVICE_COOKIE_MAX_AGE)
            ),
            "mfa_cookie": _provide(
                HttpOnlyCookie(settings.mfa_cookie_name, settings.is_production, settings.mfa_pending_ttl)
            ),
        },
        middleware=middleware,
        exception_handlers=exception_handlers(),
        request_class=ApiRequest,
        before_send=before_send,
        request_max_body_size=MAX_BODY_BYTES,
        # Off in production unless OPENAPI_ENABLED=true: the pages map every route for whoever asks.
        openapi_config=openapi_config(settings.session_cookie_name) if settings.serves_openapi else None,
        logging_config=LoggingConfig(
            root={"level": settings.log_level, "handlers": ["queue_listener"]},
            # httpx logs every request at INFO, and the breach check's URL holds the prefix of a password's hash.
            loggers={"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
            configure_root_logger=True,
            log_exceptions="never",
        ),
        on_shutdown=[shutdown],
    )
    enable_cors(
        app,
        CORSConfig(
            allow_origins=list(settings.cors_origins),
            allow_credentials=True,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Content-Type"],
            max_age=600,
        ),
    )
    return app


def freeze_gc() -> None:
    """Move everything built at startup out of the garbage collector's sight: its passes then scan only
    the objects of requests in flight (measured: about 6% less CPU per `/me` request)."""
    gc.collect()
    gc.freeze()


def app_from_env() -> ASGIApp:
    """Factory for the ASGI server (`python -m pet_auth serve`, under Granian or uvicorn)."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise SystemExit(f"pet_auth: {exc}") from None
    app = create_app(settings)
    app.on_startup.append(freeze_gc)  # the served app only: test apps come and go
    if not settings.forwarded_allow_ips:
        return app
    # X-Forwarded-For / X-Forwarded-Proto from the proxies in FORWARDED_ALLOW_IPS only, in the app rather than in
    # the server, so that every server applies the same rule (uvicorn's own middleware, used by both).
    # (The two packages spell the ASGI types differently; the callables are the same.)
    proxied = ProxyHeadersMiddleware(cast("Any", app), trusted_hosts=settings.forwarded_allow_ips)
    return cast("ASGIApp", proxied)
