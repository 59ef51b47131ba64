"""Development only (APP_ENV=development): the browser requests that would fail silently are answered with a problem
that says why and what to do.

A browser hides these failures from the page and often from its developer:
- `origin_not_allowed`: the page's origin is not in CORS_ORIGINS. The browser withholds the API's answers from the
  page (and refuses the preflight of every JSON request), so the client only sees a network error. Here the answer
  is a 403 problem that carries the CORS headers granting that origin, and a preflight from it is granted, so that
  the page reads the explanation: the refusal is the same, only readable. Nothing else is answered to such an
  origin (every request of it gets this 403), so the grant gives it nothing.
- `cross_site_api_host`: the page's origin is allowed, but the page and the API are not the same site (the app on
  `localhost`, the API called as `127.0.0.1`, or the other way round). The session cookie is SameSite=Lax: the
  browser neither stores it from a cross-site fetch's answer nor sends it on one, so register answers 201 and
  `/me` then 401, with nothing in the console. The browser says which case it is (`Sec-Fetch-Site: cross-site`;
  through a proxy that serves the API under the app's own origin it says `same-origin`, and passes); a browser
  that does not send it is judged by the host names.

Each answer is written to the log once per origin and reason too, for the terminal running `make dev`. In production
and test none of this runs: a disallowed origin is refused by CORS and the origin check (http/security.py), as ever.
The middleware sits outside the CORS middleware, which would answer the preflights first.
"""

from __future__ import annotations

import ipaddress
import logging
from urllib.parse import urlsplit

import msgspec
from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from pet_auth.http.errors import PROBLEM_JSON, problem_body

logger = logging.getLogger("pet_auth.development")

ORIGIN_NOT_ALLOWED = "origin_not_allowed"
CROSS_SITE_API_HOST = "cross_site_api_host"
_METHODS = b"DELETE, GET, OPTIONS, POST"


def _site(host: str) -> str:
    """The site of a host name, near enough for this check: an IP address is its own site, a name is its last two
    labels (`api.example.com` and `app.example.com` are one site). Wrong only under a two-label public suffix
    (`co.uk`), where it takes two sites for one and stays silent."""
    host = host.strip("[]").lower()
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return ".".join(host.rstrip(".").split(".")[-2:])


class DevelopmentOriginAdvice:
    """A plain ASGI middleware around the CORS middleware (`enable_cors(..., outer=...)`), installed in development
    only."""

    def __init__(self, app: ASGIApp, allowed_origins: tuple[str, ...]) -> None:
        self.app = app
        self.allowed_origins = allowed_origins
        self.allowed = frozenset(origin.lower() for origin in allowed_origins)
        self._logged: set[tuple[str, str]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        headers = Headers.from_scope(scope)
        origin = headers.get("origin")
        api = f"{scope['scheme']}://{headers.get('host', '')}".lower()
        preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in headers
        if origin is None or origin.lower() == api:
            await self.app(scope, receive, send)
        elif origin.lower() not in self.allowed:
            if preflight:
                await self._grant_preflight(send, origin, headers)
            else:
                await self._refuse(send, origin, ORIGIN_NOT_ALLOWED, self._not_allowed(origin))
        elif not preflight and self._cross_site(headers, origin, api):
            await self._refuse(send, origin, CROSS_SITE_API_HOST, self._cross_site_detail(origin, api))
        else:
            await self.app(scope, receive, send)

    @staticmethod
    def _cross_site(headers: Headers, origin: str, api: str) -> bool:
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None:
            return fetch_site == "cross-site"
        origin_host = urlsplit(origin).hostname or ""
        return _site(origin_host) != _site(urlsplit(api).hostname or "")

    def _not_allowed(self, origin: str) -> str:
        return (
            f"This API (APP_ENV=development) does not accept requests from {origin}: CORS_ORIGINS allows "
            f"{', '.join(self.allowed_origins) or 'no origin'}. Open the app at an allowed origin, or add {origin} to "
            "CORS_ORIGINS (comma-separated, in .env) and restart `make dev`. In production this answer is not "
            "readable: the browser reports a CORS error."
        )

    @staticmethod
    def _cross_site_detail(origin: str, api: str) -> str:
        origin_parts, api_parts = urlsplit(origin), urlsplit(api)
        port = f":{api_parts.port}" if api_parts.port else ""
        suggested = f"{api_parts.scheme}://{origin_parts.hostname}{port}"
        return (
            f"The app at {origin} calls this API as {api}, another site: the browser neither stores nor sends the "
            "session cookie (SameSite=Lax) on such requests, so signing in would seem to work and every later "
            f"request would be signed out. Call the API as {suggested}, with the app's host name (localhost with "
            "localhost, 127.0.0.1 with 127.0.0.1), or serve it under the app's own origin through the dev "
            "server's proxy (Vite: server.proxy). This answer is given in development only."
        )

    async def _refuse(self, send: Send, origin: str, code: str, detail: str) -> None:
        if (origin, code) not in self._logged:
            self._logged.add((origin, code))
            logger.warning("refused a request from %s (%s): %s", origin, code, detail)
        body = msgspec.json.encode(problem_body(403, code, detail))
        headers = [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            (b"x-content-type-options", b"nosniff"),
            *_granted(origin),
        ]
        await _answer(send, 403, headers, body)

    @staticmethod
    async def _grant_preflight(send: Send, origin: str, headers: Headers) -> None:
        """Let the request itself come, to be answered with the explanation (it changes nothing)."""
        requested = headers.get("access-control-request-headers", "content-type").encode("latin-1")
        answer = [
            *_granted(origin),
            (b"access-control-allow-methods", _METHODS),
            (b"access-control-allow-headers", requested),
            (b"content-length", b"0"),
        ]
        await _answer(send, 204, answer, b"")


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(end)


def _granted(origin: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-allow-credentials", b"true"),
        (b"vary", b"Origin"),
    ]


__all__ = ["CROSS_SITE_API_HOST", "ORIGIN_NOT_ALLOWED", "DevelopmentOriginAdvice"]
