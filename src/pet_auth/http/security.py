"""Browser-facing protections: the origin check (CSRF), JSON-only bodies, and security headers.

CSRF model: the session cookie is SameSite=Lax, and on unsafe methods
- a request whose Origin (or, without one, Referer) is neither an allowed origin nor our own is refused (403);
- so is one a browser marks `Sec-Fetch-Site: cross-site` without such an origin;
- a body must be `application/json` (415), which no cross-site HTML form can send without a CORS preflight.
A caller that sends none of these headers is not a browser, so it carries no victim's cookie, and passes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from pet_auth.http.errors import ClientError

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


class OriginCheckMiddleware:
    """A plain ASGI middleware (`DefineMiddleware(OriginCheckMiddleware, allowed_origins=...)`): it runs on every
    request, and Litestar's middleware wrapper would add its own checks to each one for nothing."""

    def __init__(self, app: ASGIApp, allowed_origins: tuple[str, ...]) -> None:
        self.app = app
        self.allowed = frozenset(origin.lower() for origin in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope["method"] not in _SAFE_METHODS:
            headers = Headers.from_scope(scope)
            self._check_origin(scope, headers)
            self._check_media_type(headers)
        await self.app(scope, receive, send)

    def _check_origin(self, scope: Scope, headers: Headers) -> None:
        origin = headers.get("origin")
        if origin is None and (referer := headers.get("referer")):
            origin = _origin_of(referer) or "null"
        own = f"{scope['scheme']}://{headers.get('host', '')}".lower()
        allowed = origin is not None and (origin.lower() in self.allowed or origin.lower() == own)
        cross_site = headers.get("sec-fetch-site") == "cross-site"
        if (origin is not None or cross_site) and not allowed:
            raise ClientError(403, "forbidden_origin", "Requests from this origin are not allowed.")

    @staticmethod
    def _check_media_type(headers: Headers) -> None:
        has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
        media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if has_body and media_type != "application/json":
            raise ClientError(415, "unsupported_media_type", "Send the request body as application/json.")


# Two years, subdomains included: browsers then never try plain HTTP to this host (production only: a developer's
# browser would otherwise refuse http://localhost for two years).
HSTS = "max-age=63072000; includeSubDomains"


def security_headers(*, hsts: bool) -> Callable[[Message, Scope], Awaitable[None]]:
    """A `before_send` hook that marks every response, errors and 404s included."""
    added = [(b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store")]
    if hsts:
        added.append((b"strict-transport-security", HSTS.encode()))
    names = frozenset(name for name, _ in added)

    async def add_security_headers(message: Message, scope: Scope) -> None:
        if message["type"] == "http.response.start":
            # Raw pairs, encoded once: MutableScopeHeaders would scan the headers again for each one we add.
            kept = [header for header in message.get("headers", ()) if header[0].lower() not in names]
            message["headers"] = kept + added

    return add_security_headers
