"""One error format for every error response: RFC 9457 problem+json with a stable `code`."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import redis.exceptions
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from pet_auth.db.outages import DATABASE_ERRORS, is_database_outage
from pet_auth.domain import errors as domain
from pet_auth.http.litestar_compat import field_errors, is_malformed_body
from pet_auth.http.schemas import FieldProblem, Problem

logger = logging.getLogger("pet_auth.errors")

PROBLEM_JSON = "application/problem+json"

DOMAIN_STATUS: dict[type[domain.DomainError], int] = {
    domain.InvalidInput: 400,
    domain.InvalidToken: 400,
    domain.InvalidCode: 400,
    domain.InvalidCredentials: 401,
    domain.ReauthenticationRequired: 401,
    domain.EmailNotVerified: 403,
    domain.InvalidSignInCode: 401,
    domain.SignInCodeAlreadyUsed: 401,
    domain.MfaExpired: 401,
    domain.SessionNotFound: 404,
    domain.EmailTaken: 409,
    domain.MfaConflict: 409,
    domain.PasskeyChallengeInvalid: 400,
    domain.PasskeyInvalid: 400,
    domain.PasskeySignInInvalid: 401,
    domain.PasskeyNotRecognized: 401,
    domain.PasskeyNotFound: 404,
    domain.PasskeyLimitReached: 409,
    domain.PasskeyAlreadyRegistered: 409,
    domain.LastSignInMethod: 409,
    domain.RateLimited: 429,
    domain.TransactionConflict: 503,
    domain.PasswordCheckUnavailable: 503,
}

_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "service_unavailable",
}

# The problems of the HTTP layer (beside the domain errors above) that the OpenAPI document states: code -> status.
HTTP_PROBLEMS = {
    "malformed_json": 400,
    "not_authenticated": 401,
    "forbidden_origin": 403,
    "request_too_large": 413,
    "unsupported_media_type": 415,
    "service_unavailable": 503,
}

# What an outage of PostgreSQL or Redis looks like from here, by exception type: each is a 503, never a 500.
# PostgreSQL: db/outages.py tells (`is_database_outage`). Redis: refused, reset or closed connections, timeouts, a
# full connection pool, LOADING (BusyLoadingError, a ConnectionError), no master known to the sentinels during a
# failover (MasterNotFoundError, a ConnectionError), and a replica or a cluster that cannot take writes now
# (READONLY, MASTERDOWN, CLUSTERDOWN, TRYAGAIN, a slot that no node serves while the cluster reshapes).
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.SlotNotCoveredError,
    OSError,
    TimeoutError,
)


def is_unavailable(exc: BaseException) -> bool:
    """Whether an exception means that PostgreSQL or Redis can't serve now (a 503), not a bug (a 500)."""
    if isinstance(exc, DATABASE_ERRORS):
        return is_database_outage(exc)
    return isinstance(exc, UNAVAILABLE_ERRORS)


def problem_body(
    status: int,
    code: str,
    detail: str,
    errors: list[FieldProblem] | None = None,
    methods: list[str] | None = None,
) -> Problem:
    title = HTTPStatus(status).phrase
    return Problem(
        type="about:blank", title=title, status=status, detail=detail, code=code, errors=errors, methods=methods
    )


def problem(
    status: int,
    code: str,
    detail: str,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
    methods: list[str] | None = None,
) -> Response[Problem]:
    body = problem_body(status, code, detail, errors, methods)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class ClientError(HTTPException):
    """An HTTP-level refusal with its own problem `code` (bad origin, bad media type, ...)."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail=detail, status_code=status, headers=headers)
        self.code = code


def status_of(error: type[domain.DomainError]) -> int:
    """A domain error's status: its own, or that of the nearest class it derives from."""
    return next((DOMAIN_STATUS[cls] for cls in error.__mro__ if cls in DOMAIN_STATUS), 400)


def _domain_error(_: Request[Any, Any, Any], exc: domain.DomainError) -> Response[Problem]:
    status = status_of(type(exc))
    errors = methods = None
    headers = None
    if isinstance(exc, domain.InvalidInput):
        errors = [FieldProblem(field=e.field, message=e.message) for e in exc.errors]
    if isinstance(exc, domain.RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, domain.ReauthenticationRequired):
        methods = list(exc.methods)
    return problem(status, exc.code, exc.detail, errors, headers, methods)


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    status = exc.status_code
    if isinstance(exc, ValidationException) or (status == 400 and exc.extra):
        return problem(400, "validation_error", "The request has invalid fields.", _field_problems(exc.extra))
    if status >= 500:
        return _unexpected(_, exc)
    code = getattr(exc, "code", None) or _HTTP_CODES.get(status, f"http_{status}")
    detail = exc.detail
    if is_malformed_body(exc):
        return _malformed_json()
    return problem(status, code, detail, headers=exc.headers)


def _malformed_json() -> Response[Problem]:
    return problem(400, "malformed_json", "The request body is not valid JSON.")


def _field_problems(extra: Any) -> list[FieldProblem]:
    problems = [FieldProblem(field=field, message=message) for field, message in field_errors(extra)]
    return problems or [FieldProblem(field="body", message="is invalid")]


_UNAVAILABLE_DETAIL = "A service this request needs is unavailable; try again shortly."


def unavailable_problem() -> Problem:
    return problem_body(503, "service_unavailable", _UNAVAILABLE_DETAIL)


def _unavailable(_: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    logger.warning("dependency unavailable: %s", type(exc).__name__)
    return problem(503, "service_unavailable", _UNAVAILABLE_DETAIL)


def _database_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    return _unavailable(request, exc) if is_unavailable(exc) else _unexpected(request, exc)


def _unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    logger.exception("unhandled error")
    return problem(500, "internal_error", "Something went wrong on our side.")


def exception_handlers() -> ExceptionHandlersMap:
    handlers: ExceptionHandlersMap = {
        domain.DomainError: _domain_error,
        HTTPException: _http_error,
        Exception: _unexpected,
    }
    for error in DATABASE_ERRORS:
        handlers[error] = _database_error
    for error in UNAVAILABLE_ERRORS:
        handlers[error] = _unavailable
    return handlers


__all__ = [
    "DOMAIN_STATUS",
    "HTTP_PROBLEMS",
    "PROBLEM_JSON",
    "UNAVAILABLE_ERRORS",
    "ClientError",
    "exception_handlers",
    "is_unavailable",
    "problem",
    "status_of",
    "unavailable_problem",
]
