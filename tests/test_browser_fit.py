"""What a browser app needs beyond the routes: the headers CORS exposes, a session read that never answers 401, and
in development, problems that say why a request cannot work and a ready block that says where everything is."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from litestar.testing import AsyncTestClient

from pet_auth.app import create_app
from pet_auth.config import Settings
from pet_auth.http.development import ready_banner
from tests.support.clients import SPA_ORIGIN, Client, MakeClient, problem_code, register, unique_email

SESSION = "/api/auth/session"
OTHER_ORIGIN = "http://127.0.0.1:5174"


async def test_cors_exposes_retry_after(client: Client) -> None:
    response = await client.get("/api/auth/me", headers={"Origin": SPA_ORIGIN})
    exposed = {name.strip().lower() for name in response.headers["access-control-expose-headers"].split(",")}
    assert "retry-after" in exposed


async def test_the_session_is_null_when_signed_out_never_a_401(client: Client) -> None:
    signed_out = await client.get(SESSION)
    assert signed_out.status_code == 200
    assert signed_out.json() == {"user": None}

    email = unique_email()
    await register(client, email)
    signed_in = await client.get(SESSION)
    assert signed_in.status_code == 200
    assert signed_in.json()["user"]["email"] == email
    assert signed_in.json()["user"] == (await client.get("/api/auth/me")).json()["user"]

    await client.post("/api/auth/logout")
    assert (await client.get(SESSION)).json() == {"user": None}


@pytest.fixture
async def development(make_client: MakeClient) -> Client:
    return await make_client(app_env="development")


async def test_in_development_an_origin_not_allowed_is_told_why_and_can_read_it(development: Client) -> None:
    preflight = await development.options(
        "/api/auth/login",
        headers={
            "Origin": OTHER_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == OTHER_ORIGIN

    refused = await development.post(
        "/api/auth/login", json={"email": "a@example.com", "password": "x"}, headers={"Origin": OTHER_ORIGIN}
    )
    assert refused.status_code == 403
    assert problem_code(refused) == "origin_not_allowed"
    assert SPA_ORIGIN in refused.json()["detail"]  # the allowed origin, named
    assert refused.headers["access-control-allow-origin"] == OTHER_ORIGIN  # readable by the page
    assert refused.headers["access-control-allow-credentials"] == "true"


async def test_in_development_an_api_host_of_another_site_is_told_why(development: Client) -> None:
    """The page at http://localhost:5173 calling the API at http://127.0.0.1:8000: the cookie would be dropped."""
    response = await development.get("/api/auth/session", headers={"Origin": SPA_ORIGIN, "Host": "127.0.0.1:8000"})
    assert response.status_code == 400
    assert problem_code(response) == "cross_site_api_host"
    assert "http://localhost:8000" in response.json()["detail"]
    assert response.headers["access-control-allow-origin"] == SPA_ORIGIN
    same_site = await development.get("/api/auth/session", headers={"Origin": SPA_ORIGIN, "Host": "localhost:8000"})
    assert same_site.status_code == 200


async def test_outside_development_nothing_is_explained(client: Client) -> None:
    refused = await client.post(
        "/api/auth/login", json={"email": "a@example.com", "password": "x"}, headers={"Origin": OTHER_ORIGIN}
    )
    assert refused.status_code == 403
    assert problem_code(refused) == "forbidden_origin"
    assert "access-control-allow-origin" not in refused.headers
    cross_site = await client.get("/api/auth/session", headers={"Origin": SPA_ORIGIN, "Host": "127.0.0.1:8000"})
    assert cross_site.status_code == 200


def test_the_ready_block_names_the_api_by_the_frontends_host_the_origin_and_the_mail(
    make_settings: Callable[..., Settings],
) -> None:
    banner = ready_banner(make_settings(app_env="development", host="127.0.0.1", port=8123))
    assert "http://localhost:8123" in banner
    assert "127.0.0.1" not in banner
    assert SPA_ORIGIN in banner
    assert "printed here" in banner
    smtp = ready_banner(
        make_settings(app_env="development", mail_backend="smtp", smtp_host="mail.test", smtp_port=2525)
    )
    assert "mail.test:2525" in smtp


async def test_the_app_prints_the_ready_block_at_startup_in_development_only(
    make_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    for env, printed in (("development", True), ("test", False)):
        async with AsyncTestClient(create_app(make_settings(app_env=env))):
            pass
        assert ("pet_auth is ready" in capsys.readouterr().err) is printed
