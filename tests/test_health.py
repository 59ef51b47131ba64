from __future__ import annotations

import pytest

from tests.support.clients import Client


async def test_health_answers_without_touching_dependencies(client: Client) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"message": "ok"}


@pytest.mark.smoke
async def test_ready_pings_postgres_and_redis(client: Client) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200, response.text


async def test_unknown_path_is_a_problem_json_404(client: Client) -> None:
    response = await client.get("/no/such/path")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404
    assert body["code"] == "not_found"
    assert {"title", "detail", "type"} <= body.keys()


async def test_wrong_method_is_a_problem_json_405(client: Client) -> None:
    response = await client.delete("/health")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


async def test_openapi_schema_is_served(client: Client) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert "/api/auth/login" in response.json()["paths"]
