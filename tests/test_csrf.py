"""CSRF: the origin check on unsafe methods, JSON-only bodies, and a credentialed CORS for the SPA alone."""

from __future__ import annotations

import httpx
import pytest
from httpx import Response

from tests.support.clients import API_ORIGIN, PASSWORD, SPA_ORIGIN, Client, MakeClient, register, unique_email

EVIL = "https://evil.example"


def assert_forbidden_origin(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "forbidden_origin"


async def login(client: Client, email: str, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": PASSWORD}, headers=headers)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": EVIL}, id="foreign-origin"),
        pytest.param({"Origin": "null"}, id="opaque-origin"),
        pytest.param({"Origin": "http://localhost:5173.evil.example"}, id="lookalike-host"),
        pytest.param({"Origin": "http://localhost:51730"}, id="lookalike-port"),
        pytest.param({"Origin": "https://localhost:5173"}, id="other-scheme"),
        pytest.param({"Referer": f"{EVIL}/page?x=1"}, id="foreign-referer-without-origin"),
        pytest.param({"Origin": EVIL, "Referer": f"{SPA_ORIGIN}/login"}, id="origin-wins-over-referer"),
        pytest.param({"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}, id="cross-site-foreign-origin"),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, id="cross-site-without-origin"),
    ],
)
async def test_unsafe_requests_from_foreign_origins_are_refused(client: Client, headers: dict[str, str]) -> None:
    response = await client.post("/api/auth/forgot-password", json={"email": unique_email()}, headers=headers)
    assert_forbidden_origin(response)


async def test_a_cross_site_login_gets_no_session(client: Client) -> None:
    email = unique_email()
    await register(client, email)
    client.cookies.clear()
    response = await login(client, email, {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
    assert_forbidden_origin(response)
    assert "set-cookie" not in response.headers
    assert (await client.get("/api/auth/me")).status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": SPA_ORIGIN}, id="allowed-origin"),
        pytest.param({"Origin": SPA_ORIGIN, "Sec-Fetch-Site": "cross-site"}, id="allowed-origin-cross-site"),
        pytest.param({"Origin": API_ORIGIN, "Sec-Fetch-Site": "same-origin"}, id="own-origin"),
        pytest.param({"Referer": f"{SPA_ORIGIN}/login"}, id="allowed-referer"),
        pytest.param({"Referer": f"{API_ORIGIN}/schema"}, id="own-referer"),
        pytest.param({}, id="no-origin-no-referer"),
        pytest.param({"Sec-Fetch-Site": "none"}, id="typed-by-the-user"),
    ],
)
async def test_unsafe_requests_from_allowed_origins_or_non_browsers_pass(
    client: Client, headers: dict[str, str]
) -> None:
    response = await client.post("/api/auth/forgot-password", json={"email": unique_email()}, headers=headers)
    assert response.status_code == 202, response.text


async def test_a_cross_site_logout_leaves_the_session_alone(client: Client) -> None:
    await register(client)
    assert_forbidden_origin(await client.post("/api/auth/logout", headers={"Origin": EVIL}))
    sessions = await client.get("/api/auth/sessions/")
    assert sessions.status_code == 200
    (session,) = sessions.json()["sessions"]
    response = await client.delete(f"/api/auth/sessions/{session['id']}", headers={"Origin": EVIL})
    assert_forbidden_origin(response)
    assert_forbidden_origin(await client.post("/api/auth/sessions/revoke-others", headers={"Referer": f"{EVIL}/"}))
    assert (await client.get("/api/auth/me")).status_code == 200


