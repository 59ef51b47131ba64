"""Litestar's server-side session backend, extended to close its gaps.

Stock Litestar keeps the session id across login, adopts any id a client sends, writes Redis for every
anonymous request and rewrites the session on every response. This backend:
- issues a fresh CSPRNG id whenever a session starts (`start_session`), deleting the old key in the same step;
- only reads ids it issued: an unknown or malformed cookie is expired, never adopted;
- writes nothing for a request without a session, and nothing when a session did not change
  (the idle timeout slides with GETEX on read);
- keys Redis by HMAC(secret, id), so a listing of keys yields no usable cookie;
- enforces the absolute lifetime on every read.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import msgspec
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.session.base import SessionMiddleware
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.types import Empty, Message, ScopeSession

from pet_auth.http.errors import PROBLEM_JSON, UNAVAILABLE_ERRORS, logger, unavailable_problem
from pet_auth.sessions.store import SessionStore

_STATE_KEY = "pet_auth.session_state"
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")  # token_urlsafe(32): 256 bits


def session_digest(secret: bytes, session_id: str) -> str:
    # HMAC-SHA256 truncated to 128 bits (22 characters): still no way back to the id, no collision in practice,
    # and 21 bytes less in Redis for every session key and every per-user index entry.
    mac = hmac.digest(secret, session_id.encode(), "sha256")[:16]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


@dataclass(slots=True)
class SessionState:
    """What the backend knows about this request's session, kept in the ASGI scope."""

    session_id: str | None = None
    digest: str | None = None
    loaded: dict[str, Any] | None = None
    rotate: bool = False
    stale_cookie: bool = False


def session_state(connection: ASGIConnection[Any, Any, Any, Any]) -> SessionState:
    scope = cast("dict[str, Any]", connection.scope)
    return cast(SessionState, scope.setdefault(_STATE_KEY, SessionState()))


class RedisSessionBackend(ServerSideSessionBackend):
    config: RedisSessionConfig

    def _store(self, connection: ASGIConnection[Any, Any, Any, Any]) -> SessionStore:
        return cast(SessionStore, self.config.get_store_from_app(connection.scope["app"]))

    def generate_session_id(self) -> str:
        return secrets.token_urlsafe(32)

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:  # type: ignore[override]
        return session_state(connection).session_id

    async def load_from_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
        state = session_state(connection)
        session_id = connection.cookies.get(self.config.key)
        if session_id is None:
            return {}
        if not _SESSION_ID.fullmatch(session_id):
            state.stale_cookie = True
            return {}
        store = self._store(connection)
        digest = session_digest(self.config.secret, session_id)
        data = await store.load(digest)
        if data is not None and data["iat"] + store.absolute_lifetime <= time.time():
            await store.remove(digest, data.get("uid"))
            data = None
        if data is None:
            state.stale_cookie = True
            return {}
        state.session_id, state.digest, state.loaded = session_id, digest, dict(data)
        return data

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        state = session_state(connection)
        store = self._store(connection)
        headers = MutableScopeHeaders.from_message(message)
        if scope_session is Empty or not scope_session:
            if state.digest is not None and state.loaded is not None:
                await store.remove(state.digest, state.loaded.get("uid"))
            if state.loaded is not None or state.stale_cookie:
                headers.add("Set-Cookie", self._cookie("", max_age=0))
            return
        data = dict(cast("dict[str, Any]", scope_session))
        if state.digest is not None and not state.rotate:
            if data != state.loaded:
                await store.replace_data(state.digest, data)
            return
        session_id = self.generate_session_id()
        digest = session_digest(self.config.secret, session_id)
        await store.create(digest, data, user_id=int(data["uid"]), replaces=state.digest)
        headers.add("Set-Cookie", self._cookie(session_id, max_age=store.absolute_lifetime))

    def _cookie(self, value: str, max_age: int) -> str:
        cookie = Cookie(
            key=self.config.key,
            value=value,
            max_age=max_age,
            path=self.config.path,
            secure=self.config.secure,
            httponly=True,
            samesite=self.config.samesite,
        )
        return cookie.to_header(header="")


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
            except UNAVAILABLE_ERRORS as exc:
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
class RedisSessionConfig(ServerSideSessionConfig):
    _backend_class = RedisSessionBackend
    secret: bytes = field(default=b"", repr=False)
    samesite: Any = "lax"

    @property
    def middleware(self) -> DefineMiddleware:
        return DefineMiddleware(RedisSessionMiddleware, backend=self._backend_class(config=self))


def start_session(connection: ASGIConnection[Any, Any, Any, Any], data: dict[str, Any]) -> None:
    """Begin a signed-in session under a new id; the previous id, if any, dies with this response."""
    session_state(connection).rotate = True
    connection.scope["session"] = {**data, "iat": int(time.time())}


def end_session(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    connection.scope["session"] = Empty


def current_session_handle(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    return session_state(connection).digest
