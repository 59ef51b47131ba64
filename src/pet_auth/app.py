"""The composition root: `create_app(settings)` builds the services (`pet_auth.bootstrap`) and the Litestar app
around them (`pet_auth.http.app`); `app_from_env` is the ASGI server's factory. Nothing connects at import."""

from __future__ import annotations

import gc
from typing import Any, cast

from litestar import Litestar
from litestar.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from pet_auth.bootstrap import build_services
from pet_auth.config import Settings, SettingsError, load_settings
from pet_auth.http import app as http_app


def create_app(settings: Settings) -> Litestar:
    return http_app.create_app(build_services(settings), settings)


def freeze_gc() -> None:
    """Move everything built at startup out of the garbage collector's sight: its passes then scan only
    the objects of requests in flight, so a request costs less CPU (measured: docs/performance.md)."""
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
