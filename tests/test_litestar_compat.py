"""Tripwires of the fence (src/pet_auth/http/litestar_compat.py): each fails when a Litestar release changes the
behaviour that a use of its internals relies on. Run this file first after moving the Litestar pin (docs/development.md,
Upgrading Litestar). No server is needed: each builds a small app of its own."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from litestar import Controller, Litestar, Request, Response, delete, get, patch, post
from litestar.config.cors import CORSConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.handlers import BaseRouteHandler
from litestar.middleware._internal.cors import CORSMiddleware
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.session.base import BaseBackendConfig, BaseSessionBackend, SessionMiddleware
from litestar.params import JSONBody
from litestar.testing import TestClient
from litestar.types import ASGIApp, Empty, HTTPResponseStartEvent, Message, Receive, Scope, Scopes, ScopeSession, Send

from pet_auth.http.cors import enable_cors
from pet_auth.http.litestar_compat import (
    SharedHandlerRoute,
    allow_every_method,
    field_errors,
    install_cors,
    is_malformed_body,
)
from pet_auth.http.requests import ApiRequest
from pet_auth.http.schemas import ChangePasswordRequest

SPA = "http://localhost:5173"
FOREIGN = "https://evil.example"


def cors_config(origins: list[str]) -> CORSConfig:
    """As app.py configures it."""
    return CORSConfig(
        allow_origins=origins,
        allow_credentials=True,
        allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Content-Type"],
        max_age=600,
    )


@get("/hello", sync_to_thread=False)
def hello() -> Response[str]:
    # A header of the CORS set already present: every implementation replaces it.
    return Response("hi", headers={"Vary": "Accept"})


@get("/broken", sync_to_thread=False)
def broken() -> None:
    raise NotAuthorizedException("no")


# --- 1. CORS ---------------------------------------------------------------------------------------------------


def test_litestar_installs_its_internal_cors_middleware_as_the_app_handler() -> None:
    """Guards `install_cors`: the internal class still exists, `Litestar(cors_config=...)` still installs it as
    `app.asgi_handler` (the slot the fence replaces), built from (app, config) and keeping the config."""
    config = cors_config([SPA])
    app = Litestar([hello], cors_config=config)
    assert type(app.asgi_handler) is CORSMiddleware
    assert app.asgi_handler.config is config
    plain = Litestar([hello])
    assert not isinstance(plain.asgi_handler, CORSMiddleware)


@dataclass
class RecordingWrapper:
    calls: list[tuple[str, bool]] = field(default_factory=list)

    def __call__(self, send: Send, origin: str, has_cookie: bool) -> Send:
        self.calls.append((origin, has_cookie))

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (b"x-wrapped", b"1")]
            await send(message)

        return wrapped


def test_the_send_wrapper_hook_gets_each_answer_to_an_origin_but_preflights() -> None:
    """Guards `install_cors`: the app calls what sits in `app.asgi_handler`, outside the exception handling (error
    answers pass through it too); Litestar calls `send_wrapper(send, origin, has_cookie)` for a request with
    `Origin`, not for one without; and answers a preflight itself, with its own headers."""
    wrapper = RecordingWrapper()
    app = Litestar([hello, broken])
    install_cors(app, cors_config([SPA]), wrapper)
    with TestClient(app) as client:
        assert client.get("/hello", headers={"Origin": SPA, "Cookie": "a=b"}).headers.get("x-wrapped") == "1"
        assert client.get("/broken", headers={"Origin": FOREIGN}).headers.get("x-wrapped") == "1"
        assert client.get("/nowhere", headers={"Origin": SPA}).headers.get("x-wrapped") == "1"
        assert "x-wrapped" not in client.get("/hello").headers
        preflight = client.options(
            "/hello", headers={"Origin": SPA, "Access-Control-Request-Method": "GET", "Cookie": "a=b"}
        )
    assert wrapper.calls == [(SPA, True), (FOREIGN, False), (SPA, False)]
    assert preflight.status_code == 204
    assert "x-wrapped" not in preflight.headers
    assert preflight.headers["access-control-allow-origin"] == SPA
    assert preflight.headers["access-control-allow-credentials"] == "true"


def test_the_outer_middleware_sees_preflights_before_the_cors_middleware() -> None:
    """Guards `install_cors(..., outer=...)` (http/development.py): what wraps `app.asgi_handler` gets every
    request, the preflights the CORS middleware would answer itself included."""
    seen: list[str] = []

    def outer(inner: ASGIApp) -> ASGIApp:
        async def recording(scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(str(scope.get("method")))
            await inner(scope, receive, send)

        return recording

    app = Litestar([hello])
    install_cors(app, cors_config([SPA]), RecordingWrapper(), outer)
    with TestClient(app) as client:
        client.options("/hello", headers={"Origin": FOREIGN, "Access-Control-Request-Method": "GET"})
        client.get("/hello", headers={"Origin": SPA})
    assert seen == ["OPTIONS", "GET"]


def _cors_cases() -> Iterator[Any]:
    for origins in ([SPA], ["*"]):
        for origin in (SPA, FOREIGN):
            for cookie in (False, True):
                for path in ("/hello", "/broken"):
                    yield pytest.param(origins, origin, cookie, path, id=f"{origins[0]}-{origin}-{cookie}-{path}")


@pytest.mark.parametrize(("origins", "origin", "cookie", "path"), list(_cors_cases()))
def test_the_preencoded_headers_are_litestars(origins: list[str], origin: str, cookie: bool, path: str) -> None:
    """Guards http/cors.py's copy of Litestar's CORS response headers: the same headers, the same values, as
    Litestar's own middleware gives the same answer (allowed and foreign origins, with and without a cookie)."""
    config = cors_config(origins)
    stock = Litestar([hello, broken], cors_config=config)
    ours = Litestar([hello, broken])
    enable_cors(ours, config)
    headers = {"Origin": origin, **({"Cookie": "a=b"} if cookie else {})}
    answers = []
    for app in (stock, ours):
        with TestClient(app) as client:
            response = client.get(path, headers=headers)
        answers.append((response.status_code, sorted(response.headers.multi_items()), response.content))
    assert answers[0] == answers[1]
    assert isinstance(ours.asgi_handler, CORSMiddleware)


