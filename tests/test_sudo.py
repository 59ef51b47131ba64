"""Sudo mode: sensitive changes need a proof of a factor within SUDO_WINDOW; POST /reauthenticate gives one."""

from __future__ import annotations

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from pet_auth.config import Settings
from tests.support.accounts import signed_up
from tests.support.authenticator import code_at, current_step, enable_mfa, mark_verified
from tests.support.clients import PASSWORD, Client, MakeClient, forget_device, problem_code, register, unique_email
from tests.support.smtp import MailSink
from tests.support.sudo import REAUTHENTICATE, let_sudo_lapse
from tests.support.webauthn import REAUTHENTICATE as PASSKEY_REAUTHENTICATE
from tests.support.webauthn import REAUTHENTICATE_OPTIONS as PASSKEY_REAUTHENTICATE_OPTIONS
from tests.support.webauthn import REGISTER as PASSKEY_REGISTER
from tests.support.webauthn import REGISTER_OPTIONS as PASSKEY_REGISTER_OPTIONS
from tests.support.webauthn import SoftwareAuthenticator, register_passkey

NEW_PASSWORD = "a brand new passphrase 42"

# Each sensitive route, with a body that it takes without the current password.
SENSITIVE = [
    ("/api/auth/change-password", {"newPassword": NEW_PASSWORD}),
    ("/api/auth/change-email", {"newEmail": "moved@example.com"}),
    ("/api/auth/delete-account", {}),
    ("/api/auth/mfa/totp/setup", {}),
    ("/api/auth/sessions/revoke-others", None),
]


async def signed_in(client: Client, db: AsyncEngine) -> str:
    email = unique_email()
    await register(client, email)
    await mark_verified(db, email)
    return email


def assert_reauthentication_required(response: httpx.Response, methods: list[str]) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["code"] == "reauthentication_required"
    assert body["methods"] == methods


@pytest.mark.parametrize(("path", "body"), SENSITIVE)
async def test_a_sensitive_change_outside_the_window_asks_for_reauthentication(
    client: Client, settings: Settings, redis: Redis, db: AsyncEngine, path: str, body: dict[str, str] | None
) -> None:
    await signed_in(client, db)
    await let_sudo_lapse(client, settings, redis)
    assert_reauthentication_required(await client.post(path, json=body), ["password"])
    assert (await client.get("/api/auth/me")).status_code == 200  # the session itself goes on


@pytest.mark.parametrize(("path", "body"), SENSITIVE)
async def test_a_fresh_sign_in_may_make_sensitive_changes_without_the_password(
    client: Client, db: AsyncEngine, path: str, body: dict[str, str] | None
) -> None:
    await signed_in(client, db)
    response = await client.post(path, json=body)
    assert response.status_code in (200, 202, 204), response.text


async def test_reauthenticating_with_the_password_opens_the_window(
    client: Client, settings: Settings, redis: Redis, db: AsyncEngine
) -> None:
    await signed_in(client, db)
    await let_sudo_lapse(client, settings, redis)
    wrong = await client.post(REAUTHENTICATE, json={"password": "not the password"})
    assert wrong.status_code == 401
    assert problem_code(wrong) == "invalid_credentials"
    assert (await client.post("/api/auth/sessions/revoke-others")).status_code == 401
    assert (await client.post(REAUTHENTICATE, json={"password": PASSWORD})).status_code == 204
    assert (await client.post("/api/auth/sessions/revoke-others")).status_code == 204


async def test_the_current_password_given_with_a_change_is_a_proof_too(
    client: Client, settings: Settings, redis: Redis, db: AsyncEngine
) -> None:
    """Clients written before sudo mode send the current password with the change, and keep working."""
    await signed_in(client, db)
    await let_sudo_lapse(client, settings, redis)
    wrong = await client.post(
        "/api/auth/change-password", json={"currentPassword": "not it", "newPassword": NEW_PASSWORD}
    )
    assert problem_code(wrong) == "invalid_credentials"
    right = await client.post(
        "/api/auth/change-password", json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    )
    assert right.status_code == 204, right.text


async def test_a_sensitive_change_restarts_the_window(
    client: Client, settings: Settings, redis: Redis, db: AsyncEngine
) -> None:
    await signed_in(client, db)
    await let_sudo_lapse(client, settings, redis)
    inline = await client.post(
        "/api/auth/change-email", json={"currentPassword": PASSWORD, "newEmail": "elsewhere@example.com"}
    )
    assert inline.status_code == 202, inline.text
    # Proved by the password given with the change: the next one needs none.
    assert (await client.post("/api/auth/sessions/revoke-others")).status_code == 204


