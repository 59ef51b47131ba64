"""Production: HSTS, no OpenAPI pages unless asked for, and logs without addresses, passwords, tokens or cookies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from litestar.testing import AsyncTestClient

from pet_auth.app import create_app
from pet_auth.config import Settings
from pet_auth.domain.audit import AuditLog
from pet_auth.keys import derive_keys
from tests.support.clients import PASSWORD, Client, MakeClient, register, unique_email
from tests.support.logs import every_log_line
from tests.support.smtp import running_sink

HSTS = "max-age=63072000; includeSubDomains"
PRODUCTION = {"app_env": "production", "session_secret": "p" * 48}
NEW_PASSWORD = "a brand new passphrase, 2nd edition"
THIRD_PASSWORD = "and a third passphrase, for change"
RESET_SUBJECT = "Reset your Pet Manager password"


# The in-process SMTP server of the test (aiosmtpd) logs the conversation it receives; it is not the service.
@asynccontextmanager
async def production_client(settings: Settings) -> AsyncIterator[Client]:
    """Over https, as a production browser would be: the session cookie is Secure."""
    async with AsyncTestClient(create_app(settings), base_url="https://api.pets.example") as client:
        yield client


async def test_production_sends_hsts(make_client: MakeClient) -> None:
    production = await make_client(**PRODUCTION)
    for response in (await production.get("/health"), await production.get("/api/auth/me")):
        assert response.headers["strict-transport-security"] == HSTS
    development = await make_client()
    assert "strict-transport-security" not in (await development.get("/health")).headers


async def test_openapi_pages_are_off_in_production_unless_enabled(make_client: MakeClient) -> None:
    production = await make_client(**PRODUCTION)
    assert (await production.get("/schema/openapi.json")).status_code == 404
    enabled = await make_client(**PRODUCTION, openapi_enabled="true")
    assert (await enabled.get("/schema/openapi.json")).status_code == 200


async def _until(condition: Callable[[], bool]) -> None:
    """Background work (mail, after the response) logs later: wait for its line."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 - a log handler sets no event of ours
            await asyncio.sleep(0.02)


def _assert_none_in(lines: list[str], secrets: dict[str, str]) -> None:
    text = "\n".join(lines)
    leaked = [name for name, value in secrets.items() if value in text]
    assert not leaked, f"{leaked} in the log:\n{text}"


async def test_production_logs_hold_no_address_password_token_or_cookie(
    make_settings: Callable[..., Settings],
) -> None:
    email = unique_email("logged")
    with running_sink() as smtp:
        settings = make_settings(**PRODUCTION, **smtp.settings, log_level="DEBUG")
        async with production_client(settings) as client:
            with every_log_line() as lines:
                await register(client, email.upper())
                session_cookie = client.cookies[settings.session_cookie_name]
                await client.post("/api/auth/login", json={"email": email, "password": "not the password"})
                await client.post("/api/auth/login", json={"email": "nobody-" + email, "password": PASSWORD})
                assert (await client.post("/api/auth/forgot-password", json={"email": email})).status_code == 202
                mail = (await smtp.wait_for(email, RESET_SUBJECT))[0]
                reset = {"token": mail.token, "password": NEW_PASSWORD}
                assert (await client.post("/api/auth/reset-password", json=reset)).status_code == 204
                login = await client.post("/api/auth/login", json={"email": email, "password": NEW_PASSWORD})
                assert login.status_code == 200
                second_cookie = client.cookies[settings.session_cookie_name]
                change = {"currentPassword": NEW_PASSWORD, "newPassword": THIRD_PASSWORD}
                assert (await client.post("/api/auth/change-password", json=change)).status_code == 204
                third_cookie = client.cookies[settings.session_cookie_name]
                device_cookie = client.cookies[settings.device_cookie_name]
                assert (await client.post("/api/auth/logout")).status_code == 204
                await _until(lambda: any("password_changed" in line for line in lines))
    secrets = {
        "email": email,
        "typed email": email.upper(),
        "unknown email": "nobody-" + email,
        "password": PASSWORD,
        "wrong password": "not the password",
        "new password": NEW_PASSWORD,
        "third password": THIRD_PASSWORD,
        "reset token": mail.token,
        "reset link": mail.links[0],
        "first cookie": session_cookie,
        "second cookie": second_cookie,
        "third cookie": third_cookie,
        "device cookie": device_cookie,
    }
    _assert_none_in(lines, secrets)
    # Positive control: the events were logged, the address as the audit log's keyed hash.
    email_hash = AuditLog(derive_keys(settings.session_secret).audit).email_hash(email)
    assert any('"event":"login_failed"' in line for line in lines)
    assert any(email_hash in line for line in lines)


async def test_console_mailer_in_production_logs_only_a_keyed_hash(make_settings: Callable[..., Settings]) -> None:
    email = unique_email()
    settings = make_settings(**PRODUCTION, mail_backend="console")
    async with production_client(settings) as client:
        with every_log_line() as lines:
            await register(client, email)
            assert (await client.post("/api/auth/forgot-password", json={"email": email})).status_code == 202
            await _until(lambda: sum(line.startswith("pet_auth.mail ") for line in lines) == 2)
    email_hash = AuditLog(derive_keys(settings.session_secret).audit).email_hash(email)
    mail_lines = [line for line in lines if line.startswith("pet_auth.mail ")]
    assert len(mail_lines) == 2, lines  # the sign-up's verification link, the reset link
    assert all(email_hash in line for line in mail_lines)
    _assert_none_in(lines, {"email": email, "link": f"{settings.frontend_url}/reset-password", "token": "token="})


@pytest.mark.parametrize("app_env", ["test", "development"])
async def test_console_mailer_outside_production_shows_the_link(
    make_settings: Callable[..., Settings], app_env: str
) -> None:
    email = unique_email()
    settings = make_settings(app_env=app_env, mail_backend="console")
    async with production_client(settings) as client:
        with every_log_line() as lines:
            await register(client, email)
            await client.post("/api/auth/forgot-password", json={"email": email})
            await _until(lambda: any(email in line and "reset-password?token=" in line for line in lines))
