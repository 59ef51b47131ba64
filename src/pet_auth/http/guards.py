"""The login guard and the current user, handed to handlers by dependency injection: the signed-in router
(http/routes.py) gives both to every route it holds."""

from __future__ import annotations

from typing import Any

from litestar import HttpMethod
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler

from pet_auth.domain.errors import EmailNotVerified
from pet_auth.domain.models import Client, CurrentUser
from pet_auth.http.litestar_compat import SharedHandlerRoute
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
    """With REQUIRE_VERIFIED_EMAIL, a signed-in user whose address is not verified is refused (403). A signed-in route
    adds it to its own guards (`guards=[requires_verified_email]`): the signed-in router's `requires_login` runs
    first."""
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
    return CurrentUser(id=live.user_id, profile=live.profile, proved_at=live.record.proved_at)


# The dependency that hands the signed-in user to handlers (beside the `requires_login` guard); both are the
# signed-in router's (http/routes.py).
CURRENT_USER = {"user": Provide(provide_current_user, sync_to_thread=False)}


def client_of(request: ASGIConnection[Any, Any, Any, Any]) -> Client:
    """The caller as a session records it: the address and a short device description, never the raw
    User-Agent."""
    header = request.headers.get("user-agent", "")
    known = known_user_agent(header)
    return Client(ip=client_ip(request), device=known or describe_user_agent(header), known_device=known)


def client_ip(request: ASGIConnection[Any, Any, Any, Any]) -> str:
    # The ASGI server resolves trusted proxy headers (uvicorn's FORWARDED_ALLOW_IPS) into `client`.
    return request.client.host if request.client else "unknown"
