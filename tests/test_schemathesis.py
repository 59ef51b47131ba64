"""A bounded property-based run of schemathesis over the served OpenAPI document: no 5xx, and every response
(status, media type, body) is one the document states.

schemathesis' own pytest integration (`from_fixture(...).parametrize()`) does not run under pytest 9, so each
operation gets a plain parametrized test that drives schemathesis' Hypothesis strategy itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pet_auth.app import create_app
from pet_auth.config import Settings
from tests.conftest import PASSWORD, unique_email

SCHEMA_PATH = "/schema/openapi.json"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _operations() -> list[tuple[str, str]]:
    # Building the app connects to nothing; its document lists the operations to test.
    document = create_app(Settings(app_env="test")).openapi_schema.to_schema()
    return [(method, path) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS]


@pytest.fixture
def api_schema(settings: Settings) -> Iterator[Any]:
    app = create_app(settings)
    yield schemathesis.openapi.from_asgi(SCHEMA_PATH, app)
    # The app runs in schemathesis' event-loop thread; its lifespan (Redis, engine) ends there.
    asgi.shutdown_lifespans()


@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda value: str(value))
def test_every_response_is_documented_and_none_is_a_server_error(api_schema: Any, method: str, path: str) -> None:
    with asgi.get_client(api_schema.app) as http:
        # A signed-in session, so that the guarded routes answer more than 401.
        response = http.post("/api/auth/register", json={"email": unique_email("fuzz"), "password": PASSWORD})
        assert response.status_code == 201, response.text
        cookies = dict(http.cookies)

    operation = api_schema[path][method]
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @given(case=cases)
    @settings(
        max_examples=30,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(checks=CHECKS, cookies=cookies)

    run()
