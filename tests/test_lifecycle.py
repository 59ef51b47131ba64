"""An account's life over HTTP: email verification, a verified change of address, deletion, new-device notices.

Real PostgreSQL and Redis, and the in-process SMTP server that receives every mail.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pet_auth.config import Settings
from tests.support.accounts import CONFIRM_SUBJECT, VERIFY_SUBJECT, change_email, login, me, signed_up
from tests.support.clients import PASSWORD, SPA_ORIGIN, Client, MakeClient, register, unique_email
from tests.support.logs import captured
from tests.support.recovery import assert_invalid_token, request_token, reset
from tests.support.smtp import Mail, MailSink
from tests.support.sudo import let_sudo_lapse

CHANGE_NOTICE_SUBJECT = "Your Pet Manager email address is being changed"
IN_USE_SUBJECT = "Someone tried to use this address on Pet Manager"
GOODBYE_SUBJECT = "Your Pet Manager account was deleted"
NEW_DEVICE_SUBJECT = "New sign-in to your Pet Manager account"
NEW_PASSWORD = "a brand new passphrase, 2nd edition"
ME = "/api/auth/me"


def assert_no_link(mail: Mail) -> None:
    assert mail.links == [], mail.text


# --- verification -----------------------------------------------------------------------------------------------


async def test_sign_up_mails_a_verification_link_and_nothing_else(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink
) -> None:
    client, email, token = await signed_up(make_client, mail_settings, smtp)
    assert (await me(client))["emailVerified"] is False
    [mail] = smtp.mails(email)
    assert mail.links == [f"{SPA_ORIGIN}/verify-email?token={token}"]
    assert token in mail.html
    await asyncio.sleep(0.2)
    assert len(smtp.mails(email)) == 1  # no new-device notice for a sign-up


async def test_a_first_verification_needs_no_session_and_ends_every_session_before_it(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink
) -> None:
    """The first proof of the address: the sessions from before it came from whoever knew the password."""
    laptop, email, token = await signed_up(make_client, mail_settings, smtp)
    phone = await make_client(mail_settings)
    assert (await login(phone, email)).status_code == 200
    anonymous = await make_client(mail_settings)

    response = await anonymous.post("/api/auth/verify-email", json={"token": token})
    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == email
    assert response.json()["user"]["emailVerified"] is True
    assert "set-cookie" not in response.headers
    for device in (anonymous, laptop, phone):
        assert (await device.get(ME)).status_code == 401
    assert (await login(phone, email)).status_code == 200
    assert (await me(phone))["emailVerified"] is True
    assert_invalid_token(await anonymous.post("/api/auth/verify-email", json={"token": token}))  # single use


async def test_the_browser_signed_in_that_verifies_gets_a_new_session(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink
) -> None:
    laptop, email, token = await signed_up(make_client, mail_settings, smtp)
    phone = await make_client(mail_settings)
    assert (await login(phone, email)).status_code == 200
    before = laptop.cookies[mail_settings.session_cookie_name]

    response = await laptop.post("/api/auth/verify-email", json={"token": token})
    assert response.status_code == 200, response.text
    assert laptop.cookies[mail_settings.session_cookie_name] != before
    assert mail_settings.device_cookie_name in response.headers["set-cookie"]
    assert (await me(laptop))["emailVerified"] is True
    assert (await phone.get(ME)).status_code == 401


@pytest.mark.parametrize("token", ["", "short", "x" * 43, "!" * 43, "y" * 256])
async def test_malformed_or_unknown_verification_tokens_are_invalid(client: Client, token: str) -> None:
    assert_invalid_token(await client.post("/api/auth/verify-email", json={"token": token}))


async def test_an_expired_verification_link_is_invalid(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink, db: AsyncEngine
) -> None:
    client, email, token = await signed_up(make_client, mail_settings, smtp)
    async with db.begin() as connection:
        await connection.execute(
            text("UPDATE email_tokens SET expires_at = now() - interval '1 second' WHERE email = :e"), {"e": email}
        )
    assert_invalid_token(await client.post("/api/auth/verify-email", json={"token": token}))
    assert (await me(client))["emailVerified"] is False


async def test_resend_sends_a_fresh_link_that_ends_the_older_ones(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink
) -> None:
    client, email, first = await signed_up(make_client, mail_settings, smtp)
    response = await client.post("/api/auth/verify-email/resend")
    assert response.status_code == 202
    assert response.json()["message"]
    second = (await smtp.wait_for(email, VERIFY_SUBJECT, count=2))[1].token
    assert second != first
    assert_invalid_token(await client.post("/api/auth/verify-email", json={"token": first}))
    assert (await client.post("/api/auth/verify-email", json={"token": second})).status_code == 200

    # Verified: a resend is still a 202, and mails nothing.
    assert (await client.post("/api/auth/verify-email/resend")).status_code == 202
    await asyncio.sleep(0.2)
    assert len(smtp.mails(email, VERIFY_SUBJECT)) == 2


async def test_resend_is_limited_per_account_and_needs_a_session(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink
) -> None:
    client, _, _ = await signed_up(make_client, mail_settings, smtp)
    statuses = [(await client.post("/api/auth/verify-email/resend")).status_code for _ in range(4)]
    assert statuses == [202, 202, 202, 429]
    anonymous = await make_client(mail_settings)
    response = await anonymous.post("/api/auth/verify-email/resend")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


async def test_a_completed_reset_verifies_the_address(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink
) -> None:
    client, email, _ = await signed_up(make_client, mail_settings, smtp)
    token = await request_token(client, smtp, email)
    assert (await reset(client, token)).status_code == 204
    assert (await login(client, email, NEW_PASSWORD)).status_code == 200
    assert (await me(client))["emailVerified"] is True


async def test_unverified_accounts_can_be_required_to_verify_first(
    make_client: MakeClient, make_settings: Callable[..., Settings], smtp: MailSink
) -> None:
    settings = make_settings(**smtp.settings, require_verified_email="true")
    client, _, token = await signed_up(make_client, settings, smtp)
    for response in (
        await change_email(client, unique_email()),
        await client.post("/api/auth/delete-account", json={"currentPassword": PASSWORD}),
    ):
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "email_not_verified"
    assert (await client.post("/api/auth/verify-email", json={"token": token})).status_code == 200
    assert (await change_email(client, unique_email())).status_code == 202


# --- email change -----------------------------------------------------------------------------------------------


async def test_an_email_change_takes_effect_only_through_the_new_address(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink
) -> None:
    laptop, old, _ = await signed_up(make_client, mail_settings, smtp)
    phone = await make_client(mail_settings)
    assert (await login(phone, old)).status_code == 200
    new = unique_email("moved")

    response = await change_email(laptop, new)
    assert response.status_code == 202, response.text
    [confirm] = await smtp.wait_for(new, CONFIRM_SUBJECT)
    [notice] = await smtp.wait_for(old, CHANGE_NOTICE_SUBJECT)
    assert_no_link(notice)
    assert confirm.links == [f"{SPA_ORIGIN}/confirm-email?token={confirm.token}"]
    # Nothing changes until the link is used.
    assert (await me(laptop))["email"] == old
    assert (await login(await make_client(mail_settings), new)).status_code == 401

    anonymous = await make_client(mail_settings)
    confirmed = await anonymous.post("/api/auth/confirm-email", json={"token": confirm.token})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["user"]["email"] == new
    assert confirmed.json()["user"]["emailVerified"] is True
    # A credential change: every session from before it ends.
    for device in (laptop, phone):
        assert (await device.get(ME)).status_code == 401
    assert (await login(phone, new)).status_code == 200
    assert (await me(phone))["email"] == new
    assert (await me(phone))["emailVerified"] is True
    assert (await login(await make_client(mail_settings), old)).status_code == 401
    assert_invalid_token(await anonymous.post("/api/auth/confirm-email", json={"token": confirm.token}))


async def test_an_address_with_an_account_gets_the_same_answer_and_a_warning(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink
) -> None:
    client, old, _ = await signed_up(make_client, mail_settings, smtp)
    _, taken, _ = await signed_up(make_client, mail_settings, smtp)
    free = unique_email("free")

    to_taken, to_free = await change_email(client, taken), await change_email(client, free)

    assert to_taken.status_code == to_free.status_code == 202
    assert to_taken.content == to_free.content
    [warning] = await smtp.wait_for(taken, IN_USE_SUBJECT)
    assert_no_link(warning)
    await smtp.wait_for(free, CONFIRM_SUBJECT)
    await smtp.wait_for(old, CHANGE_NOTICE_SUBJECT, count=2)
    assert smtp.mails(taken, CONFIRM_SUBJECT) == []


async def test_an_address_taken_before_the_confirmation_is_a_409_and_changes_nothing(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink
) -> None:
    client, old, _ = await signed_up(make_client, mail_settings, smtp)
    new = unique_email("contested")
    assert (await change_email(client, new)).status_code == 202
    [confirm] = await smtp.wait_for(new, CONFIRM_SUBJECT)
    await register(await make_client(mail_settings), new)  # someone else signs up with it meanwhile

    response = await client.post("/api/auth/confirm-email", json={"token": confirm.token})
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "email_taken"
    assert (await me(client))["email"] == old
    assert (await login(await make_client(mail_settings), old)).status_code == 200


async def test_concurrent_confirmations_of_one_link_give_exactly_one_success(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink
) -> None:
    for _ in range(5):
        client, _, _ = await signed_up(make_client, mail_settings, smtp)
        new = unique_email("raced")
        assert (await change_email(client, new)).status_code == 202
        [confirm] = await smtp.wait_for(new, CONFIRM_SUBJECT)
        # Separate apps, as separate worker processes would be, on one database and one Redis.
        clients = [await make_client(mail_settings) for _ in range(4)]
        responses = await asyncio.gather(
            *(c.post("/api/auth/confirm-email", json={"token": confirm.token}) for c in clients)
        )
        assert sorted(r.status_code for r in responses) == [200, 400, 400, 400]


async def test_a_change_of_address_checks_the_password_and_the_address(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink
) -> None:
    client, email, _ = await signed_up(make_client, mail_settings, smtp)
    wrong = await change_email(client, unique_email(), password="not my password")
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "invalid_credentials"
    for bad in ("not an address", "two@@example.com", email):
        response = await change_email(client, bad)
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "validation_error"
        assert [e["field"] for e in response.json()["errors"]] == ["newEmail"]
    anonymous = await make_client(mail_settings)
    assert (await change_email(anonymous, unique_email())).status_code == 401


async def test_a_credential_change_ends_pending_confirmation_links(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink
) -> None:
    client, _, _ = await signed_up(make_client, mail_settings, smtp)
    new = unique_email("pending")
    assert (await change_email(client, new)).status_code == 202
    [confirm] = await smtp.wait_for(new, CONFIRM_SUBJECT)
    body = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    assert (await client.post("/api/auth/change-password", json=body)).status_code == 204
    assert_invalid_token(await client.post("/api/auth/confirm-email", json={"token": confirm.token}))


# --- deletion ---------------------------------------------------------------------------------------------------


async def test_deleting_the_account_ends_every_session_and_frees_the_address(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink, db: AsyncEngine
) -> None:
    laptop, email, _ = await signed_up(make_client, mail_settings, smtp)
    user_id = (await me(laptop))["id"]
    phone = await make_client(mail_settings)
    assert (await login(phone, email)).status_code == 200
    await request_token(laptop, smtp, email)  # a pending reset link, which goes with the account

    with captured("pet_auth.audit") as records:
        response = await laptop.post("/api/auth/delete-account", json={"currentPassword": PASSWORD})
    assert response.status_code == 204, response.text
    expired = [h for h in response.headers.get_list("set-cookie") if h.startswith(mail_settings.session_cookie_name)]
    assert len(expired) == 1
    assert "Max-Age=0" in expired[0]
    for device in (laptop, phone):
        assert (await device.get(ME)).status_code == 401
    assert (await login(await make_client(mail_settings), email)).status_code == 401
    [goodbye] = await smtp.wait_for(email, GOODBYE_SUBJECT)
    assert_no_link(goodbye)
    [event] = [json.loads(r.getMessage()) for r in records if "account_deleted" in r.getMessage()]
    assert event["user_id"] == user_id
    assert email not in json.dumps(event)
    async with db.connect() as connection:
        for table in ("password_reset_tokens", "email_tokens"):
            query = text(f"SELECT count(*) FROM {table} WHERE user_id = :u")
            assert await connection.scalar(query, {"u": user_id}) == 0

    again = await make_client(mail_settings)
    assert (await again.post("/api/auth/register", json={"email": email, "password": PASSWORD})).status_code == 201


async def test_deleting_needs_the_password_or_a_recent_proof_and_a_session(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink, redis: Redis
) -> None:
    client, _, _ = await signed_up(make_client, mail_settings, smtp)
    response = await client.post("/api/auth/delete-account", json={"currentPassword": "not my password"})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert (await client.get(ME)).status_code == 200
    await let_sudo_lapse(client, mail_settings, redis)
    missing = await client.post("/api/auth/delete-account", json={})
    assert missing.status_code == 401
    assert missing.json()["code"] == "reauthentication_required"
    assert (await client.get(ME)).status_code == 200
    anonymous = await make_client(mail_settings)
    assert (await anonymous.post("/api/auth/delete-account", json={"currentPassword": PASSWORD})).status_code == 401


# --- new-device notices -----------------------------------------------------------------------------------------


async def test_a_sign_in_from_a_new_device_is_reported_and_one_from_a_known_device_is_not(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink
) -> None:
    laptop, email, _ = await signed_up(make_client, mail_settings, smtp)
    firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
    stranger = await make_client(mail_settings)
    response = await stranger.post(
        "/api/auth/login", json={"email": email, "password": PASSWORD}, headers={"user-agent": firefox}
    )
    assert response.status_code == 200
    [notice] = await smtp.wait_for(email, NEW_DEVICE_SUBJECT)
    assert "Firefox 133 on Windows" in notice.text
    assert "testclient" in notice.text  # the client address, as the test client reports it
    assert " UTC" in notice.text
    assert notice.links == [f"{SPA_ORIGIN}/forgot-password"]
    assert notice.html

    assert (await laptop.post("/api/auth/logout")).status_code == 204
    assert (await login(laptop, email)).status_code == 200  # the device cookie from the sign-up
    assert (await login(stranger, email)).status_code == 200  # and the one from the stranger's first sign-in
    await asyncio.sleep(0.3)
    assert len(smtp.mails(email, NEW_DEVICE_SUBJECT)) == 1


async def test_mail_failures_never_fail_a_call(make_client: MakeClient, make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(mail_backend="smtp", smtp_host="127.0.0.1", smtp_port="9", smtp_starttls="false")
    with captured("pet_auth.background"):
        client = await make_client(settings)
        email = unique_email()
        await register(client, email)
        assert (await client.post("/api/auth/verify-email/resend")).status_code == 202
        assert (await login(await make_client(settings), email)).status_code == 200
        assert (await change_email(client, unique_email())).status_code == 202
        assert (await client.post("/api/auth/delete-account", json={"currentPassword": PASSWORD})).status_code == 204
