"""Password recovery over HTTP, with a real in-process SMTP server (aiosmtpd), real PostgreSQL and real Redis."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import secrets
import shutil
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import argon2
import httpx
import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pet_auth.app import create_app
from pet_auth.config import Settings
from pet_auth.keys import derive_keys
from tests.support.clients import API_ORIGIN, PASSWORD, Client, MakeClient, forget_device, register, unique_email
from tests.support.live_server import live_server, settings_environ
from tests.support.logs import captured
from tests.support.recovery import (
    FORGOT,
    NEW_PASSWORD,
    RESET,
    RESET_SUBJECT,
    assert_invalid_token,
    forgot,
    request_token,
    reset,
)
from tests.support.smtp import MailSink, running_sink
from tools.devinfra import free_port

LOGIN = "/api/auth/login"
ME = "/api/auth/me"
CHANGED_SUBJECT = "Your Pet Manager password was changed"
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32): 256 bits


@pytest.fixture
async def mail_client(make_client: MakeClient, mail_settings: Settings) -> Client:
    return await make_client(mail_settings)


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[Client]:
    """A client whose app shuts down when the block ends: background mail has then finished (or failed)."""
    async with AsyncTestClient(create_app(settings), base_url=API_ORIGIN) as client:
        yield client


def token_hash(settings: Settings, token: str) -> str:
    return hmac.new(derive_keys(settings.session_secret).reset_token, token.encode(), hashlib.sha256).hexdigest()


async def registered_with_token(client: Client, smtp: MailSink) -> tuple[str, str]:
    """A new user, signed up through `client`, and the token of the reset link they were then mailed."""
    email = unique_email()
    await register(client, email)
    return email, await request_token(client, smtp, email)


async def login(client: Client, email: str, password: str) -> httpx.Response:
    return await client.post(LOGIN, json={"email": email, "password": password})


def assert_validation_error(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "validation_error"


async def token_rows(db: AsyncEngine, email: str) -> list[dict[str, Any]]:
    async with db.connect() as connection:
        result = await connection.execute(
            text(
                "SELECT t.* FROM password_reset_tokens t JOIN users u ON u.id = t.user_id "
                "WHERE lower(u.email) = :email ORDER BY t.id"
            ),
            {"email": email},
        )
        return [dict(row) for row in result.mappings()]


async def test_the_email_carries_a_frontend_link_never_one_built_from_the_request_host(
    make_client: MakeClient, make_settings: Callable[..., Settings], smtp: MailSink
) -> None:
    settings = make_settings(**smtp.settings, frontend_url="https://pets.example.test/")
    client = await make_client(settings)
    email = unique_email()
    await register(client, email)
    await client.post("/api/auth/logout")

    response = await forgot(
        client, email, headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example", "Forwarded": "host=evil"}
    )
    assert response.status_code == 202
    assert response.json() == {
        "message": "If an account exists for that email, a link to reset its password is on its way."
    }

    (mail,) = await smtp.wait_for(email, RESET_SUBJECT)
    assert mail.recipients == (email,)
    assert mail.message["To"] == email
    assert mail.message["From"] == settings.mail_from
    token = mail.token
    assert TOKEN_SHAPE.fullmatch(token)
    link = f"https://pets.example.test/reset-password?token={token}"
    assert mail.links == [link]
    assert f'href="{link}"' in mail.html
    for body in (mail.text, mail.html):
        assert "evil" not in body
        assert "testserver" not in body


async def test_mail_to_a_unicode_domain_goes_to_its_ascii_form(mail_client: Client, smtp: MailSink) -> None:
    # The test server offers no SMTPUTF8: only the IDNA form of the domain gets through.
    local = unique_email().split("@")[0]
    user = await register(mail_client, f"{local}@bücher.de")
    assert user["email"] == f"{local}@bücher.de"
    assert (await forgot(mail_client, user["email"])).status_code == 202
    mail = (await smtp.wait_for(f"{local}@xn--bcher-kva.de", RESET_SUBJECT))[0]
    assert mail.message["To"] == f"{local}@xn--bcher-kva.de"


@pytest.mark.smoke
async def test_the_token_works_once(mail_client: Client, smtp: MailSink) -> None:
    email, token = await registered_with_token(mail_client, smtp)

    first = await reset(mail_client, token)
    assert first.status_code == 204, first.text
    assert first.content == b""
    assert_invalid_token(await reset(mail_client, token, "yet another fine passphrase"))
    # The second attempt changed nothing: the first new password still holds.
    assert (await login(mail_client, email, NEW_PASSWORD)).status_code == 200


@pytest.mark.smoke
async def test_the_new_password_logs_in_the_old_one_does_not_and_a_changed_email_is_sent(
    mail_client: Client, smtp: MailSink
) -> None:
    email, token = await registered_with_token(mail_client, smtp)
    assert (await reset(mail_client, token)).status_code == 204

    old = await login(mail_client, email, PASSWORD)
    assert old.status_code == 401
    assert old.json()["code"] == "invalid_credentials"
    assert (await login(mail_client, email, NEW_PASSWORD)).status_code == 200

    (changed,) = await smtp.wait_for(email, CHANGED_SUBJECT)
    assert changed.recipients == (email,)
    assert "was just changed" in changed.text
    assert "was just changed" in changed.html
    assert changed.links == []  # no token or link travels in it


async def test_an_expired_token_is_refused(
    mail_client: Client, mail_settings: Settings, smtp: MailSink, db: AsyncEngine
) -> None:
    email, token = await registered_with_token(mail_client, smtp)
    async with db.begin() as connection:
        updated = await connection.execute(
            text("UPDATE password_reset_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = :h"),
            {"h": token_hash(mail_settings, token)},
        )
    assert updated.rowcount == 1

    assert_invalid_token(await reset(mail_client, token))
    assert (await login(mail_client, email, PASSWORD)).status_code == 200


async def test_the_database_holds_only_a_keyed_hash_of_the_token(
    mail_client: Client, mail_settings: Settings, smtp: MailSink, db: AsyncEngine
) -> None:
    email, token = await registered_with_token(mail_client, smtp)

    (row,) = await token_rows(db, email)
    for value in row.values():
        assert token not in str(value)
    assert row["token_hash"] == token_hash(mail_settings, token)
    assert row["token_hash"] != hashlib.sha256(token.encode()).hexdigest()
    assert row["used_at"] is None
    assert 3590 <= (row["expires_at"] - row["created_at"]).total_seconds() <= 3610  # RESET_TOKEN_TTL, 1 hour


async def test_a_new_request_invalidates_the_earlier_token(
    mail_client: Client, smtp: MailSink, db: AsyncEngine
) -> None:
    email = unique_email()
    await register(mail_client, email)
    earlier = await request_token(mail_client, smtp, email)
    later = await request_token(mail_client, smtp, email, nth=2)
    assert earlier != later
    assert len(await token_rows(db, email)) == 1

    assert_invalid_token(await reset(mail_client, earlier))
    assert (await reset(mail_client, later)).status_code == 204


async def test_a_reset_ends_every_session_and_signs_no_one_in(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink, redis: Redis
) -> None:
    # Three apps on one Redis and one database, as three worker processes would be.
    laptop, phone, anonymous = [await make_client(mail_settings) for _ in range(3)]
    email = unique_email()
    await register(laptop, email)
    assert (await login(phone, email, PASSWORD)).status_code == 200
    for device in (laptop, phone):
        assert (await device.get(ME)).status_code == 200

    token = await request_token(anonymous, smtp, email)
    response = await reset(anonymous, token)
    assert response.status_code == 204
    assert "set-cookie" not in response.headers

    for device in (laptop, phone, anonymous):
        me = await device.get(ME)
        assert me.status_code == 401
        assert me.json()["code"] == "not_authenticated"
    # Gone from Redis, not merely refused: the user's key holds only the versions, the credential one advanced.
    namespace = f"{mail_settings.redis_namespace}:session:"
    [key] = [key async for key in redis.scan_iter(match=f"{namespace}*")]
    assert await redis.hgetall(key) == {b"v": b"2", b"p": b"1"}


async def test_a_signed_in_browser_that_resets_is_signed_out_too(mail_client: Client, smtp: MailSink) -> None:
    _, token = await registered_with_token(mail_client, smtp)
    assert (await reset(mail_client, token)).status_code == 204
    assert (await mail_client.get(ME)).status_code == 401


@pytest.mark.parametrize(
    "password",
    ["short", "x" * 129, "password123", "Qwertyuiop", "with a \x07 bell char"],
    ids=["too-short", "too-long", "common", "common-any-case", "control-char"],
)
async def test_the_new_password_follows_the_register_policy(mail_client: Client, smtp: MailSink, password: str) -> None:
    _, token = await registered_with_token(mail_client, smtp)

    refused = await reset(mail_client, token, password)
    assert_validation_error(refused)
    assert [error["field"] for error in refused.json()["errors"]] == ["password"]
    # The register endpoint refuses the same password the same way.
    assert_validation_error(
        await mail_client.post("/api/auth/register", json={"email": unique_email(), "password": password})
    )
    # A refused password does not spend the token.
    assert (await reset(mail_client, token)).status_code == 204


@pytest.mark.parametrize(
    "body",
    [{"token": "not-a-real-token"}, {"token": ""}, {"token": "A" * 43}],
    ids=["junk", "empty", "well-formed-unknown"],
)
async def test_unknown_tokens_get_invalid_token(client: Client, body: dict[str, str]) -> None:
    assert_invalid_token(await client.post(RESET, json={**body, "password": NEW_PASSWORD}))


@pytest.mark.parametrize(
    "body",
    [{"token": "t" * 257, "password": NEW_PASSWORD}, {"password": NEW_PASSWORD}, {"token": "abc"}, {"token": 1}],
    ids=["overlong-token", "no-token", "no-password", "token-not-a-string"],
)
async def test_malformed_reset_bodies_are_validation_errors(client: Client, body: dict[str, Any]) -> None:
    assert_validation_error(await client.post(RESET, json=body))


@pytest.mark.parametrize("body", [{"email": "not-an-email"}, {}, {"email": "x" * 250 + "@x.io"}])
async def test_malformed_forgot_bodies_are_validation_errors(client: Client, body: dict[str, Any]) -> None:
    assert_validation_error(await client.post(FORGOT, json=body))


async def test_an_unknown_email_gets_the_same_answer_and_no_mail(mail_settings: Settings, smtp: MailSink) -> None:
    known, unknown = unique_email("known"), unique_email("unknown")
    async with app_client(mail_settings) as client:
        await register(client, known)
        await client.post("/api/auth/logout")
        for_known = await forgot(client, known)
        for_unknown = await forgot(client, unknown)
    # The app has shut down: every background mail has been sent or dropped by now.

    assert for_unknown.status_code == for_known.status_code == 202
    assert for_unknown.content == for_known.content
    assert for_unknown.headers["content-type"] == for_known.headers["content-type"]
    assert len(smtp.mails(known, RESET_SUBJECT)) == 1
    assert smtp.mails(unknown) == []
    assert len(smtp.mails()) == 2  # the reset link and the sign-up's verification link


async def test_concurrent_resets_with_one_token_give_exactly_one_success(
    mail_settings: Settings, smtp: MailSink
) -> None:
    # A real server with two worker processes, so the requests truly run at the same time.
    email = unique_email()
    with live_server(mail_settings, workers=2) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            created = await http.post("/api/auth/register", json={"email": email, "password": PASSWORD})
            assert created.status_code == 201
            token = await request_token(http, smtp, email)

            attempts = [f"concurrent passphrase number {i}" for i in range(4)]
            responses = await asyncio.gather(*(reset(http, token, password) for password in attempts))
            statuses = sorted(response.status_code for response in responses)
            assert statuses == [204, 400, 400, 400]
            for response in responses:
                if response.status_code == 400:
                    assert_invalid_token(response)
            (winner,) = [p for p, r in zip(attempts, responses, strict=True) if r.status_code == 204]
            for password in attempts:
                signed_in = await http.post(LOGIN, json={"email": email, "password": password})
                assert signed_in.status_code == (200 if password == winner else 401)
            await smtp.wait_for(email, CHANGED_SUBJECT)
    assert len(smtp.mails(email, CHANGED_SUBJECT)) == 1


async def test_an_unreachable_mail_server_changes_no_response(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(mail_backend="smtp", smtp_host="127.0.0.1", smtp_port=free_port(), smtp_starttls="false")
    known, unknown = unique_email("known"), unique_email("unknown")
    with captured("pet_auth") as records:
        async with app_client(settings) as client:
            await register(client, known)
            for_known = await forgot(client, known)
            for_unknown = await forgot(client, unknown)
    assert for_known.status_code == for_unknown.status_code == 202
    assert for_known.content == for_unknown.content
    failures = sorted(r.getMessage() for r in records if r.name == "pet_auth.background")
    assert failures == [
        "background task 'password reset email' failed: ConnectionRefusedError",
        "background task 'verification email' failed: ConnectionRefusedError",
    ]


async def test_a_stopped_mail_server_changes_no_response(mail_settings: Settings, smtp: MailSink) -> None:
    email = unique_email()
    with captured("pet_auth") as records:
        async with app_client(mail_settings) as client:
            await register(client, email)
            token = await request_token(client, smtp, email)
            smtp.stop()

            response = await reset(client, token)
            assert response.status_code == 204
            assert response.content == b""
            assert (await login(client, email, NEW_PASSWORD)).status_code == 200
            again = await forgot(client, email)
            assert again.status_code == 202
            assert again.json()["message"].startswith("If an account exists")
    failures = sorted(r.getMessage() for r in records if r.name == "pet_auth.background")
    # The reset ended the device cookie too: the sign-in after it is from a new device.
    assert failures == [
        "background task 'new device email' failed: ConnectionRefusedError",
        "background task 'password changed email' failed: ConnectionRefusedError",
        "background task 'password reset email' failed: ConnectionRefusedError",
    ]
    logged = "\n".join(r.getMessage() for r in records)
    assert token not in logged
    assert email not in logged


async def test_purge_tokens_removes_used_and_expired_tokens(
    mail_client: Client, mail_settings: Settings, smtp: MailSink, db: AsyncEngine
) -> None:
    used, expired, live = unique_email("used"), unique_email("expired"), unique_email("live")
    for email in (used, expired, live):
        await register(mail_client, email)
    assert (await reset(mail_client, await request_token(mail_client, smtp, used))).status_code == 204
    expired_token = await request_token(mail_client, smtp, expired)
    live_token = await request_token(mail_client, smtp, live)
    async with db.begin() as connection:
        await connection.execute(
            text("UPDATE password_reset_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = :h"),
            {"h": token_hash(mail_settings, expired_token)},
        )
    assert [row["used_at"] is not None for row in await token_rows(db, used)] == [True]
    assert len(await token_rows(db, expired)) == 1

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pet_auth",
        "purge-tokens",
        # The settings alone, and the code of this checkout (PYTHONPATH, when the run names it).
        env={**settings_environ(mail_settings), "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
        cwd="/",  # no .env file is read from here
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    links, events = stdout.decode().splitlines()
    assert re.fullmatch(r"purged [1-9]\d* used or expired reset and email links", links)
    assert re.fullmatch(r"purged \d+ security events older than 90 days", events)

    assert await token_rows(db, used) == []
    assert await token_rows(db, expired) == []
    assert len(await token_rows(db, live)) == 1
    assert (await reset(mail_client, live_token)).status_code == 204


async def test_a_locked_out_account_can_reset_its_password_and_then_log_in(
    make_client: MakeClient, smtp: MailSink
) -> None:
    client = await make_client(**smtp.settings, rate_limit_login_per_account=2)
    email = unique_email()
    await register(client, email)
    await client.post("/api/auth/logout")
    forget_device(client)
    for _ in range(2):
        assert (await login(client, email, "wrong password, surely")).status_code == 401
    locked = await login(client, email, PASSWORD)
    assert locked.status_code == 429
    assert locked.json()["code"] == "rate_limited"

    token = await request_token(client, smtp, email)
    assert (await reset(client, token)).status_code == 204
    assert (await login(client, email, NEW_PASSWORD)).status_code == 200


@pytest.fixture
def tls_smtp(tmp_path: Path) -> Iterator[tuple[MailSink, Path]]:
    """A mail server that requires STARTTLS, with a self-signed certificate for 127.0.0.1."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with running_sink(context) as sink:
        yield sink, cert


