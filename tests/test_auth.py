"""Register, login, logout and me over HTTP, against real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import unicodedata
from datetime import datetime

import bcrypt
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pet_auth.config import Settings
from tests.support.clients import PASSWORD, Client, MakeClient, register, unique_email
from tests.support.live_server import live_server


async def _stored_hash(db: AsyncEngine, email: str) -> str:
    async with db.connect() as connection:
        return str(await connection.scalar(text("SELECT password_hash FROM users WHERE email = :e"), {"e": email}))


async def _insert_legacy_user(db: AsyncEngine, email: str, password_hash: str) -> None:
    async with db.begin() as connection:
        await connection.execute(
            text("INSERT INTO users (email, password_hash) VALUES (:e, :h)"), {"e": email, "h": password_hash}
        )


@pytest.mark.smoke
async def test_register_creates_the_account_and_signs_in(client: Client) -> None:
    email = unique_email()
    response = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201
    user = response.json()["user"]
    assert set(user) == {"id", "email", "createdAt", "emailVerified", "mfaEnabled"}
    assert user["emailVerified"] is False
    assert user["mfaEnabled"] is False
    assert isinstance(user["id"], int)
    assert user["email"] == email
    assert datetime.fromisoformat(user["createdAt"]).utcoffset() is not None
    me = await client.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json() == {"user": user}


@pytest.mark.smoke
async def test_the_session_route_answers_the_user_or_null_and_never_a_401(
    client: Client, make_client: MakeClient, settings: Settings
) -> None:
    """`GET /api/auth/session`: a page's first question (who is signed in?) answered 200 either way, where `/me`
    answers 401 when signed out (a red line in the browser's console)."""
    signed_out = await client.get("/api/auth/session")
    assert signed_out.status_code == 200, signed_out.text
    assert signed_out.json() == {"user": None}
    assert "set-cookie" not in signed_out.headers  # no session is started for asking
    assert (await client.get("/api/auth/me")).status_code == 401

    user = await register(client)
    assert (await client.get("/api/auth/session")).json() == {"user": user}
    assert (await client.get("/api/auth/me")).json() == {"user": user}

    # A cookie naming no live session: null, as signed out.
    stranger = await make_client()
    stranger.cookies.set(settings.session_cookie_name, "garbage")
    assert (await stranger.get("/api/auth/session")).json() == {"user": None}

    await client.post("/api/auth/logout")
    assert (await client.get("/api/auth/session")).json() == {"user": None}


async def test_email_is_trimmed_and_lower_cased(client: Client, make_client: MakeClient) -> None:
    email = unique_email()
    user = await register(client, f"  {email.upper()} ")
    assert user["email"] == email
    other = await make_client()
    duplicate = await other.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "email_taken"
    login = await other.post("/api/auth/login", json={"email": email.upper(), "password": PASSWORD})
    assert login.status_code == 200


@pytest.mark.parametrize(
    "email", ["not-an-email", "a@b", "two@@x.io", "sp ace@x.io", "", "x" * 250 + "@x.io", "nul\u0000@x.io"]
)
async def test_invalid_emails_are_refused(client: Client, email: str) -> None:
    response = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert [error["field"] for error in body["errors"]] == ["email"]


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short7!", "at least 8"), ("x" * 129, "at most 128"), ("password123", "common"), ("Iloveyou1", "common")],
)
async def test_password_policy(client: Client, password: str, reason: str) -> None:
    response = await client.post("/api/auth/register", json={"email": unique_email(), "password": password})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["errors"][0]["field"] == "password"
    assert reason in body["errors"][0]["message"] or reason in body["detail"]


async def test_password_length_counts_characters_not_bytes(client: Client) -> None:
    eight_characters = "ééééçççç"  # 16 bytes in UTF-8
    assert (
        await client.post("/api/auth/register", json={"email": unique_email(), "password": "é" * 7})
    ).status_code == 400
    await register(client, password=eight_characters)
    await register(client, password="ü" * 128)  # 256 bytes, 128 characters


