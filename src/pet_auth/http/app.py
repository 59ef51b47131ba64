"""The composition root's second half: `create_app(services, settings)` builds the Litestar app around the services
`pet_auth.bootstrap.build_services` built: routes, middleware, the session cookie, CORS, problem+json errors, the
OpenAPI document and metrics. It closes the services at shutdown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.logging import LoggingConfig
from litestar.middleware import DefineMiddleware
from litestar.types import ASGIApp

from pet_auth.bootstrap import Services
from pet_auth.config import Settings
from pet_auth.http import metrics
from pet_auth.http.cookies import DEVICE_COOKIE_MAX_AGE, HttpOnlyCookie
from pet_auth.http.cors import enable_cors
from pet_auth.http.development import DevelopmentOriginAdvice
from pet_auth.http.errors import exception_handlers
from pet_auth.http.litestar_compat import allow_every_method
from pet_auth.http.openapi import openapi_config
from pet_auth.http.requests import ApiRequest
from pet_auth.http.routes import route_handlers as app_routes
from pet_auth.http.security import OriginCheckMiddleware, security_headers
from pet_auth.http.session_cookie import RedisSessionConfig

MAX_BODY_BYTES = 16 * 1024
# Every response header the TypeScript client (clients/typescript) reads.
EXPOSED_HEADERS = ("Retry-After",)


def create_app(services: Services, settings: Settings) -> Litestar:
    route_handlers, middleware, before_send = _pipeline(services, settings)
    app = Litestar(
        route_handlers=route_handlers,
        state=State({"require_verified_email": settings.require_verified_email}),
        dependencies=_dependencies(services, settings),
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
        on_shutdown=[services.aclose],
    )
    enable_cors(
        app,
        CORSConfig(
            allow_origins=list(settings.cors_origins),
            allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Content-Type"],
            # The answer headers a browser lets the page read beyond the CORS-safelisted ones: the client reads
            # Retry-After (a 429's seconds to wait; `AuthError.retryAfter`).
            expose_headers=list(EXPOSED_HEADERS),
            max_age=600,
        ),
        # Development only: a refused origin, or a page and API that are not one site, get a readable reason.
        outer=_development_advice(settings),
    )
    allow_every_method(app)
    return app


def _development_advice(settings: Settings) -> Callable[[ASGIApp], ASGIApp] | None:
    if settings.app_env != "development":
        return None
    origins = settings.cors_origins
    return lambda handler: DevelopmentOriginAdvice(handler, origins)


def _pipeline(services: Services, settings: Settings) -> tuple[list[Any], list[Any], list[Any]]:
    """The route handlers, the middleware and the before-send hooks; metrics add to all three when on."""
    session_config = RedisSessionConfig(
        key=settings.session_cookie_name,
        sessions=services.sessions,
        secret=services.session_digest_key,
        secure=settings.is_production,
        samesite="lax",
        max_age=settings.session_absolute_lifetime,
        exclude=["^/health", "^/ready", "^/schema", f"^{metrics.PATH}$"],
    )
    route_handlers: list[Any] = app_routes()
    middleware: list[Any] = [
        DefineMiddleware(OriginCheckMiddleware, allowed_origins=settings.cors_origins),
        session_config.middleware,
    ]
    before_send: list[Any] = [security_headers(hsts=settings.is_production)]
    registry = services.registry
    if registry is not None:
        if not settings.metrics_bind:  # else `python -m pet_auth serve` serves them on that internal address
            route_handlers.append(
                metrics.exposition(registry, settings.metrics_token, settings.prometheus_multiproc_dir)
            )
        middleware.insert(0, metrics.StartClock(excluded=metrics.PATH))
        before_send.append(metrics.before_send(metrics.Metrics(registry)))
    return route_handlers, middleware, before_send


def _dependencies(services: Services, settings: Settings) -> dict[str, Provide]:
    return {
        "auth": _provide(services.auth),
        "password_reset": _provide(services.password_reset),
        "account": _provide(services.account),
        "addresses": _provide(services.addresses),
        "mfa": _provide(services.mfa),
        "sudo": _provide(services.sudo),
        "passkeys": _provide(services.passkeys),
        "pings": _provide(services.pings),
        "device_cookie": _provide(
            HttpOnlyCookie(settings.device_cookie_name, settings.is_production, DEVICE_COOKIE_MAX_AGE)
        ),
        "mfa_cookie": _provide(
            HttpOnlyCookie(settings.mfa_cookie_name, settings.is_production, settings.mfa_pending_ttl)
        ),
        "passkey_cookie": _provide(
            HttpOnlyCookie(settings.passkey_cookie_name, settings.is_production, settings.webauthn_challenge_ttl)
        ),
    }


def _provide(value: object) -> Provide:
    def provider() -> Any:
        return value

    return Provide(provider, use_cache=True, sync_to_thread=False)