async def test_starttls_refuses_a_mail_server_whose_certificate_it_cannot_verify(
    make_settings: Callable[..., Settings], tls_smtp: tuple[MailSink, Path]
) -> None:
    sink, _ = tls_smtp
    settings = make_settings(**sink.settings, smtp_username="mailer", smtp_password="smtp-secret")
    email = unique_email()
    with captured("pet_auth") as records:
        async with app_client(settings) as client:
            await register(client, email)
            assert (await forgot(client, email)).status_code == 202
    assert sink.mails() == []
    assert sink.logins == []  # the SMTP password never went to an unverified server
    failures = sorted(r.getMessage() for r in records if r.name == "pet_auth.background")
    assert failures == [
        "background task 'password reset email' failed: SSLCertVerificationError",
        "background task 'verification email' failed: SSLCertVerificationError",
    ]


async def test_starttls_with_a_trusted_certificate_logs_in_and_delivers(
    make_client: MakeClient, tls_smtp: tuple[MailSink, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, cert = tls_smtp
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test certificate as a CA
    client = await make_client(**sink.settings, smtp_username="mailer", smtp_password="smtp-secret")
    _, token = await registered_with_token(client, sink)
    assert TOKEN_SHAPE.fullmatch(token)
    assert set(sink.logins) == {("mailer", "smtp-secret", True)}  # one login per mail (verification, reset)


async def test_a_reset_unlocks_a_legacy_account_locked_under_another_form_of_its_address(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink, db: AsyncEngine
) -> None:
    """Sign-ins count under the account, however its address is typed, so that the reset clears the very lock
    they set. (Stored addresses are canonical since migration 0005, legacy rows included.)"""
    stored = f"hank-{secrets.token_hex(4)}@example.com"
    password_hash = argon2.PasswordHasher().hash(PASSWORD)
    async with db.begin() as connection:
        await connection.execute(
            text("INSERT INTO users (email, password_hash) VALUES (:e, :h)"), {"e": stored, "h": password_hash}
        )
    typed = f" {stored.upper()} "
    client = await make_client(mail_settings)
    for _ in range(mail_settings.rate_limit_login_per_account):
        assert (await login(client, typed, "wrong password, surely")).status_code == 401
    assert (await login(client, typed, PASSWORD)).status_code == 429

    assert (await forgot(client, typed)).status_code == 202
    token = (await smtp.wait_for(stored, RESET_SUBJECT))[0].token
    assert (await reset(client, token)).status_code == 204
    assert (await login(client, typed, NEW_PASSWORD)).status_code == 200


async def test_a_password_change_keeps_a_reset_link_already_mailed(mail_client: Client, smtp: MailSink) -> None:
    """The mailbox outranks a session: whoever holds a session and the password cannot kill the owner's link."""
    email, token = await registered_with_token(mail_client, smtp)
    body = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    assert (await mail_client.post("/api/auth/change-password", json=body)).status_code == 204
    response = await reset(mail_client, token, password="yet another passphrase")
    assert response.status_code == 204, response.text
    assert (await mail_client.get("/api/auth/me")).status_code == 401
    for password, status in ((NEW_PASSWORD, 401), ("yet another passphrase", 200)):
        login = await mail_client.post("/api/auth/login", json={"email": email, "password": password})
        assert login.status_code == status, login.text