async def test_safe_methods_are_not_origin_checked(client: Client) -> None:
    await register(client)
    response = await client.get("/api/auth/me", headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 200
    # ...but the browser gets no CORS grant to read it.
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param("text/plain", b'{"email": "a@example.com"}', id="text-plain"),
        pytest.param("text/plain;charset=UTF-8", b'{"email": "a@example.com"}', id="text-plain-charset"),
        pytest.param("application/x-www-form-urlencoded", b"email=a%40example.com", id="urlencoded-form"),
        pytest.param(
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="email"\r\n\r\na\r\n--x--\r\n',
            id="multipart-form",
        ),
        pytest.param("application/xml", b"<email>a@example.com</email>", id="xml"),
        pytest.param("application/jsonp", b'{"email": "a@example.com"}', id="json-lookalike"),
        pytest.param(None, b'{"email": "a@example.com"}', id="no-content-type"),
    ],
)
@pytest.mark.parametrize("origin", [None, SPA_ORIGIN])
async def test_bodies_that_are_not_json_are_refused(
    client: Client, content_type: str | None, body: bytes, origin: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    if origin:
        headers["Origin"] = origin
    response = await client.post("/api/auth/forgot-password", content=body, headers=headers)
    assert response.status_code == 415, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unsupported_media_type"


async def test_json_with_a_charset_parameter_is_accepted(client: Client) -> None:
    response = await client.post(
        "/api/auth/forgot-password",
        content=b'{"email": "a@example.com"}',
        headers={"Content-Type": "Application/JSON; charset=utf-8"},
    )
    assert response.status_code == 202, response.text


async def preflight(client: Client, origin: str) -> Response:
    """The browser's CORS preflight for a JSON POST to /login from `origin`."""
    return await client.options(
        "/api/auth/login",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )


async def test_cors_preflight_grants_the_allowed_origin_with_credentials(client: Client) -> None:
    response = await preflight(client, SPA_ORIGIN)
    assert response.status_code in (200, 204)
    assert response.headers["access-control-allow-origin"] == SPA_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "content-type" in response.headers["access-control-allow-headers"].lower()


async def test_a_credentialed_response_names_the_exact_allowed_origin(client: Client) -> None:
    email = unique_email()
    await register(client, email)
    response = await login(client, email, {"Origin": SPA_ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SPA_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "origin" in response.headers["vary"].lower()


@pytest.mark.parametrize("origin", [EVIL, "null", "http://localhost:5173.evil.example"])
async def test_cors_preflight_grants_nothing_to_a_foreign_origin(client: Client, origin: str) -> None:
    response = await preflight(client, origin)
    assert "access-control-allow-origin" not in response.headers
    assert response.headers.get("access-control-allow-credentials") != "true"
    assert response.status_code < 500


async def test_every_answer_to_the_spa_carries_its_cors_grant_once(client: Client) -> None:
    """Errors included (the SPA reads their problem codes), and each header once."""
    spa = {"Origin": SPA_ORIGIN}
    for response in (
        await client.get("/api/auth/me", headers=spa),
        await client.get("/api/auth/nowhere", headers=spa),
        await client.post("/api/auth/login", json={}, headers=spa),
    ):
        assert response.status_code in (400, 401, 404), response.text
        assert response.headers.get_list("access-control-allow-origin") == [SPA_ORIGIN]
        assert response.headers.get_list("access-control-allow-credentials") == ["true"]
        assert response.headers.get_list("vary") == ["Origin"]
        assert response.headers.get_list("access-control-allow-methods") == ["DELETE, GET, OPTIONS, PATCH, POST"]
        assert response.headers.get_list("access-control-allow-headers") == ["content-type"]
        assert response.headers.get_list("access-control-expose-headers") == ["Retry-After"]


async def test_a_rate_limited_answer_lets_the_spa_read_retry_after(make_client: MakeClient) -> None:
    """Without Access-Control-Expose-Headers a browser hides Retry-After from the page (the client's `retryAfter`
    would be null): it is not one of the CORS-safelisted response headers."""
    client = await make_client(rate_limit_forgot_per_email=1)
    spa = {"Origin": SPA_ORIGIN}
    body = {"email": unique_email()}
    assert (await client.post("/api/auth/forgot-password", json=body, headers=spa)).status_code == 202
    limited = await client.post("/api/auth/forgot-password", json=body, headers=spa)
    assert limited.status_code == 429, limited.text
    assert int(limited.headers["retry-after"]) > 0
    exposed = [name.strip().lower() for name in limited.headers["access-control-expose-headers"].split(",")]
    assert "retry-after" in exposed
    assert limited.headers["access-control-allow-origin"] == SPA_ORIGIN