# --- 2. Guards -------------------------------------------------------------------------------------------------


def test_guards_of_a_shared_handler_route_get_the_handler_itself() -> None:
    """Guards `SharedHandlerRoute`: a route with guards still runs them through `authorize_connection` (else they
    would get a copy, or not run), in layer order (app, controller, route), sync ones too; a refusal stops the
    request before the handler."""
    seen: list[tuple[str, BaseRouteHandler]] = []

    def recording(name: str) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Any]:
        async def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
            seen.append((name, handler))
            if connection.query_params.get("refuse") == name:
                raise NotAuthorizedException("refused")

        return guard

    def sync_guard(_: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        seen.append(("sync", handler))

    ran: list[str] = []

    class Guarded(Controller):
        path = "/c"
        guards = [recording("controller")]

        @SharedHandlerRoute("/r", http_method="GET", guards=[recording("route"), sync_guard], sync_to_thread=False)
        def route(self) -> str:
            ran.append("route")
            return "ok"

    app = Litestar([Guarded], guards=[recording("app")])
    with TestClient(app) as client:
        assert client.get("/c/r").text == "ok"
        assert client.get("/c/r").text == "ok"
        assert client.get("/c/r", params={"refuse": "controller"}).status_code == 401
    assert [name for name, _ in seen] == [*(["app", "controller", "route", "sync"] * 2), "app", "controller"]
    assert ran == ["route", "route"]
    handlers = {id(handler) for _, handler in seen}
    assert len(handlers) == 1, "every guard call must get the one route handler, never a copy"
    assert isinstance(seen[0][1], SharedHandlerRoute)


# --- 3. Validation errors --------------------------------------------------------------------------------------


def _capture(caught: list[HTTPException]) -> Callable[[Request[Any, Any, Any], HTTPException], Response[str]]:
    def handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[str]:
        caught.append(exc)
        return Response("", status_code=exc.status_code)

    return handler


def _refusal(content: bytes | None) -> HTTPException:
    """What Litestar raises for this body of a route taking one of the app's request bodies."""

    @post("/body", status_code=204)
    async def body(data: JSONBody[ChangePasswordRequest]) -> None:
        raise AssertionError("a refused body reached the handler")

    caught: list[HTTPException] = []
    app = Litestar([body], request_class=ApiRequest, exception_handlers={HTTPException: _capture(caught)})
    with TestClient(app) as client:
        headers = {} if content is None else {"Content-Type": "application/json"}
        assert client.post("/body", content=content, headers=headers).status_code == 400
    [exc] = caught
    return exc


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"currentPassword": "x"}, [("newPassword", "is required")]),
        ({}, [("newPassword", "is required")]),
        ({"currentPassword": 1, "newPassword": "x"}, [("currentPassword", "Expected `str | null`, got `int`")]),
        (
            {"currentPassword": "x" * 1025, "newPassword": "x"},
            [("currentPassword", "Expected `str` of length <= 1024")],
        ),
        (None, [("body", "Expected `object`, got `null`")]),
        ([], [("body", "Expected `object`, got `array`")]),
        ("x", [("body", "Expected `object`, got `str`")]),
    ],
    ids=["missing", "empty", "mistyped", "too-long", "null", "array", "string"],
)
def test_field_errors_read_litestars_validation_failures(body: Any, errors: list[tuple[str, str]]) -> None:
    """Guards `field_errors`: the text of `ValidationException.extra` it parses (msgspec's "Object missing required
    field" message, the body's parameter name `data` for the body as a whole)."""
    exc = _refusal(json.dumps(body).encode())
    assert isinstance(exc, ValidationException)
    assert not is_malformed_body(exc)
    assert field_errors(exc.extra) == errors


def test_no_body_at_all_is_a_field_error_of_the_body() -> None:
    """Guards `field_errors`: Litestar's report of a missing body (the text of a KeyError of `data`)."""
    exc = _refusal(None)
    assert isinstance(exc, ValidationException)
    assert field_errors(exc.extra) == [("body", "is required")]


