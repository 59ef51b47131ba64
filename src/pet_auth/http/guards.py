"""The login guard and the current user, handed to handlers by dependency injection."""

from __future__ import annotations

from typing import Any

from litestar import HttpMethod
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler
from litestar.types import Guard

from pet_auth.domain.errors import EmailNotVerified
from pet_auth.domain.models import Client, CurrentUser
from pet_auth.http.litestar_compat import SharedHandlerRoute
from pet_auth.http.openapi import SIGNED_IN
from pet_auth.http.session_cookie import live_session
from pet_auth.http.user_agents import describe_user_agent, known_user_agent
from pet_auth.redis_store.sessions import LiveSession


def _signed_in_session(connection: ASGIConnection[Any, Any, Any, Any]) -> LiveSession:
    live = live_session(connection)
    if live is None:
        raise NotAuthorizedException("Sign in first.")
    return live


async def requires_login(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    # async on purpose: Litestar runs a sync guard in a worker thread, a thread hop on every guarded request.
    _signed_in_session(connection)


async def requires_verified_email(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """With REQUIRE_VERIFIED_EMAIL, a signed-in user whose address is not verified is refused (403); put it after
    `requires_login`."""
    if connection.app.state.require_verified_email and not _signed_in_session(connection).profile.email_verified:
        raise EmailNotVerified


def guarded_get(path: str, **options: Any) -> SharedHandlerRoute:
    """`litestar.get` for routes behind a guard: its guards are handed the handler itself, not a copy made for
    each request (see `SharedHandlerRoute`, http/litestar_compat.py)."""
    return SharedHandlerRoute(path, http_method=HttpMethod.GET, **options)


def provide_current_user(request: ASGIConnection[Any, Any, Any, Any]) -> CurrentUser:
    """The signed-in user, from the session alone: no SQL on the hot path.

    The user's profile is kept once per user in Redis and rewritten for every session when it changes (see
    redis_store/sessions.py). Routes use it behind `requires_login`; it refuses a session without a user too, so that a
    route that forgot the guard is a 401, never a 500.
    """
    live = _signed_in_session(request)
    return CurrentUser(id=live.user_id, profile=live.profile)


# The dependency that hands the signed-in user to handlers (beside the `requires_login` guard).
CURRENT_USER = {"user": Provide(provide_current_user, sync_to_thread=False)}


def signed_in(*more_guards: Guard) -> dict[str, Any]:
    """The options of a route for signed-in users: the login guard (then `more_guards`), the current user by
    dependency injection, and the OpenAPI security requirement that says so. `@post(path, **signed_in(), ...)`.

    Per route rather than a guarded `Router` of the signed-in routes: the OpenAPI document lists paths in the order
    they are registered, and within a controller (alphabetically by handler) signed-in and public routes alternate
    (`/api/auth`: change-password, login, logout, me, register), so a router of their own would reorder the
    document and the TypeScript client's types generated from it. A controller whose routes are all signed-in sets
    these at its level instead (`SessionsController`)."""
    return {"guards": [requires_login, *more_guards], "dependencies": CURRENT_USER, "security": SIGNED_IN}


def client_of(request: ASGIConnection[Any, Any, Any, Any]) -> Client:
    """The caller as a session records it: the address and a short device description, never the raw
    User-Agent."""
    header = request.headers.get("user-agent", "")
    known = known_user_agent(header)
    return Client(ip=client_ip(request), device=known or describe_user_agent(header), known_device=known)


def client_ip(request: ASGIConnection[Any, Any, Any, Any]) -> str:
    # The ASGI server resolves trusted proxy headers (uvicorn's FORWARDED_ALLOW_IPS) into `client`.
    return request.client.host if request.client else "unknown"
