"""The OpenAPI document, exact enough to generate a client from: every problem each operation can answer, with its
`code` as an enum of that operation's codes, and the session cookie as the security scheme of guarded operations.

A route states only its own domain errors (`operation_class=problems(EmailTaken, RateLimited)`); the problems
every route of its kind can meet are added here from what the document already knows about the operation:
- a JSON body: 400 `malformed_json` / `validation_error`, 413 `request_too_large`;
- a security requirement (the login guard): 401 `not_authenticated`;
- an unsafe method (`read_only=False`): 403 `forbidden_origin` and 415 `unsupported_media_type` (http/security.py);
- an API route (`api_route=True`): 503 `service_unavailable` when PostgreSQL or Redis is down.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus

import msgspec
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Components,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
    SecurityRequirement,
    SecurityScheme,
)
from litestar.types import OperationIDCreator

from pet_auth.domain.errors import DomainError, InvalidInput
from pet_auth.http.errors import HTTP_PROBLEMS, PROBLEM_JSON, status_of

SESSION_COOKIE_SCHEME = "sessionCookie"
# The security requirement of the routes behind the login guard (`security=SIGNED_IN`).
SIGNED_IN: list[SecurityRequirement] = [{SESSION_COOKIE_SCHEME: []}]

# A problem answer: its code and status.
_Problem = tuple[str, int]


def _problem(error: type[DomainError] | str) -> _Problem:
    if isinstance(error, str):
        if error not in HTTP_PROBLEMS:
            raise ValueError(f"no status is known for problem code {error!r}")
        return error, HTTP_PROBLEMS[error]
    return error.code, status_of(error)


_BODY_PROBLEMS = (_problem("malformed_json"), _problem(InvalidInput), _problem("request_too_large"))
_UNSAFE_METHOD_PROBLEMS = (_problem("forbidden_origin"), _problem("unsupported_media_type"))

_STRING = Schema(type=OpenAPIType.STRING)
_FIELD_PROBLEM = Schema(
    type=OpenAPIType.OBJECT,
    properties={"field": _STRING, "message": _STRING},
    required=["field", "message"],
)
_RETRY_AFTER = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.INTEGER, minimum=1),
    required=True,
    description="Seconds until the rate limit's window ends.",
)


def problems(*errors: type[DomainError] | str, read_only: bool = False, api_route: bool = True) -> type[Operation]:
    """The operation class (`operation_class=` of a route) that documents the route's problem answers.

    `errors` are the route's own: domain error classes, or codes of http/errors.py's HTTP_PROBLEMS.
    """
    own = [_problem(error) for error in errors]
    implied = [] if read_only else list(_UNSAFE_METHOD_PROBLEMS)
    if api_route:
        implied.append(_problem("service_unavailable"))

    @dataclass
    class DocumentedOperation(Operation):
        def __post_init__(self) -> None:
            codes = [*own, *implied]
            if self.request_body is not None:
                codes.extend(_BODY_PROBLEMS)
            if self.security:
                codes.append(_problem("not_authenticated"))
            # Litestar's own guesses (a 400 for any handler with parameters) give way to the exact list.
            responses = {status: answer for status, answer in (self.responses or {}).items() if int(status) < 400}
            responses.update(problem_responses(codes))
            self.responses = responses

    return DocumentedOperation


def problem_responses(problems: list[_Problem]) -> dict[str, OpenAPIResponse]:
    by_status: dict[int, set[str]] = defaultdict(set)
    for code, status in problems:
        by_status[status].add(code)
    return {str(status): _problem_response(status, sorted(by_status[status])) for status in sorted(by_status)}


def _problem_response(status: int, codes: list[str]) -> OpenAPIResponse:
    properties: dict[str, Schema | Reference] = {
        "type": _STRING,
        "title": _STRING,
        "status": Schema(type=OpenAPIType.INTEGER, const=status),
        "detail": _STRING,
        "code": Schema(type=OpenAPIType.STRING, enum=codes),
    }
    if InvalidInput.code in codes:
        properties["errors"] = Schema(
            type=OpenAPIType.ARRAY, items=_FIELD_PROBLEM, description=f"Field errors; only with `{InvalidInput.code}`."
        )
    schema = Schema(
        type=OpenAPIType.OBJECT,
        title=f"Problem{status}",
        description="RFC 9457 problem details with a stable, machine-readable `code`.",
        properties=properties,
        required=["type", "title", "status", "detail", "code"],
    )
    return OpenAPIResponse(
        description=f"{HTTPStatus(status).phrase}: {', '.join(f'`{code}`' for code in codes)}",
        content={PROBLEM_JSON: OpenAPIMediaType(schema=schema)},
        headers={"Retry-After": _RETRY_AFTER} if status == HTTPStatus.TOO_MANY_REQUESTS else None,
    )


def _camel_case_handler_name(handler: HTTPRouteHandler, _method: object, _path: Sequence[object]) -> str:
    """The handler's name in camelCase: `change_password` is `changePassword`, a client's method name."""
    first, *rest = handler.handler_name.split("_")
    return first + "".join(part.title() for part in rest)


def operation_id(handler: HTTPRouteHandler) -> str:
    """A route's declared name, its operation id in the document: the one a handler sets, else its name in
    camelCase. Unique across the API (the metrics key routes on it)."""
    declared = handler.operation_id
    return declared if isinstance(declared, str) else _camel_case_handler_name(handler, None, ())


# Checked against Litestar's public signature of an operation id creator (the method and path go unused).
_operation_id: OperationIDCreator = _camel_case_handler_name


def openapi_config(session_cookie_name: str) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="pet_auth",
        version="0.1.0",
        description="Authentication API of the Pet Manager web app. Errors are RFC 9457 problem+json with a `code`.",
        path="/schema",
        use_handler_docstrings=True,
        operation_id_creator=_operation_id,
        components=Components(
            security_schemes={
                SESSION_COOKIE_SCHEME: SecurityScheme(
                    type="apiKey",
                    name=session_cookie_name,
                    security_scheme_in="cookie",
                    description="The HttpOnly session cookie set by register and login; browsers send it by "
                    "themselves with `credentials: 'include'`.",
                )
            }
        ),
    )


def response(body: type[msgspec.Struct], description: str) -> ResponseSpec:
    """A success answer besides the route's main one (`responses={202: response(...)}`)."""
    return ResponseSpec(data_container=body, description=description, generate_examples=False)


__all__ = ["SIGNED_IN", "openapi_config", "problems", "response"]