async def test_long_passwords_are_never_truncated(client: Client) -> None:
    email = unique_email()
    password = "long-unique-passphrase-" * 4  # 92 characters, beyond bcrypt's 72 bytes
    await register(client, email, password)
    await client.post("/api/auth/logout")
    truncated = await client.post("/api/auth/login", json={"email": email, "password": password[:72]})
    assert truncated.status_code == 401
    assert (await client.post("/api/auth/login", json={"email": email, "password": password})).status_code == 200


async def test_new_hashes_are_argon2id_at_owasp_minimum(client: Client, db: AsyncEngine) -> None:
    email = unique_email()
    await register(client, email)
    stored = await _stored_hash(db, email)
    assert stored.startswith("$argon2id$")
    params = dict(item.split("=") for item in stored.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024
    assert int(params["t"]) >= 2
    assert int(params["p"]) == 1


@pytest.mark.smoke
async def test_login_answers_the_user_and_wrong_password_is_401(client: Client) -> None:
    email = unique_email()
    user = await register(client, email)
    ok = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert ok.status_code == 200
    assert ok.json() == {"user": user}
    wrong = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD + "!"})
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "invalid_credentials"


async def test_unknown_email_gets_the_same_401_body(client: Client) -> None:
    email = unique_email()
    await register(client, email)
    wrong_password = await client.post("/api/auth/login", json={"email": email, "password": "not the password"})
    unknown = await client.post("/api/auth/login", json={"email": unique_email(), "password": "not the password"})
    assert unknown.status_code == wrong_password.status_code == 401
    assert unknown.json() == wrong_password.json()


@pytest.mark.parametrize("prefix", ["$2b$", "$2a$"])
async def test_legacy_bcrypt_hash_logs_in_and_is_upgraded(client: Client, db: AsyncEngine, prefix: str) -> None:
    email = unique_email("legacy")
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode().replace("$2b$", prefix, 1)
    await _insert_legacy_user(db, email, legacy)
    response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert (await _stored_hash(db, email)).startswith("$argon2id$")
    again = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert again.status_code == 200


async def test_a_legacy_password_over_72_bytes_signs_in_and_is_upgraded(client: Client, db: AsyncEngine) -> None:
    # The Node version's bcrypt read only the first 72 bytes of this password: that is all its hash holds.
    email = unique_email("legacy")
    password = "long-unique-passphrase-" * 4  # 92 bytes
    await _insert_legacy_user(db, email, bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(4)).decode())
    response = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    assert (await _stored_hash(db, email)).startswith("$argon2id$")
    client.cookies.clear()
    assert (await client.post("/api/auth/login", json={"email": email, "password": password})).status_code == 200
    # The new hash is of the whole password: its first 72 bytes alone no longer sign in.
    truncated = await client.post("/api/auth/login", json={"email": email, "password": password[:72]})
    assert truncated.status_code == 401


async def test_a_password_signs_in_in_either_unicode_form(client: Client) -> None:
    email = unique_email()
    composed = "crème brûlée à la café"
    await register(client, email, composed)
    client.cookies.clear()
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    assert (await client.post("/api/auth/login", json={"email": email, "password": decomposed})).status_code == 200


async def test_concurrent_registrations_of_one_email_give_one_201(settings: Settings) -> None:
    # A real server with two workers: the test client would serve these one at a time.
    email = unique_email("race")
    attempts = 10
    with live_server(settings, workers=2) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            responses = await asyncio.gather(
                *(http.post("/api/auth/register", json={"email": email, "password": PASSWORD}) for _ in range(attempts))
            )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * (attempts - 1)


@pytest.mark.smoke
async def test_me_without_a_session_is_401(client: Client) -> None:
    response = await client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_authenticated"


async def test_logout_without_a_session_is_204(client: Client) -> None:
    assert (await client.post("/api/auth/logout")).status_code == 204
