"""Development aids (APP_ENV=development only): the block `make dev` prints when it is ready, and problems that say
why a browser's request cannot work, where a browser would otherwise fail silently.

A page at an origin that is not allowed gets no readable answer (CORS hides it), and an API reached under another
site than the page's (`http://127.0.0.1:8000` from `http://localhost:5173`) answers normally while the browser drops
its SameSite=Lax session cookie: sign-up says 201 and `/me` says 401. In development both are answered with a
problem naming the cause and the fix, readable by the page (the error answer carries CORS headers for its origin).
Production refuses such requests as before, without explanations.
"""

from __future__ import annotations

import ipaddress
import sys
from urllib.parse import urlsplit

import msgspec
from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from pet_auth.config import Settings
from pet_auth.http.errors import PROBLEM_JSON, problem_body

ORIGIN_NOT_ALLOWED = "origin_not_allowed"
CROSS_SITE_API_HOST = "cross_site_api_host"


def ready_banner(settings: Settings) -> str:
    """What `make dev` prints once the API answers: where it is, which frontend it serves, where mail goes."""
    frontend = urlsplit(settings.frontend_url)
    api = f"{frontend.scheme}://{frontend.hostname}:{settings.port}"  # the frontend's host name: same-site
    if settings.mail_backend == "console":
        mail = "printed here, in this terminal (MAIL_BACKEND=console), links included"
    else:
        mail = f"sent through SMTP at {settings.smtp_host}:{settings.smtp_port}"
    origins = ", ".join(settings.cors_origins)
    return "\n".join(
        [
            "pet_auth is ready (development)",
            f"  API              {api}   (call it by this name: the app and the API must be same-site)",
            f"  frontend origin  {origins}   (CORS_ORIGINS; links in mail: {settings.frontend_url})",
            f"  development mail {mail}",
            f"  API reference    {api}/schema",
        ]
    )


def announce_ready(settings: Settings) -> None:
    print(f"\n{ready_banner(settings)}\n", file=sys.stderr, flush=True)


def _site(host: str) -> str:
    """A host's site, near enough for development: an IP address or a single label (localhost) is its own; a
    domain's is its last two labels (no public-suffix list: `a.co.uk` and `b.co.uk` look alike here)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        labels = host.split(".")
        return ".".join(labels[-2:])
    return host


class DevelopmentDiagnostics:
    """A plain ASGI wrapper around the whole app (outside CORS: it answers preflights too) in development: explains an
    origin that is not allowed (answering its CORS preflight, so that the explanation reaches the page) and an API
    host of another site than the page's."""

    def __init__(self, app: ASGIApp, allowed_origins: tuple[str, ...]) -> None:
        self.app = app
        self.allowed = tuple(origin.lower() for origin in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        headers = Headers.from_scope(scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in headers
        if origin.lower() not in self.allowed:
            if preflight:
                await _answer(send, 204, _preflight_grant(origin, headers), b"")
            else:
                await _problem(send, 403, ORIGIN_NOT_ALLOWED, self._origin_detail(origin), origin)
            return
        api_host = (headers.get("host") or "").rsplit(":", 1)[0]
        page = urlsplit(origin)
        if not preflight and page.hostname and api_host and _site(page.hostname) != _site(api_host):
            await _problem(send, 400, CROSS_SITE_API_HOST, _site_detail(origin, headers), origin)
            return
        await self.app(scope, receive, send)

    def _origin_detail(self, origin: str) -> str:
        return (
            f"Development: the page at {origin} is not an allowed origin (CORS_ORIGINS: {', '.join(self.allowed)}). "
            "Open the app at an allowed origin, or add this one to CORS_ORIGINS in .env and restart make dev. "
            "In production this request is refused without this explanation."
        )


def _site_detail(origin: str, headers: Headers) -> str:
    host = headers.get("host", "")
    port = host.rsplit(":", 1)[1] if ":" in host else ""
    page = urlsplit(origin)
    suggested = f"{page.scheme}://{page.hostname}{':' + port if port else ''}"
    return (
        f"Development: the app at {origin} calls the API at {host}, which is not the same site, so the browser drops "
        f"the session cookie (SameSite=Lax): sign-in would seem to work and /me would answer 401. Call the API as "
        f"{suggested}, or proxy it under the app's own origin (docs/frontend.md: Vite server.proxy)."
    )


async def _problem(send: Send, status: int, code: str, detail: str, origin: str) -> None:
    """A problem+json answer, readable by the page: CORS headers for its origin (development only)."""
    body = msgspec.json.encode(problem_body(status, code, detail))
    await _answer(send, status, {**_cors_grant(origin), "content-type": PROBLEM_JSON}, body)


async def _answer(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    pairs = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    pairs.append((b"content-length", str(len(body)).encode()))
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": status, "headers": pairs}
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(start)
    await send(end)


def _preflight_grant(origin: str, headers: Headers) -> dict[str, str]:
    return {
        **_cors_grant(origin),
        "access-control-allow-methods": headers.get("access-control-request-method", "GET"),
        "access-control-allow-headers": headers.get("access-control-request-headers", ""),
    }


def _cors_grant(origin: str) -> dict[str, str]:
    return {
        "access-control-allow-origin": origin,
        "access-control-allow-credentials": "true",
        "vary": "Origin",
    }
