"""The session cookie (the transport): a backend of Litestar's session middleware, and that middleware extended,
closing the gaps of its server-side backend. Storage is redis_store/sessions.py's.

Names: a session's *token* is the cookie value, the secret; its *handle* is the keyed hash of the token that Redis
stores it under, public (the `id` of `GET /sessions`).

Stock Litestar keeps the session id across login, adopts any id a client sends, writes Redis for every
anonymous request and rewrites the session on every response. This backend:
- issues a fresh CSPRNG id whenever a session starts (`SessionStore.start`, then `begin_session` sets the
  cookie), deleting the old session in the same step;
- only reads ids it issued: an unknown or malformed cookie is expired, never adopted;
- writes nothing for a request without a session, and nothing when a session did not change
  (its last use is recorded at most once per touch interval, see redis_store/sessions.py);
- keys Redis by HMAC(secret, id), so a listing of Redis yields no usable cookie;
- enforces the idle timeout and the absolute lifetime on every read.

The cookie is `<user id>.<43 random characters>` (256 bits): the user id names the Redis hash that holds the
user's sessions; the random part is the secret.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import msgspec
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.session.base import BaseBackendConfig, BaseSessionBackend, SessionMiddleware
from litestar.types import Empty, HTTPResponseStartEvent, Message, Scopes, ScopeSession

from pet_auth.domain.models import SessionRef
from pet_auth.domain.tokens import TOKEN_PATTERN
from pet_auth.http.errors import PROBLEM_JSON, is_unavailable, logger, unavailable_problem
from pet_auth.redis_store.sessions import LiveSession, SessionStore, session_handle

_STATE_KEY = "pet_auth.session_state"
_SESSION_TOKEN = re.compile(rf"([1-9][0-9]{{0,17}})\.{TOKEN_PATTERN.pattern}")  # <user id>.<new_token()>


# The key of Litestar's scope session under which a signed-in request finds its session.
_LIVE = "live"


@dataclass(frozen=True, slots=True)
class LoadedSession:
    """The signed-in session a request came with."""

    token: str
    live: LiveSession


@dataclass(slots=True)
class SessionState:
    """What the backend knows about this request's session, kept in the ASGI scope."""

    loaded: LoadedSession | None = None
    # The token of a session this request started; it replaces the loaded one.
    issued: str | None = None
    stale_cookie: bool = False


def session_state(connection: ASGIConnection[Any, Any, Any, Any]) -> SessionState:
    scope = cast("dict[str, Any]", connection.scope)
    state = scope.get(_STATE_KEY)
    if state is None:
        state = scope[_STATE_KEY] = SessionState()
    return cast(SessionState, state)


class RedisSessionBackend(BaseSessionBackend["RedisSessionConfig"]):
    """A backend of Litestar's session middleware (its public interface: load, session id, store) over
    `SessionStore`. The session the middleware puts in the scope is `{_LIVE: LiveSession}`, or empty."""

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
        """The token of the session the request came with (`request.get_session_id()`); None without one (no
        id is made up for a request without a session)."""
        loaded = session_state(connection).loaded
        return None if loaded is None else loaded.token

    async def load_from_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
        state = session_state(connection)
        token = connection.cookies.get(self.config.key)
        if token is None:
            return {}
        well_formed = _SESSION_TOKEN.fullmatch(token)
        if well_formed is None:
            state.stale_cookie = True
            return {}
        user_id, handle = int(well_formed[1]), session_handle(self.config.secret, token)
        live = await self.config.sessions.load(user_id, handle)
        if live is None:
            state.stale_cookie = True
            return {}
        state.loaded = LoadedSession(token, live)
        return {_LIVE: live}

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        state = session_state(connection)
        if state.issued is not None:
            _add_header(message, self._cookie(state.issued, max_age=self.config.sessions.absolute_lifetime))
            return
        loaded = state.loaded
        if scope_session is Empty or not scope_session:
            if loaded is not None:
                await self.config.sessions.end_one_session(loaded.live.user_id, loaded.live.handle)
            if loaded is not None or state.stale_cookie:
                _add_header(message, self._cookie("", max_age=0))
        # A signed-in session's data belongs to the store: it is written when the session starts, never back.
        # (So a request that kept its session, the common case, costs nothing here.)

    def _cookie(self, value: str, max_age: int) -> str:
        cookie = Cookie(
            key=self.config.key,
            value=value,
            max_age=max_age,
            path=self.config.path,
            domain=self.config.domain,
            secure=self.config.secure,
            httponly=self.config.httponly,
            samesite=self.config.samesite,
        )
        return cookie.to_header(header="")


