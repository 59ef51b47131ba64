"""Prometheus metrics (METRICS_ENABLED): `GET /metrics`, counted at the HTTP edge from each response's route and
status, so that the domain knows nothing of them.

- `pet_auth_logins_total{outcome}`: success (200), failure (401), rate_limited (429), unavailable (503);
- `pet_auth_registrations_total`, `pet_auth_password_resets_total`;
- `pet_auth_session_revocations_total{reason}`: logout (of a signed-in session), revoke_one, revoke_others,
  password_change, password_reset (each ends one or more sessions);
- `pet_auth_rate_limited_total{route}`: 429 answers;
- `pet_auth_request_duration_seconds{method,route}`: time to the response's start, per route template.

With several worker processes, each writes its counts to files under PROMETHEUS_MULTIPROC_DIR (prometheus-client's
multiprocess mode, set up by `python -m pet_auth serve`) and a scrape of any worker sums them all.

With METRICS_BIND, the app serves no `/metrics`: `python -m pet_auth serve` serves the sum over that directory on the
internal address itself, once, from its own process (`serve_internal`).
"""

from __future__ import annotations

import hmac
import socket
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import msgspec
from litestar import Response, get
from litestar.connection import Request
from litestar.handlers import HTTPRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.multiprocess import MultiProcessCollector

from pet_auth.http.errors import PROBLEM_JSON, problem, problem_body
from pet_auth.http.openapi import operation_id
from pet_auth.http.session_cookie import came_signed_in

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

PATH = "/metrics"
_STARTED = "pet_auth.started"

# Litestar adds the charset of a text response itself.
_MEDIA_TYPE = CONTENT_TYPE_LATEST.replace("; charset=utf-8", "")
_LOGIN_OUTCOMES = {200: "success", 401: "failure", 429: "rate_limited", 503: "unavailable"}
# Routes whose success ends sessions, and why, by the route's declared name (its operation id, http/openapi.py): a
# path may move and a route be added without a change here.
_REVOCATIONS = {
    "logout": "logout",
    "endSession": "revoke_one",
    "revokeOtherSessions": "revoke_others",
    "changePassword": "password_change",
    "resetPassword": "password_reset",
    "deleteAccount": "account_deleted",
    "confirmTotp": "mfa_change",
    "disableMfa": "mfa_change",
    "replaceRecoveryCodes": "mfa_change",
    "registerPasskey": "passkey_change",
    "deletePasskey": "passkey_change",
}
# Where a sign-in ends: the password step, or the second factor's (the password step's 202 asks for that one), or a
# passkey's.
_SIGN_INS = {"login", "loginMfa", "passkeySignIn"}
_REGISTRATION = "register"


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.logins = Counter("pet_auth_logins", "Sign-in attempts, by outcome.", ["outcome"], registry=registry)
        self.registrations = Counter("pet_auth_registrations", "Accounts created.", registry=registry)
        self.resets = Counter("pet_auth_password_resets", "Passwords reset with an emailed token.", registry=registry)
        self.revocations = Counter(
            "pet_auth_session_revocations", "Requests that ended sessions, by reason.", ["reason"], registry=registry
        )
        self.rate_limited = Counter(
            "pet_auth_rate_limited", "Requests refused by a rate limit, by route.", ["route"], registry=registry
        )
        self.duration = Histogram(
            "pet_auth_request_duration_seconds",
            "Time from the request to the start of its response, by route.",
            ["method", "route"],
            registry=registry,
        )

    def record(
        self, method: str, route: str, operation: str | None, status: int, seconds: float, signed_in: bool
    ) -> None:
        """One response: `route` is the route's template (the label), `operation` its declared name (None for a
        request no route answered)."""
        self.duration.labels(method, route).observe(seconds)
        if status == 429:
            self.rate_limited.labels(route).inc()
        if operation in _SIGN_INS and status in _LOGIN_OUTCOMES:
            self.logins.labels(_LOGIN_OUTCOMES[status]).inc()
        elif status // 100 != 2 or operation is None:
            return
        elif operation == _REGISTRATION:
            self.registrations.inc()
        elif (reason := _REVOCATIONS.get(operation)) is not None and (reason != "logout" or signed_in):
            self.revocations.labels(reason).inc()
            if reason == "password_reset":
                self.resets.inc()


class StartClock(ASGIMiddleware):
    """Notes when a routed request came in, for the `before_send` hook below."""

    def __init__(self, excluded: str) -> None:
        self.excluded = excluded

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["path"] != self.excluded:
            cast("dict[str, Any]", scope)[_STARTED] = time.perf_counter()
        await next_app(scope, receive, send)


def before_send(metrics: Metrics) -> Any:
    """A `before_send` hook, which sees every response, those of the exception handlers included."""

    async def record(message: Message, scope: Scope) -> None:
        started = cast("dict[str, Any]", scope).get(_STARTED)
        if message["type"] != "http.response.start" or started is None:
            return
        fields = cast("dict[str, Any]", scope)
        route, method, handler = fields.get("path_template", ""), fields["method"], fields.get("route_handler")
        operation = operation_id(handler) if isinstance(handler, HTTPRouteHandler) else None
        seconds = time.perf_counter() - started
        metrics.record(method, route, operation, message["status"], seconds, came_signed_in(scope))

    return record


def exposition(registry: CollectorRegistry, token: str, multiprocess_dir: str) -> HTTPRouteHandler:
    """`GET /metrics` in Prometheus's text format; with a token, for `Authorization: Bearer <token>` only."""

    @get(PATH, include_in_schema=False, opt={"skip_session": True}, sync_to_thread=False)
    def metrics(request: Request[Any, Any, Any]) -> Response[Any]:
        if token and not hmac.compare_digest(
            request.headers.get("authorization", "").encode(), f"Bearer {token}".encode()
        ):
            return problem(
                401, "not_authenticated", "Metrics need the bearer token.", headers={"WWW-Authenticate": "Bearer"}
            )
        source = registry
        if multiprocess_dir:
            source = CollectorRegistry()
            MultiProcessCollector(source, path=multiprocess_dir)  # type: ignore[no-untyped-call]
        return Response(generate_latest(source), media_type=_MEDIA_TYPE)

    return metrics


class _Quiet(WSGIRequestHandler):
    """No access log, as on the app's port."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve_internal(host: str, port: int, token: str, multiprocess_dir: str) -> WSGIServer:
    """The metrics of every process that writes under `multiprocess_dir`, on `host:port` (METRICS_BIND), from a
    thread of the calling process: prometheus-client's WSGI app on its threading server (what its
    `start_http_server` runs), behind the bearer token when there is one. Raises OSError if it cannot listen."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
    app: WSGIApplication = make_wsgi_app(registry)
    if token:
        app = _bearer_only(app, token)

    class Server(ThreadingWSGIServer):
        pass

    # As `start_http_server`: the family of the address (an IPv6 host needs AF_INET6).
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    Server.address_family = family
    server = make_server(str(address[0]), port, app, Server, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="pet_auth-metrics", daemon=True).start()
    return server


def _bearer_only(app: WSGIApplication, token: str) -> WSGIApplication:
    expected = f"Bearer {token}".encode()
    refusal = msgspec.json.encode(problem_body(401, "not_authenticated", "Metrics need the bearer token."))

    def guarded(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if hmac.compare_digest(str(environ.get("HTTP_AUTHORIZATION", "")).encode(), expected):
            return app(environ, start_response)
        start_response(
            "401 Unauthorized",
            [("Content-Type", PROBLEM_JSON), ("Content-Length", str(len(refusal))), ("WWW-Authenticate", "Bearer")],
        )
        return [refusal]

    return guarded
