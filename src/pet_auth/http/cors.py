"""CORS: Litestar's middleware and configuration, its per-response headers encoded once.

The SPA's every request is cross-origin and carries `Origin`, so every one of its responses passes through the CORS
middleware's send wrapper. Litestar's sets five headers one by one through `MutableScopeHeaders` (each a scan of the
headers) and sorts and joins the allowed methods and headers again for each response, work that does not change
between responses (its cost: docs/performance.md). Here the same headers, with the same values, are built when the
app is, and appended as pairs; the preflight answers and the origin rule stay Litestar's.

Litestar's middleware class is internal (it is what `Litestar(cors_config=...)` installs): it is used through the
fence, http/litestar_compat.py, whose tripwires check that these headers are still the ones Litestar would add.
"""

from __future__ import annotations

from collections.abc import Callable

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.types import ASGIApp, Message, Send

from pet_auth.http.litestar_compat import install_cors

_ALLOW_ORIGIN = b"access-control-allow-origin"


def _pair(name: str, value: str) -> tuple[bytes, bytes]:
    return name.lower().encode("latin-1"), value.encode("latin-1")


class PreencodedCORSHeaders:
    """The send wrapper of the CORS middleware (`CORSSendWrapper`): Litestar's response headers, encoded once.

    Like Litestar's, it sets the configuration's headers on every answer, replacing any the handler set; for an
    origin it grants, also `Access-Control-Allow-Origin: <origin>` (in place of a `*`) and `Vary: Origin` (in place
    of the handler's `Vary`)."""

    def __init__(self, config: CORSConfig) -> None:
        self.config = config
        every_response = {
            **config.simple_headers,
            "Access-Control-Allow-Headers": ", ".join(sorted(set(config.allow_headers))),
            "Access-Control-Allow-Methods": ", ".join(sorted(set(config.allow_methods))),
        }
        self._every_response = [_pair(name, value) for name, value in every_response.items()]
        self._replaced = frozenset(name for name, _ in self._every_response)
        self._granted_base = [pair for pair in self._every_response if pair[0] != _ALLOW_ORIGIN]
        self._replaced_when_granted = self._replaced | {_ALLOW_ORIGIN, b"vary"}

    def __call__(self, send: Send, origin: str, has_cookie: bool) -> Send:
        config = self.config
        granted = (config.is_allow_all_origins and has_cookie) or (
            not config.is_allow_all_origins and config.is_origin_allowed(origin)
        )
        added, replaced = self._every_response, self._replaced
        if granted:
            added = [*self._granted_base, (_ALLOW_ORIGIN, origin.encode("latin-1")), (b"vary", b"Origin")]
            replaced = self._replaced_when_granted

        async def wrapped_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [header for header in message.get("headers", ()) if header[0].lower() not in replaced]
                message["headers"] = kept + added
            await send(message)

        return wrapped_send


def enable_cors(app: Litestar, config: CORSConfig, outer: Callable[[ASGIApp], ASGIApp] | None = None) -> None:
    """Put the CORS middleware around `app`'s handler, where `Litestar(cors_config=config)` puts Litestar's; and
    `outer`, when given, around it (http/development.py)."""
    install_cors(app, config, PreencodedCORSHeaders(config), outer)
