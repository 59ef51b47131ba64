"""In development (APP_ENV=development) the browser's silent failures get a readable problem: an origin that is not
allowed (`origin_not_allowed`, with the CORS headers that let the page read it), and a page that calls the API on
another site, where the SameSite=Lax session cookie never travels (`cross_site_api_host`). In production and test
nothing of it: tests/test_csrf.py. (tests/test_browser.py shows both in Chromium.)"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pet_auth.config import Settings
from tests.support.clients import SPA_ORIGIN, Client, MakeClient, register, unique_email
from tests.support.logs import captured

EVIL = "https://evil.example"
OTHER_PORT = "http://localhost:5174"  # the same site as the SPA, but not an allowed origin


@pytest.fixture
def development(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(app_env="development")


def problem(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    return str(body["detail"])


async def local_client(make_client: MakeClient, settings: Settings, host: str) -> Client:
    """A client calling the API as http://<host>:3000, as a browser page would."""
    client = await make_client(settings)
    client.base_url = f"http://{host}:3000"
    return client


@pytest.mark.parametrize("origin", [EVIL, OTHER_PORT, "null"])
async def test_a_disallowed_origin_reads_why_in_development(
    make_client: MakeClient, development: Settings, origin: str, db: AsyncEngine
) -> None:
    client = await make_client(development)
    email = unique_email("not-created")
    for response in (
        await client.get("/api/auth/me", headers={"Origin": origin}),
        await client.post(
            "/api/auth/register", json={"email": email, "password": "long enough password"}, headers={"Origin": origin}
        ),
    ):
        detail = problem(response, 403, "origin_not_allowed")
        assert origin in detail
        assert SPA_ORIGIN in detail
        assert "CORS_ORIGINS" in detail
        # Readable by that page: the CORS grant of this answer (development only).
        assert response.headers["access-control-allow-origin"] == origin
        assert response.headers["access-control-allow-credentials"] == "true"
        assert response.headers["cache-control"] == "no-store"
        assert "set-cookie" not in response.headers
    async with db.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM users WHERE email = :e"), {"e": email}) == 0

    # Its preflight is granted, so that the JSON request itself comes and reads the same explanation.
    preflight = await client.options(
        "/api/auth/login",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == origin
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "content-type" in preflight.headers["access-control-allow-headers"]


async def test_the_allowed_origin_and_requests_without_one_pass_in_development(
    make_client: MakeClient, development: Settings
) -> None:
    client = await local_client(make_client, development, "localhost")
    spa = {"Origin": SPA_ORIGIN, "Sec-Fetch-Site": "same-site"}
    user = await register(client)
    assert (await client.get("/api/auth/session", headers=spa)).json() == {"user": user}
    assert (await client.get("/api/auth/me")).json() == {"user": user}  # no Origin: not a page's fetch
    # The API's own origin (the /schema pages) is not a foreign one.
    assert (await client.get("/api/auth/me", headers={"Origin": "http://localhost:3000"})).status_code == 200


@pytest.mark.parametrize(
    ("api_host", "headers"),
    [
        # The frontend developer's case: the app on localhost, the API called as 127.0.0.1, in Chromium.
        ("127.0.0.1", {"Sec-Fetch-Site": "cross-site"}),
        # A browser that sends no Sec-Fetch-Site: judged by the host names.
        ("127.0.0.1", {}),
    ],
)
async def test_an_api_on_another_site_than_the_app_says_so_in_development(
    make_client: MakeClient, development: Settings, api_host: str, headers: dict[str, str]
) -> None:
    client = await local_client(make_client, development, api_host)
    response = await client.post(
        "/api/auth/register",
        json={"email": unique_email(), "password": "long enough password"},
        headers={"Origin": SPA_ORIGIN, **headers},
    )
    detail = problem(response, 403, "cross_site_api_host")
    assert "SameSite" in detail
    assert f"http://{api_host}:3000" in detail
    assert "Call the API as http://localhost:3000" in detail
    assert response.headers["access-control-allow-origin"] == SPA_ORIGIN
    assert "set-cookie" not in response.headers
    session = await client.get("/api/auth/session", headers={"Origin": SPA_ORIGIN, **headers})
    problem(session, 403, "cross_site_api_host")
    # The preflight passes (the origin is allowed): the request itself carries the explanation.
    preflight = await client.options(
        "/api/auth/register",
        headers={"Origin": SPA_ORIGIN, "Access-Control-Request-Method": "POST", **headers},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == SPA_ORIGIN


async def test_the_other_way_round_and_the_proxy_case(
    make_client: MakeClient, make_settings: Callable[..., Settings]
) -> None:
    # The app on 127.0.0.1, the API called as localhost.
    settings = make_settings(app_env="development", cors_origins="http://127.0.0.1:5173")
    client = await local_client(make_client, settings, "localhost")
    refused = await client.get("/api/auth/session", headers={"Origin": "http://127.0.0.1:5173"})
    assert "Call the API as http://127.0.0.1:3000" in problem(refused, 403, "cross_site_api_host")
    # A dev server's proxy that rewrote Host to 127.0.0.1 (Vite's changeOrigin): the browser saw one origin, and
    # says so.
    proxied = await client.get(
        "/api/auth/session", headers={"Origin": "http://127.0.0.1:5173", "Sec-Fetch-Site": "same-origin"}
    )
    assert proxied.status_code == 200
    # Same site, another port: cookies travel, nothing to say.
    same = await (await local_client(make_client, settings, "127.0.0.1")).get(
        "/api/auth/session", headers={"Origin": "http://127.0.0.1:5173"}
    )
    assert same.status_code == 200


async def test_each_reason_is_logged_once_per_origin(make_client: MakeClient, development: Settings) -> None:
    """For the terminal running `make dev`, too."""
    client = await make_client(development)
    with captured("pet_auth.development") as records:
        for _ in range(3):
            await client.get("/api/auth/me", headers={"Origin": EVIL})
    lines = [record.getMessage() for record in records if record.levelno == logging.WARNING]
    assert len(lines) == 1
    assert lines[0].startswith(f"refused a request from {EVIL} (origin_not_allowed)")


@pytest.mark.parametrize("app_env", ["test", "production"])
async def test_outside_development_nothing_changes(
    make_client: MakeClient, make_settings: Callable[..., Settings], app_env: str
) -> None:
    overrides: dict[str, Any] = {"app_env": app_env}
    if app_env == "production":
        overrides |= {"session_secret": "p" * 48, "metrics_token": "t"}
    client = await local_client(make_client, make_settings(**overrides), "127.0.0.1")
    foreign = await client.get("/api/auth/me", headers={"Origin": EVIL})
    assert foreign.status_code == 401
    assert "access-control-allow-origin" not in foreign.headers
    refused = await client.post("/api/auth/logout", headers={"Origin": EVIL})
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden_origin"
    assert "access-control-allow-origin" not in refused.headers
    preflight = await client.options(
        "/api/auth/login", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    cross_site = await client.get("/api/auth/session", headers={"Origin": SPA_ORIGIN, "Sec-Fetch-Site": "cross-site"})
    assert cross_site.status_code == 200
