"""The fence: every use of a private or internal Litestar name, and of Litestar behaviour its documentation does not
promise, is here and nowhere else. pyproject.toml pins Litestar to the minor release this was checked against;
tests/test_litestar_compat.py holds one tripwire per use below, to run first when the pin moves (docs/development.md,
Upgrading Litestar).

1. CORS (`install_cors`): the class `Litestar(cors_config=...)` installs is internal since 2.9
   (`litestar.middleware._internal.cors.CORSMiddleware`); we put it where Litestar does (`app.asgi_handler`, around
   the exception handling) with our own `send_wrapper`, its hook for the headers of every non-preflight answer.
2. Guards (`SharedHandlerRoute`): a route handler whose `authorize_connection` hands the guards the handler itself;
   Litestar's hands each guard a fresh copy of it.
3. Validation errors (`field_errors`, `is_malformed_body`): the field names and messages of a bad body exist only
   as the text of Litestar's `ValidationException.extra` (msgspec's messages, the handler's parameter `data`);
   malformed JSON only as the `SerializationException` a 400 is raised from.
4. `Allow` (`allow_every_method`): Litestar makes a path's automatic OPTIONS handler when the path's first handler
   is registered, and keeps it when more are added; it answers `Allow` from the route it was made for, which held
   that first method alone (`PATCH` and `DELETE /passkeys/{id}` answered `Allow: DELETE, OPTIONS`). We point it at
   the route the path ends up with.

The session cookie (http/session_cookie.py) needs nothing here: its backend and configuration are built on Litestar's
public session interface (`BaseSessionBackend`, `BaseBackendConfig`, `SessionMiddleware`), and its store is ours, not
a Litestar `Store`; a tripwire still checks the order in which the middleware calls the backend.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, cast

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, SerializationException
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler
from litestar.middleware._internal.cors import CORSMiddleware
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Send

# --- 1. CORS ---------------------------------------------------------------------------------------------------

# `(send, origin, has_cookie) -> send`: wraps the `send` of a request that carries `Origin` (not a preflight) so
# that its answer gets the CORS response headers.
CORSSendWrapper = Callable[[Send, str, bool], Send]


class _CORSMiddleware(CORSMiddleware):
    """Litestar's CORS middleware: its preflight answers and its choice of the requests whose answers get CORS
    headers; those headers are `wrap_send`'s."""

    def __init__(self, app: ASGIApp, config: CORSConfig, wrap_send: CORSSendWrapper) -> None:
        super().__init__(app, config)
        self._wrap_send = wrap_send

    def send_wrapper(self, send: Send, origin: str, has_cookie: bool) -> Send:
        return self._wrap_send(send, origin, has_cookie)


def install_cors(
    app: Litestar,
    config: CORSConfig,
    wrap_send: CORSSendWrapper,
    outer: Callable[[ASGIApp], ASGIApp] | None = None,
) -> None:
    """Put Litestar's CORS middleware, with `wrap_send`, where `Litestar(cors_config=config)` puts it: around the
    app's handler (so around the exception handling: error answers get CORS headers too). `outer`, when given,
    wraps it in turn: a middleware that sees every request, preflights included, before the CORS middleware. Call
    it on an app built without `cors_config`."""
    handler: ASGIApp = _CORSMiddleware(app.asgi_handler, config, wrap_send)
    app.asgi_handler = outer(handler) if outer is not None else handler


# --- 2. Guards -------------------------------------------------------------------------------------------------

_AsyncGuard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


class SharedHandlerRoute(HTTPRouteHandler):
    """A route whose guards are handed the route handler itself, not a fresh copy of it per request.

    Litestar copies the handler (some 60 attributes) for every guard call, in case a guard changes it, on every
    signed-in request (the hot path, `/me`, included; its cost: docs/performance.md). Our guards read the
    connection, never the handler.
    """

    async def authorize_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> None:
        # `resolve_guards` has made every guard, sync or async, awaitable.
        for guard in self.resolve_guards():
            await cast(_AsyncGuard, guard)(connection, self)


# --- 3. Validation errors --------------------------------------------------------------------------------------

# The handlers' body parameter: Litestar reports an error of the body as a whole under its name.
_BODY_PARAMETER = "data"
# msgspec's message for a field left out, which Litestar reports under the body's name.
_MISSING_FIELD = re.compile(r"Object missing required field `([^`]+)`")
# What Litestar reports for no body at all (the text of a KeyError of the body parameter).
_NO_BODY = repr(_BODY_PARAMETER)


def field_errors(extra: object) -> list[tuple[str, str]]:
    """A `ValidationException`'s `extra` as (field, message) pairs, fields as the client names them: `body` for the
    body as a whole, "is required" for a field (or the body) left out. Items that are not Litestar's are skipped."""
    items = extra if isinstance(extra, list) else []
    errors = []
    for item in items:
        if isinstance(item, dict):
            key = str(item.get("key") or "body")
            field = "body" if key == _BODY_PARAMETER else key
            message = str(item.get("message", "is invalid"))
            if missing := _MISSING_FIELD.fullmatch(message):
                field, message = missing.group(1), "is required"
            elif message == _NO_BODY:
                message = "is required"
            errors.append((field, message))
    return errors


def is_malformed_body(exc: HTTPException) -> bool:
    """Whether Litestar refused the request because its body is not JSON it can decode (it raises a 400 from the
    `SerializationException` of the request's `json()`)."""
    return isinstance(exc.__cause__, SerializationException)


# --- 4. Allow --------------------------------------------------------------------------------------------------

# The name of Litestar's automatic OPTIONS handler (`HTTPRoute.create_options_handler`), and of the route it reads.
_OPTIONS_HANDLER = "options_handler"
_ITS_ROUTE = "self"


def allow_every_method(app: Litestar) -> None:
    """Make each automatic OPTIONS handler answer `Allow` with every method of its path: its closure's route (the
    first one Litestar made for the path) becomes the path's route as the app has it."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            function = handler.fn
            code = getattr(function, "__code__", None)
            if handler.handler_name != _OPTIONS_HANDLER or code is None or code.co_freevars != (_ITS_ROUTE,):
                continue
            cast(Any, function).__closure__[0].cell_contents = route


__all__ = [
    "CORSSendWrapper",
    "SharedHandlerRoute",
    "allow_every_method",
    "field_errors",
    "install_cors",
    "is_malformed_body",
]
