"""The login guard and the current user, handed to handlers by dependency injection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import HttpMethod
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler

from pet_auth.domain.models import Client, User
from pet_auth.http.user_agents import describe_user_agent

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _signed_in_session(connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
    session: dict[str, Any] = connection.session
    if "uid" not in session:
        raise NotAuthorizedException("Sign in first.")
    return session


async def requires_login(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    # async on purpose: Litestar runs a sync guard in a worker thread, a thread hop on every guarded request.
    _signed_in_session(connection)


class SharedHandlerRoute(HTTPRouteHandler):
    """A route whose guards are handed the route handler itself, not a fresh copy of it per request.

    Litestar copies the handler (some 60 attributes) for every guard call, in case a guard changes it; on
    `/me`, the hot path, that copy was 7% of the server's CPU. Our guards read the connection, never the handler.
    """

    async def authorize_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> None:
        for guard in self.resolve_guards():
            await guard(connection, self)  # type: ignore[misc]


def guarded_get(path: str, **options: Any) -> SharedHandlerRoute:
    """`litestar.get` for routes behind a guard (see `SharedHandlerRoute`)."""
    return SharedHandlerRoute(path, http_method=HttpMethod.GET, **options)


def provide_current_user(request: ASGIConnection[Any, Any, Any, Any]) -> User:
    """The signed-in user, from the session alone: no SQL on the hot path.

    Only id, email and creation time are kept there; none can change while the session lives
    (a password change or reset ends the user's other sessions). Routes use it behind `requires_login`;
    it refuses a session without a user too, so that a route that forgot the guard is a 401, never a 500.
    """
    session = _signed_in_session(request)
    return User(id=session["uid"], email=session["email"], created_at=_EPOCH + timedelta(microseconds=session["ucr"]))


# The dependency that hands the signed-in user to handlers (beside the `requires_login` guard).
CURRENT_USER = {"user": Provide(provide_current_user, sync_to_thread=False)}


def client_of(request: ASGIConnection[Any, Any, Any, Any]) -> Client:
    """The caller as a session records it: the address and a short device description, never the raw
    User-Agent."""
    return Client(ip=client_ip(request), device=describe_user_agent(request.headers.get("user-agent", "")))


def client_ip(request: ASGIConnection[Any, Any, Any, Any]) -> str:
    # The ASGI server resolves trusted proxy headers (uvicorn's FORWARDED_ALLOW_IPS) into `client`.
    return request.client.host if request.client else "unknown"