@pytest.mark.parametrize(
    "content",
    [b'{"currentPassword": "x", ', b"{'a': 1}", b'{"a": "\xff"}', b"[" * 8000 + b"]" * 8000],
    ids=["truncated", "single-quotes", "invalid-utf8", "deep-nesting"],
)
def test_a_body_that_is_not_json_is_refused_from_a_serialization_exception(content: bytes) -> None:
    """Guards `is_malformed_body`: Litestar decodes the body with the request class's `json()` (ApiRequest's turns
    a decoding failure into a SerializationException) and raises its 400 from that exception."""
    exc = _refusal(content)
    assert not isinstance(exc, ValidationException)
    assert is_malformed_body(exc)


# --- The session middleware (public API, but http/session_cookie.py leans on its order of calls) ----------------


@dataclass
class RecordingSessionConfig(BaseBackendConfig["RecordingBackend"]):
    calls: list[str]
    key: str = "sid"
    max_age: int = 60
    path: str = "/"
    domain: str | None = None
    secure: bool = False
    httponly: bool = True
    samesite: Any = "lax"
    exclude: str | list[str] | None = "^/health"
    exclude_opt_key: str = "skip_session"
    scopes: Scopes = field(default_factory=lambda: {"http"})  # type: ignore[arg-type]


def _keys(session: object) -> list[str]:
    return sorted(session) if isinstance(session, dict) else []


class RecordingBackend(BaseSessionBackend[RecordingSessionConfig]):
    async def load_from_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
        self.config.calls.append("load")
        return {"live": "yes"} if connection.cookies.get(self.config.key) else {}

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
        self.config.calls.append(f"id:{_keys(connection.scope['session'])}")
        return connection.cookies.get(self.config.key)

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        assert message["type"] == "http.response.start"
        self.config.calls.append("store:empty" if scope_session is Empty else f"store:{_keys(scope_session)}")
        start: HTTPResponseStartEvent = message
        start["headers"] = [*start.get("headers", ()), (b"x-stored", b"1")]


class RecordingMiddleware(SessionMiddleware[RecordingBackend]):
    def create_send_wrapper(self, connection: ASGIConnection[Any, Any, Any, Any]) -> Send:
        self.backend.config.calls.append("wrap")
        return super().create_send_wrapper(connection)


def test_the_session_middleware_drives_its_backend_as_the_session_cookie_expects() -> None:
    """Guards http/session_cookie.py's backend and middleware: the session is loaded before the handler and is what
    it finds in the scope; `get_session_id` is asked after the load and is `request.get_session_id()`; the send
    goes through `create_send_wrapper` (RedisSessionMiddleware's 503 on a failed write); `store_in_message` gets
    the response's start with the scope's session (`Empty` once the handler ended it); excluded paths skip it."""
    calls: list[str] = []

    @get("/me", sync_to_thread=False)
    def me(request: Request[Any, Any, Any]) -> str:
        calls.append(f"handler:{request.session.get('live')}:{request.get_session_id()}")
        return "me"

    @post("/out", status_code=204, sync_to_thread=False)
    def out(request: Request[Any, Any, Any]) -> None:
        request.clear_session()

    @get("/health", sync_to_thread=False)
    def health() -> str:
        calls.append("health")
        return "ok"

    config = RecordingSessionConfig(calls)
    middleware = DefineMiddleware(RecordingMiddleware, backend=RecordingBackend(config=config))
    with TestClient(Litestar([me, out, health], middleware=[middleware])) as client:
        assert client.get("/me", headers={"Cookie": "sid=t0k3n"}).headers.get("x-stored") == "1"
        assert calls == ["load", "id:['live']", "wrap", "handler:yes:t0k3n", "store:['live']"]
        calls.clear()
        client.get("/me")
        assert calls == ["load", "id:[]", "wrap", "handler:None:None", "store:[]"]
        calls.clear()
        client.post("/out", headers={"Cookie": "sid=t0k3n"})
        assert calls == ["load", "id:['live']", "wrap", "store:empty"]
        calls.clear()
        assert "x-stored" not in client.get("/health", headers={"Cookie": "sid=t0k3n"}).headers
        assert calls == ["health"]


def test_the_automatic_options_handler_of_a_path_with_several_methods_allows_them_all() -> None:
    """Litestar keeps the OPTIONS handler made for a path's first handler (`Allow` of that method alone);
    `allow_every_method` points it at the path's route as the app has it."""

    @patch("/thing", sync_to_thread=False)
    def change() -> None:
        return None

    @delete("/thing", sync_to_thread=False)
    def remove() -> None:
        return None

    app = Litestar(route_handlers=[change, remove])
    with TestClient(app) as client:
        assert set(client.options("/thing").headers["allow"].split(", ")) < {"DELETE", "OPTIONS", "PATCH"}
    allow_every_method(app)
    with TestClient(app) as client:
        assert client.options("/thing").headers["allow"] == "DELETE, OPTIONS, PATCH"