def _add_header(message: Message, value: str) -> None:
    start = cast("HTTPResponseStartEvent", message)  # only the response's start reaches the backend
    start["headers"] = [*start.get("headers", ()), (b"set-cookie", value.encode("latin-1"))]


class RedisSessionMiddleware(SessionMiddleware[RedisSessionBackend]):
    """Stock middleware, but a session write that fails because Redis is down answers 503 problem+json.

    The write happens as the response starts, after the handler and beyond the exception handlers' reach:
    stock Litestar turns it into a bare 500 from the server. Here the handler's response is dropped, the
    503 sent in its place, and no cookie is set.
    """

    def create_send_wrapper(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> Callable[[Message], Awaitable[None]]:
        replaced = False

        async def wrapped_send(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # the rest of the handler's response, which the 503 replaced
            if message["type"] != "http.response.start":
                await connection.send(message)
                return
            try:
                await self.backend.store_in_message(connection.scope.get("session"), message, connection)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                logger.warning("dependency unavailable while storing the session: %s", type(exc).__name__)
                replaced = True
                body = msgspec.json.encode(unavailable_problem())
                headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
                await connection.send({"type": "http.response.start", "status": 503, "headers": headers})
                await connection.send({"type": "http.response.body", "body": body, "more_body": False})
                return
            await connection.send(message)

        return wrapped_send


@dataclass
class RedisSessionConfig(BaseBackendConfig[RedisSessionBackend]):
    """The session cookie's settings, and the store of the sessions it names. `middleware` installs it."""

    key: str
    sessions: SessionStore = field(repr=False)
    secret: bytes = field(repr=False)
    max_age: int
    path: str = "/"
    domain: str | None = None
    secure: bool = False
    httponly: bool = True
    samesite: Literal["lax", "strict", "none"] = "lax"
    exclude: str | list[str] | None = None
    exclude_opt_key: str = "skip_session"
    scopes: Scopes = field(default_factory=lambda: {ScopeType.HTTP, ScopeType.WEBSOCKET})

    @property
    def middleware(self) -> DefineMiddleware:
        return DefineMiddleware(RedisSessionMiddleware, backend=RedisSessionBackend(config=self))


def begin_session(connection: ASGIConnection[Any, Any, Any, Any], token: str) -> None:
    """Hand the client a session just stored; the one it came with, if any, was ended in the same step."""
    session_state(connection).issued = token


def drop_session_cookie(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Sign the request's session out: the response expires the cookie, and the session it named ends in Redis
    (`RedisSessionBackend.store_in_message`)."""
    connection.scope["session"] = Empty


def current_session_handle(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    loaded = session_state(connection).loaded
    return None if loaded is None else loaded.live.handle


def came_signed_in(scope: Any) -> bool:
    """Whether the request (its ASGI scope) came with a live session."""
    state = scope.get(_STATE_KEY)
    return state is not None and state.loaded is not None


def current_session(connection: ASGIConnection[Any, Any, Any, Any]) -> SessionRef | None:
    loaded = session_state(connection).loaded
    return None if loaded is None else SessionRef(loaded.live.user_id, loaded.live.handle)


def live_session(connection: ASGIConnection[Any, Any, Any, Any]) -> LiveSession | None:
    """The request's signed-in session, unless it has none (or ended it)."""
    session = connection.scope.get("session")
    return session.get(_LIVE) if isinstance(session, dict) else None
