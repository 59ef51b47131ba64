"""Bad input, as an attacker or a broken client sends it: always a 4xx problem+json with a stable code, never a 500."""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from litestar.testing import AsyncTestClient

from pet_auth.app import create_app
from pet_auth.config import Settings, load_settings
from tests.support.clients import API_ORIGIN, PASSWORD, Client, register, unique_email
from tests.support.live_server import live_server
from tests.support.servers import Servers

# Each endpoint that takes a body, with a body it accepts; the change of password needs a signed-in client.
ENDPOINTS: dict[str, tuple[str, dict[str, Any]]] = {
    "register": ("/api/auth/register", {"email": "someone@example.com", "password": PASSWORD}),
    "login": ("/api/auth/login", {"email": "someone@example.com", "password": PASSWORD}),
    "forgot": ("/api/auth/forgot-password", {"email": "someone@example.com"}),
    "reset": ("/api/auth/reset-password", {"token": "x" * 43, "password": PASSWORD}),
    "change": ("/api/auth/change-password", {"currentPassword": PASSWORD, "newPassword": "another good passphrase"}),
}
# What no error body may show: a stack trace, a source path, SQL, a driver's name.
LEAKS = ("Traceback", 'File "', ".py", "SELECT ", "INSERT ", "UPDATE ", "sqlalchemy", "asyncpg", "redis.", "msgspec")


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    for leak in LEAKS:
        assert leak not in response.text
    return body


def assert_field_errors(response: httpx.Response, *fields: str) -> None:
    body = assert_problem(response, 400, "validation_error")
    assert body["errors"], body
    assert {error["field"] for error in body["errors"]} <= set(fields), body["errors"]
    assert all(error["message"] for error in body["errors"])


@pytest.fixture(scope="module")
async def signed_in(servers: Servers, database_url: str, run_namespace: str) -> AsyncIterator[Client]:
    """One signed-in client for the module's many cases: none of them changes state (each fails validation),
    and building an app and hashing a password per case would make this module slow."""
    settings = load_settings(
        {
            "APP_ENV": "test",
            "DATABASE_URL": database_url,
            "REDIS_URL": servers.redis_url,
            "REDIS_NAMESPACE": f"{run_namespace}:bad-input-{secrets.token_hex(4)}",
            "SESSION_SECRET": "test-secret-" + "x" * 40,
            "RATE_LIMIT_LOGIN_PER_IP": "100000",
            "RATE_LIMIT_REGISTER_PER_IP": "100000",
            "RATE_LIMIT_FORGOT_PER_IP": "100000",
        },
        env_file=None,
    )
    async with AsyncTestClient(create_app(settings), base_url=API_ORIGIN) as client:
        await register(client)
        yield client


# Fields that may be left out or null: the current password, in sudo mode (tests/test_sudo.py).
OPTIONAL = {("change", "currentPassword")}


def _variants() -> Iterator[Any]:
    """(endpoint, body, fields the errors may name) for missing fields, nulls and wrong types."""
    for name, (_, valid) in ENDPOINTS.items():
        for field in valid:
            if (name, field) not in OPTIONAL:
                missing = {key: value for key, value in valid.items() if key != field}
                yield pytest.param(name, missing, [field], id=f"{name}-missing-{field}")
                yield pytest.param(name, {**valid, field: None}, [field], id=f"{name}-null-{field}")
            for label, wrong in (("int", 1), ("bool", True), ("float", 1.5), ("list", ["a"]), ("object", {"a": 1})):
                yield pytest.param(name, {**valid, field: wrong}, [field], id=f"{name}-{label}-{field}")
        yield pytest.param(name, dict.fromkeys(valid), list(valid), id=f"{name}-all-null")
        yield pytest.param(name, {}, list(valid), id=f"{name}-empty-object")
        for label, body in (("array", []), ("string", "x"), ("number", 1), ("null", None), ("true", True)):
            yield pytest.param(name, body, ["body"], id=f"{name}-body-is-{label}")


@pytest.mark.parametrize(("endpoint", "body", "fields"), list(_variants()))
async def test_missing_null_and_mistyped_fields_are_field_errors(
    signed_in: Client, endpoint: str, body: Any, fields: list[str]
) -> None:
    path, _ = ENDPOINTS[endpoint]
    response = await signed_in.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert_field_errors(response, *fields)


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_no_body_at_all_is_a_field_error(signed_in: Client, endpoint: str) -> None:
    response = await signed_in.post(ENDPOINTS[endpoint][0])
    assert_field_errors(response, "body")


