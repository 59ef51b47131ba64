"""Documented error responses, so that the OpenAPI schema states every problem a route can answer."""

from __future__ import annotations

from http import HTTPStatus

from litestar.openapi.datastructures import ResponseSpec

from pet_auth.http.errors import PROBLEM_JSON
from pet_auth.http.schemas import Problem, Schema

# Any API route may meet these: bad input or origin, oversized or non-JSON body, a dependency outage.
_API_ROUTE_STATUSES = (400, 403, 413, 415, 503)


def problems(*statuses: int, api_route: bool = True) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(data_container=Problem, media_type=PROBLEM_JSON, description=HTTPStatus(status).phrase)
        for status in sorted({*statuses, *(_API_ROUTE_STATUSES if api_route else ())})
    }


def response(schema: type[Schema], description: str) -> ResponseSpec:
    """A success response besides the route's main one."""
    return ResponseSpec(data_container=schema, description=description)
