"""An account that signs in with passkeys only: DELETE /api/auth/password removes the password (sudo mode, with a
passkey to sign in with), and the last passkey of such an account stays."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from pet_auth.config import Settings
from tests.support.authenticator import mark_verified
from tests.support.clients import PASSWORD, Client, MakeClient, problem_code, register, unique_email
from tests.support.smtp import MailSink
from tests.support.sudo import REAUTHENTICATE, let_sudo_lapse
from tests.support.webauthn import REAUTHENTICATE as PASSKEY_REAUTHENTICATE
from tests.support.webauthn import REAUTHENTICATE_OPTIONS as PASSKEY_REAUTHENTICATE_OPTIONS
from tests.support.webauthn import SoftwareAuthenticator, passkey_sign_in, register_passkey

PASSWORD_ROUTE = "/api/auth/password"
REMOVED_SUBJECT = "The password of your Pet Manager account was removed"
NEW_PASSWORD = "a brand new passphrase 42"


@pytest.fixture
def mail_to_sink(make_settings: Callable[..., Settings], smtp: MailSink) -> Settings:
    return make_settings(**smtp.settings)


async def passkey_account(client: Client, db: AsyncEngine, settings: Settings) -> tuple[str, SoftwareAuthenticator]:
    email = unique_email("passwordless")
    await register(client, email)
    await mark_verified(db, email)
    authenticator = SoftwareAuthenticator(origin=settings.frontend_url)
    await register_passkey(client, authenticator)
    return email, authenticator


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert problem_code(response) == code


async def test_the_password_goes_only_with_a_passkey_to_sign_in_with(client: Client, db: AsyncEngine) -> None:
    email = unique_email("passwordless")
    await register(client, email)
    refused(await client.delete(PASSWORD_ROUTE), 409, "last_sign_in_method")
    login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200  # the password still signs in


async def test_removing_the_password_needs_sudo_mode(
    client: Client, settings: Settings, redis: Redis, db: AsyncEngine
) -> None:
    await passkey_account(client, db, settings)
    await let_sudo_lapse(client, settings, redis)
    refused(await client.delete(PASSWORD_ROUTE), 401, "reauthentication_required")


async def test_a_passkey_only_account(
    make_client: MakeClient, mail_to_sink: Settings, smtp: MailSink, redis: Redis, db: AsyncEngine
) -> None:
    laptop, phone = await make_client(mail_to_sink), await make_client(mail_to_sink)
    email, authenticator = await passkey_account(laptop, db, mail_to_sink)
    assert (await phone.post("/api/auth/login", json={"email": email, "password": PASSWORD})).status_code == 200

    removed = await laptop.delete(PASSWORD_ROUTE)
    assert removed.status_code == 204, removed.text
    assert (await laptop.get("/api/auth/me")).status_code == 200  # renewed
    assert (await phone.get("/api/auth/me")).status_code == 401  # a credential change ends the others
    await smtp.wait_for(email, REMOVED_SUBJECT)
    events = (await laptop.get("/api/auth/security-events")).json()["events"]
    assert events[0]["kind"] == "password_removed"

    # The old password signs in nowhere; the passkey does.
    refused(
        await phone.post("/api/auth/login", json={"email": email, "password": PASSWORD}), 401, "invalid_credentials"
    )
    assert (await passkey_sign_in(phone, authenticator)).status_code == 200

    # Sudo mode offers the passkey alone; the password is no proof.
    await let_sudo_lapse(laptop, mail_to_sink, redis)
    refused(await laptop.post(REAUTHENTICATE, json={"password": PASSWORD}), 401, "invalid_credentials")
    only = await laptop.post("/api/auth/sessions/revoke-others")
    refused(only, 401, "reauthentication_required")
    assert only.json()["methods"] == ["passkey"]

    # The last passkey of an account without a password stays.
    [passkey] = (await laptop.get("/api/auth/passkeys")).json()["passkeys"]
    options = (await laptop.post(PASSKEY_REAUTHENTICATE_OPTIONS)).json()
    proof = await laptop.post(PASSKEY_REAUTHENTICATE, json={"credential": authenticator.get(options)})
    assert proof.status_code == 204, proof.text
    refused(await laptop.delete(f"/api/auth/passkeys/{passkey['id']}"), 409, "last_sign_in_method")

    # In sudo mode, change-password sets a password again; then the passkey may go.
    set_again = await laptop.post("/api/auth/change-password", json={"newPassword": NEW_PASSWORD})
    assert set_again.status_code == 204, set_again.text
    assert (await laptop.delete(f"/api/auth/passkeys/{passkey['id']}")).status_code == 204
    login = await phone.post("/api/auth/login", json={"email": email, "password": NEW_PASSWORD})
    assert login.status_code == 200


async def test_a_reset_gives_a_passkey_only_account_a_password(
    make_client: MakeClient, mail_to_sink: Settings, smtp: MailSink, db: AsyncEngine
) -> None:
    client = await make_client(mail_to_sink)
    email, _ = await passkey_account(client, db, mail_to_sink)
    assert (await client.delete(PASSWORD_ROUTE)).status_code == 204
    assert (await client.post("/api/auth/forgot-password", json={"email": email})).status_code == 202
    [mail] = await smtp.wait_for(email, "Reset your Pet Manager password")
    reset = await client.post("/api/auth/reset-password", json={"token": mail.token, "password": NEW_PASSWORD})
    assert reset.status_code == 204, reset.text
    login = await client.post("/api/auth/login", json={"email": email, "password": NEW_PASSWORD})
    assert login.status_code == 200