MALFORMED = {
    "truncated": b'{"email": "a@example.com", "pass',
    "trailing-comma": b'{"email": "a@example.com",}',
    "single-quotes": b"{'email': 'a@example.com'}",
    "bare-word": b"email=a@example.com",
    "trailing-garbage": b'{"email": "a@example.com"} {}',
    "nan": b'{"email": NaN}',
    "number-out-of-range": b'{"email": 1e999}',
    "huge-integer": b'{"email": ' + b"9" * 5000 + b"}",
    "deep-nesting": b"[" * 8000 + b"]" * 8000,
    "invalid-utf8": b'{"email": "a\xff\xfe@example.com"}',
    "lone-high-surrogate": b'{"email": "\\ud800@example.com", "password": "correct horse battery"}',
    "lone-low-surrogate": b'{"email": "a@example.com", "password": "abc\\udfffdefghijk"}',
    "bad-escape": b'{"email": "\\x41@example.com"}',
    "nul-outside-string": b'{"email": "a@example.com"}\x00',
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_malformed_json_is_a_400(signed_in: Client, endpoint: str, body: bytes) -> None:
    response = await signed_in.post(ENDPOINTS[endpoint][0], content=body, headers={"Content-Type": "application/json"})
    assert_problem(response, 400, "malformed_json")


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("size", [16 * 1024 + 1, 1024 * 1024])
async def test_a_body_over_16_kib_is_a_413(signed_in: Client, endpoint: str, size: int) -> None:
    response = await signed_in.post(
        ENDPOINTS[endpoint][0], content=b" " * size, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413, "request_too_large")


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_megabyte_strings_are_a_413(signed_in: Client, endpoint: str) -> None:
    _, valid = ENDPOINTS[endpoint]
    for field in valid:
        response = await signed_in.post(ENDPOINTS[endpoint][0], json={**valid, field: "a" * 1024 * 1024})
        assert_problem(response, 413, "request_too_large")


def _odd_values() -> Iterator[Any]:
    """(endpoint, field, value) that each make a field error."""
    emails = {
        "nul": "a\x00b@example.com",
        "control": "a\x07b@example.com",
        "rtl-override": "\u202emoc.elpmaxe@a",
        "rtl-mark": "a\u200f@example.com",
        "zero-width-space": "adm\u200bin@example.com",
        "bom": "\ufeffa@example.com",
        "private-use": "a\ue000@example.com",
        "long-255": "a" * 243 + "@example.com",
        "long-10000": "a" * 10_000 + "@example.com",
        "no-at": "🐶.example.com",
        "only-spaces": "   ",
        "empty": "",
    }
    for endpoint in ("register", "login", "forgot"):
        for label, value in emails.items():
            if endpoint == "login" and label in ("long-255", "long-10000", "no-at", "only-spaces", "empty"):
                continue  # any typed address may be tried: it matches no account (401, below)
            yield pytest.param(endpoint, "email", value, id=f"{endpoint}-email-{label}")
    passwords = {
        "nul": "pass\x00word long enough",
        "newline": "pass\nword long enough",
        "emoji-too-short": "🐶" * 7,
        "emoji-too-long": "🐶" * 129,
        "too-long": "p" * 10_000,
    }
    for endpoint, field in (("register", "password"), ("reset", "password"), ("change", "newPassword")):
        for label, value in passwords.items():
            yield pytest.param(endpoint, field, value, id=f"{endpoint}-{field}-{label}")
    yield pytest.param("login", "password", "p" * 10_000, id="login-password-too-long")
    yield pytest.param("change", "currentPassword", "p" * 10_000, id="change-currentPassword-too-long")
    yield pytest.param("reset", "token", "t" * 10_000, id="reset-token-too-long")


@pytest.mark.parametrize(("endpoint", "field", "value"), list(_odd_values()))
async def test_odd_strings_are_field_errors(signed_in: Client, endpoint: str, field: str, value: str) -> None:
    path, valid = ENDPOINTS[endpoint]
    response = await signed_in.post(path, json={**valid, field: value})
    assert_field_errors(response, field)


@pytest.mark.parametrize("email", ["", "   ", "not an address", "🐶.example.com", "a" * 10_000 + "@example.com"])
async def test_a_login_with_an_address_no_account_can_have_is_a_plain_401(client: Client, email: str) -> None:
    response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert_problem(response, 401, "invalid_credentials")


@pytest.mark.parametrize(
    "token", ["", "\x00", "\u202e" * 10, "🐶" * 40, "' OR 1=1 --", "../../etc/passwd", "%00"], ids=repr
)
async def test_odd_reset_tokens_are_invalid_tokens(client: Client, token: str) -> None:
    response = await client.post("/api/auth/reset-password", json={"token": token, "password": PASSWORD})
    assert_problem(response, 400, "invalid_token")


@pytest.mark.parametrize(
    ("email", "password"),
    [
        pytest.param("zoë.{}@exämple.de", "pässwörd mit ümlauten", id="latin"),
        pytest.param("{}@例え.jp", "パスワードはとても長い", id="cjk"),
        pytest.param("pets-{}@example.com", "🐶🐱🐭🐹🐰🦊🐻🐼", id="emoji-password"),
        pytest.param("{}@example.com", "\u05e1\u05d9\u05e1\u05de\u05d4 \u05d0\u05e8\u05d5\u05db\u05d4", id="hebrew"),
    ],
)
async def test_non_ascii_emails_and_passwords_round_trip(client: Client, email: str, password: str) -> None:
    address = email.format(unique_email("u").split("@")[0])
    user = await register(client, address, password)
    assert user["email"] == address
    client.cookies.clear()
    response = await client.post("/api/auth/login", json={"email": address.upper(), "password": password})
    assert response.status_code == 200, response.text
    assert response.json()["user"]["id"] == user["id"]


async def test_sql_looking_input_is_only_data(client: Client) -> None:
    email = "o'brien+'--drop_table_users--@example.com"  # ';' is no address character: see test_emails.py
    user = await register(client, email)
    assert user["email"] == email
    response = await client.post("/api/auth/login", json={"email": "' OR '1'='1", "password": "' OR '1'='1"})
    assert_problem(response, 401, "invalid_credentials")


def _responses() -> Iterator[Any]:
    yield pytest.param("POST", "/api/auth/login", {"email": "a@example.com", "password": "x"}, id="401")
    yield pytest.param("POST", "/api/auth/login", {"email": 1}, id="400")
    yield pytest.param("POST", "/api/auth/forgot-password", {"email": "a@example.com"}, id="202")
    yield pytest.param("GET", "/api/auth/me", None, id="me-401")
    yield pytest.param("GET", "/api/auth/sessions/", None, id="sessions-401")
    yield pytest.param("POST", "/api/auth/logout", None, id="logout-204")
    yield pytest.param("GET", "/no/such/path", None, id="404")


@pytest.mark.parametrize(("method", "path", "body"), list(_responses()))
async def test_auth_responses_are_never_cached_or_sniffed(client: Client, method: str, path: str, body: Any) -> None:
    response = await client.request(method, path, json=body)
    assert response.status_code < 500
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_signed_in_responses_are_never_cached_or_sniffed(client: Client) -> None:
    email = unique_email()
    await register(client, email)
    for response in (
        await client.post("/api/auth/login", json={"email": email, "password": PASSWORD}),
        await client.get("/api/auth/me"),
        await client.get("/api/auth/sessions/"),
        await client.post("/api/auth/login", content=b"x" * 20_000, headers={"Content-Type": "application/json"}),
        await client.post("/api/auth/login", content=b"x", headers={"Content-Type": "text/plain"}),
    ):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "session_id", ["a" * 5000, "%00", "%ff%fe", "\u202e", "..%2f..%2fetc", "' OR 1=1", "🐶"], ids=repr
)
async def test_odd_session_ids_in_the_path_are_a_404(signed_in: Client, session_id: str) -> None:
    assert_problem(await signed_in.delete(f"/api/auth/sessions/{session_id}"), 404, "not_found")


def _raw_request(url: str, head: bytes, body: bytes) -> bytes:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "", parts.port or 0), timeout=10) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_oversized_bodies_are_refused_on_a_real_socket(make_settings: Callable[..., Settings]) -> None:
    with live_server(make_settings()) as server:

        def chunks() -> Iterator[bytes]:
            for _ in range(20):
                yield b"a" * 1024

        # Chunked: no Content-Length to refuse up front, so the size is counted as it streams.
        response = httpx.post(
            f"{server.url}/api/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert_problem(response, 413, "request_too_large")
        # A Content-Length that claims a gigabyte is refused without waiting for it.
        head = (
            b"POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1073741824\r\nConnection: close\r\n\r\n"
        )
        reply = _raw_request(server.url, head, b"{}")
        assert reply.startswith(b"HTTP/1.1 413 "), reply[:200]
        assert b"request_too_large" in reply