async def test_a_user_with_two_factor_sign_in_may_reauthenticate_with_a_code_once(
    client: Client, settings: Settings, redis: Redis, db: AsyncEngine
) -> None:
    email = unique_email()
    await register(client, email)
    mfa = await enable_mfa(client, email, db)
    await let_sudo_lapse(client, settings, redis)
    assert_reauthentication_required(await client.post("/api/auth/sessions/revoke-others"), ["password", "totp"])
    code = code_at(mfa.secret, await current_step())
    assert (await client.post(REAUTHENTICATE, json={"code": code})).status_code == 204
    assert (await client.post("/api/auth/sessions/revoke-others")).status_code == 204
    await let_sudo_lapse(client, settings, redis)
    replayed = await client.post(REAUTHENTICATE, json={"code": code})
    assert replayed.status_code == 400, replayed.text
    assert (await client.post("/api/auth/sessions/revoke-others")).status_code == 401


async def test_a_code_without_two_factor_sign_in_is_refused(client: Client, db: AsyncEngine) -> None:
    await signed_in(client, db)
    response = await client.post(REAUTHENTICATE, json={"code": "123456"})
    assert response.status_code == 409
    assert problem_code(response) == "mfa_not_enabled"


@pytest.mark.parametrize("body", [{}, {"password": PASSWORD, "code": "123456"}])
async def test_reauthentication_takes_exactly_one_proof(client: Client, db: AsyncEngine, body: dict[str, str]) -> None:
    await signed_in(client, db)
    response = await client.post(REAUTHENTICATE, json=body)
    assert response.status_code == 401
    assert problem_code(response) == "invalid_credentials"


async def test_reauthentication_needs_a_session(client: Client) -> None:
    response = await client.post(REAUTHENTICATE, json={"password": PASSWORD})
    assert response.status_code == 401
    assert problem_code(response) == "not_authenticated"


async def test_wrong_passwords_at_reauthentication_count_against_the_sign_in_limit(
    make_client: MakeClient, db: AsyncEngine
) -> None:
    client = await make_client(rate_limit_login_per_account=3)
    email = await signed_in(client, db)
    forget_device(client)  # a browser without a device cookie: the account's budget, which sign-in shares
    for _ in range(3):
        assert (await client.post(REAUTHENTICATE, json={"password": "wrong"})).status_code == 401
    limited = await client.post(REAUTHENTICATE, json={"password": PASSWORD})
    assert limited.status_code == 429
    other = await make_client(rate_limit_login_per_account=3)
    login = await other.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 429  # the same budget as sign-in's


async def test_a_session_renewed_by_a_mailed_link_has_proved_nothing(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink
) -> None:
    """Following a verification link is no proof of a factor: the session it renews asks for one."""
    client, _, token = await signed_up(make_client, mail_settings, smtp)
    assert (await client.post("/api/auth/verify-email", json={"token": token})).status_code == 200
    assert_reauthentication_required(await client.post("/api/auth/sessions/revoke-others"), ["password"])
    assert (await client.post(REAUTHENTICATE, json={"password": PASSWORD})).status_code == 204
    assert (await client.post("/api/auth/sessions/revoke-others")).status_code == 204


async def test_adding_or_removing_a_passkey_needs_sudo_mode_and_a_passkey_reopens_it(
    client: Client, settings: Settings, redis: Redis, db: AsyncEngine
) -> None:
    await signed_in(client, db)
    authenticator = SoftwareAuthenticator(origin=settings.frontend_url)
    passkey = await register_passkey(client, authenticator)  # a fresh sign-in: in sudo mode
    await let_sudo_lapse(client, settings, redis)
    methods = ["password", "passkey"]
    assert_reauthentication_required(await client.post(PASSKEY_REGISTER_OPTIONS), methods)
    credential = authenticator.create(await options_in_sudo_mode(client))
    await let_sudo_lapse(client, settings, redis)
    assert_reauthentication_required(await client.post(PASSKEY_REGISTER, json={"credential": credential}), methods)
    assert_reauthentication_required(await client.delete(f"/api/auth/passkeys/{passkey['id']}"), methods)

    options = await client.post(PASSKEY_REAUTHENTICATE_OPTIONS)
    assert options.status_code == 200, options.text
    answer = await client.post(PASSKEY_REAUTHENTICATE, json={"credential": authenticator.get(options.json())})
    assert answer.status_code == 204, answer.text
    assert (await client.post("/api/auth/sessions/revoke-others")).status_code == 204


async def options_in_sudo_mode(client: Client) -> dict[str, object]:
    """Registration options, asked for after re-authenticating with the password."""
    assert (await client.post(REAUTHENTICATE, json={"password": PASSWORD})).status_code == 204
    response = await client.post(PASSKEY_REGISTER_OPTIONS)
    assert response.status_code == 200, response.text
    options: dict[str, object] = response.json()
    return options
