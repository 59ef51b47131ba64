"""Two-factor sign-in over HTTP against real PostgreSQL, Redis and an in-process SMTP server; the TOTP codes are
computed from the secret the API hands out (tests/support/authenticator.py)."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Callable, Iterator
from typing import cast
from urllib.parse import quote

import httpx
import msgspec
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pet_auth.config import Settings, SettingsError, load_settings
from pet_auth.domain import totp
from tests.support.authenticator import (
    CONFIRM,
    SETUP,
    STEP,
    Mfa,
    code_at,
    current_step,
    enable_mfa,
    mark_verified,
    turned_on_days_ago,
)
from tests.support.clients import PASSWORD, Client, MakeClient, problem_code, register, set_cookies, unique_email
from tests.support.live_server import LiveServer, live_server
from tests.support.smtp import MailSink

LOGIN = "/api/auth/login"
LOGIN_MFA = "/api/auth/login/mfa"
ME = "/api/auth/me"
MFA = "/api/auth/mfa"
RECOVERY_CODES = "/api/auth/mfa/recovery-codes"
DISABLE = "/api/auth/mfa/disable"
RECOVERY_CODE = re.compile(r"[0-9a-z]{5}-[0-9a-z]{5}")
WRONG_PASSWORD = "not the password at all"


async def account_with_mfa(client: Client, db: AsyncEngine) -> Mfa:
    email = unique_email("mfa")
    await register(client, email)
    return await enable_mfa(client, email, db)


async def password_step(client: Client, email: str, password: str = PASSWORD) -> httpx.Response:
    response = await client.post(LOGIN, json={"email": email, "password": password})
    assert response.status_code == 202, response.text
    return response


async def sign_in(client: Client, mfa: Mfa, step: int) -> httpx.Response:
    await password_step(client, mfa.email)
    return await client.post(LOGIN_MFA, json={"code": code_at(mfa.secret, step)})


@pytest.fixture
def mfa_settings(make_settings: Callable[..., Settings], smtp: MailSink) -> Settings:
    return make_settings(**smtp.settings)


@pytest.fixture
async def browser(make_client: MakeClient, mfa_settings: Settings) -> Client:
    return await make_client(mfa_settings)


def test_totp_matches_the_rfc_6238_test_vectors() -> None:
    secret = b"12345678901234567890"  # RFC 6238 appendix B, SHA-1
    vectors = {59: "94287082", 1111111109: "07081804", 1111111111: "14050471", 1234567890: "89005924"}
    vectors |= {2000000000: "69279037", 20000000000: "65353130"}
    for timestamp, expected in vectors.items():
        assert totp.code_at(secret, totp.step_at(timestamp), digits=8) == expected
        assert totp.code_at(secret, totp.step_at(timestamp)) == expected[-6:]  # 6 digits: the last six
        assert code_at(base64.b32encode(secret).decode(), timestamp // STEP) == expected[-6:]


async def test_setup_hands_out_a_secret_that_turns_mfa_on_once_confirmed(browser: Client, db: AsyncEngine) -> None:
    email = unique_email("Mfa+Setup")
    user = await register(browser, email)
    assert user["mfaEnabled"] is False
    assert (await browser.get(MFA)).json() == {"mfaEnabled": False, "recoveryCodesLeft": 0}

    # Only for a verified address: else anyone could squat an address with a second factor of their own.
    unverified = await browser.post(SETUP, json={"currentPassword": PASSWORD})
    assert unverified.status_code == 403
    assert problem_code(unverified) == "email_not_verified"
    await mark_verified(db, email)
    setup = await browser.post(SETUP, json={"currentPassword": PASSWORD})
    assert setup.status_code == 200, setup.text
    secret = setup.json()["secret"]
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)  # base32, 160 bits
    assert len(base64.b32decode(secret)) == 20
    label = quote(f"Pet Manager:{email.lower()}", safe=":@")
    assert setup.json()["otpauthUri"] == f"otpauth://totp/{label}?secret={secret}&issuer=Pet%20Manager"
    assert setup.json()["otpauthUri"].startswith("otpauth://totp/Pet%20Manager:mfa%2Bsetup-")

    # Not active until confirmed: the password alone still signs in.
    assert (await browser.post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 200
    assert (await browser.get(MFA)).json()["mfaEnabled"] is False

    step = await current_step()
    assert problem_code(await browser.post(CONFIRM, json={"code": "000000x"})) == "invalid_code"
    confirm = await browser.post(CONFIRM, json={"code": code_at(secret, step)})
    assert confirm.status_code == 200, confirm.text
    codes = confirm.json()["recoveryCodes"]
    assert len(codes) == len(set(codes)) == 10
    assert all(RECOVERY_CODE.fullmatch(code) for code in codes)

    assert (await browser.get(ME)).json()["user"]["mfaEnabled"] is True  # in the new session's profile
    assert (await browser.get(MFA)).json() == {"mfaEnabled": True, "recoveryCodesLeft": 10}

    # Stored sealed and hashed: neither the secret nor a code is in the database.
    async with db.connect() as connection:
        [sealed] = (
            await connection.execute(text("SELECT secret_ciphertext FROM user_mfa WHERE user_id = :id"), user)
        ).scalars()
        hashes = list(
            (
                await connection.execute(text("SELECT code_hash FROM mfa_recovery_codes WHERE user_id = :id"), user)
            ).scalars()
        )
    assert len(sealed) == 12 + 20 + 16  # nonce, secret, GCM tag
    assert base64.b32decode(secret) not in sealed
    assert len(hashes) == 10
    assert not {code.replace("-", "") for code in codes} & set(hashes)
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in hashes)


async def test_setup_and_confirm_refuse_what_does_not_fit(browser: Client, db: AsyncEngine) -> None:
    email = unique_email()
    await register(browser, email)
    await mark_verified(db, email)
    assert problem_code(await browser.post(CONFIRM, json={"code": "123456"})) == "mfa_setup_required"
    wrong = await browser.post(SETUP, json={"currentPassword": WRONG_PASSWORD})
    assert wrong.status_code == 401
    assert problem_code(wrong) == "invalid_credentials"

    secret = (await browser.post(SETUP, json={"currentPassword": PASSWORD})).json()["secret"]
    step = await current_step()
    for off_by_two in (step - 2, step + 2):
        refused = await browser.post(CONFIRM, json={"code": code_at(secret, off_by_two)})
        assert refused.status_code == 400
        assert problem_code(refused) == "invalid_code"
    # A second setup replaces the first secret: codes of the first no longer confirm.
    second = (await browser.post(SETUP, json={"currentPassword": PASSWORD})).json()["secret"]
    assert second != secret
    assert problem_code(await browser.post(CONFIRM, json={"code": code_at(secret, step)})) == "invalid_code"
    assert (await browser.post(CONFIRM, json={"code": code_at(second, step)})).status_code == 200

    again = await browser.post(SETUP, json={"currentPassword": PASSWORD})
    assert again.status_code == 409
    assert problem_code(again) == "mfa_already_enabled"
    assert problem_code(await browser.post(CONFIRM, json={"code": code_at(second, step + 1)})) == "mfa_already_enabled"

    await browser.post("/api/auth/logout")
    await register(browser)  # an account without two-factor sign-in
    for path in (RECOVERY_CODES, DISABLE):
        response = await browser.post(path, json={"currentPassword": PASSWORD, "code": "123456"})
        assert response.status_code == 409
        assert problem_code(response) == "mfa_not_enabled"


async def test_the_password_alone_gives_no_session_and_no_device_cookie(
    browser: Client, make_client: MakeClient, mfa_settings: Settings, db: AsyncEngine
) -> None:
    mfa = await account_with_mfa(browser, db)
    stranger = await make_client(mfa_settings)

    response = await password_step(stranger, mfa.email)
    assert response.json() == {"mfaRequired": True}
    cookies = set_cookies(response)
    assert set(cookies) == {"pet_auth_mfa"}  # neither a session nor a device cookie
    pending = cookies["pet_auth_mfa"]
    assert pending["httponly"]
    assert pending["samesite"].lower() == "lax"
    assert pending["path"] == "/"
    assert int(pending["max-age"]) == mfa_settings.mfa_pending_ttl == 300
    assert (await stranger.get(ME)).status_code == 401

    step = await current_step()
    signed_in = await stranger.post(LOGIN_MFA, json={"code": code_at(mfa.secret, step)})
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["user"]["email"] == mfa.email
    assert signed_in.json()["user"]["mfaEnabled"] is True
    cookies = set_cookies(signed_in)
    assert {"pet_auth_session", "pet_auth_device", "pet_auth_mfa"} <= set(cookies)
    assert int(cookies["pet_auth_mfa"]["max-age"]) == 0  # the pending sign-in's cookie is expired
    assert (await stranger.get(ME)).json()["user"]["mfaEnabled"] is True


async def test_in_production_the_pending_cookie_is_host_only_and_secure(
    browser: Client, make_client: MakeClient, db: AsyncEngine
) -> None:
    mfa = await account_with_mfa(browser, db)  # in development: httpx sends no Secure cookie over plain http
    production = await make_client(
        app_env="production", cors_origins="https://pets.example", frontend_url="https://pets.example"
    )
    response = await production.post(LOGIN, json={"email": mfa.email, "password": PASSWORD})
    assert response.status_code == 202
    morsel = set_cookies(response)["__Host-pet_auth_mfa"]
    assert morsel["secure"]
    assert morsel["httponly"]
    assert morsel["path"] == "/"
    assert not morsel["domain"]


async def test_a_wrong_password_stays_a_plain_401_for_an_account_with_mfa(
    browser: Client, make_client: MakeClient, mfa_settings: Settings, db: AsyncEngine
) -> None:
    mfa = await account_with_mfa(browser, db)
    plain_email = unique_email()
    await register(await make_client(mfa_settings), plain_email)
    stranger = await make_client(mfa_settings)
    answers = []
    for email in (mfa.email, plain_email, unique_email("nobody")):
        response = await stranger.post(LOGIN, json={"email": email, "password": WRONG_PASSWORD})
        assert response.status_code == 401
        assert set_cookies(response) == {}
        answers.append(response.json())
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["code"] == "invalid_credentials"


async def test_a_code_is_accepted_once_and_never_one_older_than_the_last(
    browser: Client, make_client: MakeClient, mfa_settings: Settings, db: AsyncEngine
) -> None:
    mfa = await account_with_mfa(browser, db)
    phone = await make_client(mfa_settings)
    step = await current_step()
    assert (await sign_in(phone, mfa, step)).status_code == 200

    laptop = await make_client(mfa_settings)
    await password_step(laptop, mfa.email)
    for replayed in (step, step - 1):  # the same code again, and an older one still inside the window
        response = await laptop.post(LOGIN_MFA, json={"code": code_at(mfa.secret, replayed)})
        assert response.status_code == 401
        assert problem_code(response) == "code_already_used"
        assert "next code" in response.json()["detail"]
    assert (await laptop.get(ME)).status_code == 401
    assert (await laptop.post(LOGIN_MFA, json={"code": code_at(mfa.secret, step + 1)})).status_code == 200


async def test_the_code_that_turned_mfa_on_is_refused_at_sign_in_as_used_and_counted_as_wrong(
    browser: Client, db: AsyncEngine
) -> None:
    """The frontend developer's case: the code typed to turn two-factor sign-in on, typed again to sign in within the
    same 30 s. The answer says to wait for the next code; it counts as a wrong code all the same (no oracle that
    costs nothing): five of them end the pending sign-in, as five wrong codes do."""
    email = unique_email("reused")
    await register(browser, email)
    await mark_verified(db, email)
    secret = (await browser.post(SETUP, json={"currentPassword": PASSWORD})).json()["secret"]
    step = await current_step(margin=15)
    used = code_at(secret, step)
    assert (await browser.post(CONFIRM, json={"code": used})).status_code == 200
    # Managing it: 400, as a wrong code is there.
    again = await browser.post(DISABLE, json={"currentPassword": PASSWORD, "code": used})
    assert again.status_code == 400
    assert problem_code(again) == "code_already_used"
    await browser.post("/api/auth/logout")

    await password_step(browser, email)
    for _ in range(5):
        response = await browser.post(LOGIN_MFA, json={"code": used})
        assert response.status_code == 401
        body = response.json()
        assert body["code"] == "code_already_used"
        assert body["detail"].startswith("This code was already used. Wait for your authenticator app to show the next")
    assert problem_code(await browser.post(LOGIN_MFA, json={"code": code_at(secret, step + 1)})) == "mfa_expired"
    # A code that was never right is still invalid_code.
    await password_step(browser, email)
    assert problem_code(await browser.post(LOGIN_MFA, json={"code": "bad-code"})) == "invalid_code"


async def test_the_neighbouring_steps_are_accepted_and_two_steps_off_is_not(
    browser: Client, make_client: MakeClient, mfa_settings: Settings, db: AsyncEngine
) -> None:
    # Turning it on took the previous step's code (see enable_mfa); signing in takes the next step's.
    mfa = await account_with_mfa(browser, db)
    step = await current_step()
    assert mfa.confirmed_step == step - 1
    stranger = await make_client(mfa_settings)
    await password_step(stranger, mfa.email)
    for far in (step - 2, step + 2):
        response = await stranger.post(LOGIN_MFA, json={"code": code_at(mfa.secret, far)})
        assert problem_code(response) == "invalid_code"
    assert (await stranger.post(LOGIN_MFA, json={"code": code_at(mfa.secret, step + 1)})).status_code == 200


async def test_a_recovery_code_signs_in_once(browser: Client, smtp: MailSink, db: AsyncEngine) -> None:
    mfa = await account_with_mfa(browser, db)
    first, second = mfa.recovery_codes[:2]
    await browser.post("/api/auth/logout")

    await password_step(browser, mfa.email)
    signed_in = await browser.post(LOGIN_MFA, json={"recoveryCode": first})
    assert signed_in.status_code == 200, signed_in.text
    [mail] = await smtp.wait_for(mfa.email, "A recovery code was used")
    assert "9 recovery codes left" in mail.text
    assert (await browser.get(MFA)).json() == {"mfaEnabled": True, "recoveryCodesLeft": 9}

    await browser.post("/api/auth/logout")
    await password_step(browser, mfa.email)
    used_again = await browser.post(LOGIN_MFA, json={"recoveryCode": first})
    assert used_again.status_code == 401
    assert problem_code(used_again) == "invalid_code"
    # Typed loosely (upper case, no hyphen, spaces) it is still the code.
    plain = second.replace("-", "").upper()
    assert (await browser.post(LOGIN_MFA, json={"recoveryCode": f" {plain[:5]} {plain[5:]} "})).status_code == 200
    assert (await browser.get(MFA)).json()["recoveryCodesLeft"] == 8


async def test_new_recovery_codes_end_the_old_set(
    browser: Client, make_client: MakeClient, mfa_settings: Settings, smtp: MailSink, db: AsyncEngine
) -> None:
    mfa = await account_with_mfa(browser, db)
    phone = await make_client(mfa_settings)
    await password_step(phone, mfa.email)
    assert (await phone.post(LOGIN_MFA, json={"recoveryCode": mfa.recovery_codes[9]})).status_code == 200
    step = await current_step()
    code = code_at(mfa.secret, step)
    wrong_password = await browser.post(RECOVERY_CODES, json={"currentPassword": WRONG_PASSWORD, "code": code})
    assert problem_code(wrong_password) == "invalid_credentials"
    wrong_code = await browser.post(RECOVERY_CODES, json={"currentPassword": PASSWORD, "code": "000000"})
    assert wrong_code.status_code == 400
    assert problem_code(wrong_code) == "invalid_code"

    renewed = await browser.post(RECOVERY_CODES, json={"currentPassword": PASSWORD, "code": code})
    assert renewed.status_code == 200, renewed.text
    new_codes = renewed.json()["recoveryCodes"]
    assert len(new_codes) == 10
    assert not set(new_codes) & set(mfa.recovery_codes)
    await smtp.wait_for(mfa.email, "New recovery codes")
    assert (await browser.get(MFA)).json() == {"mfaEnabled": True, "recoveryCodesLeft": 10}
    assert (await phone.get(ME)).status_code == 401  # a credential change: every other session ended

    await browser.post("/api/auth/logout")
    await password_step(browser, mfa.email)
    old = await browser.post(LOGIN_MFA, json={"recoveryCode": mfa.recovery_codes[0]})
    assert problem_code(old) == "invalid_code"
    assert (await browser.post(LOGIN_MFA, json={"recoveryCode": new_codes[0]})).status_code == 200


async def test_the_pending_sign_in_expires(
    make_client: MakeClient, make_settings: Callable[..., Settings], db: AsyncEngine
) -> None:
    settings = make_settings(mfa_pending_ttl=1)
    client = await make_client(settings)
    mfa = await account_with_mfa(client, db)
    await client.post("/api/auth/logout")

    response = await password_step(client, mfa.email)
    assert int(set_cookies(response)["pet_auth_mfa"]["max-age"]) == 1
    await asyncio.sleep(1.5)
    # The browser would have dropped the cookie by now; sent anyway, the server has forgotten it too.
    client.cookies.set("pet_auth_mfa", response.cookies["pet_auth_mfa"])
    step = await current_step()
    late = await client.post(LOGIN_MFA, json={"code": code_at(mfa.secret, step)})
    assert late.status_code == 401
    assert problem_code(late) == "mfa_expired"
    assert int(set_cookies(late)["pet_auth_mfa"]["max-age"]) == 0
    assert (await client.get(ME)).status_code == 401

    for cookie in (None, "forged", "x" * 43):
        client.cookies.clear()
        if cookie is not None:
            client.cookies.set("pet_auth_mfa", cookie)
        response = await client.post(LOGIN_MFA, json={"code": code_at(mfa.secret, step)})
        assert problem_code(response) == "mfa_expired"


async def test_five_wrong_codes_end_the_pending_sign_in(browser: Client, db: AsyncEngine) -> None:
    mfa = await account_with_mfa(browser, db)
    await browser.post("/api/auth/logout")
    await password_step(browser, mfa.email)
    for wrong in ("000000", "111111", "222222", "333333", "bad-code"):
        response = await browser.post(LOGIN_MFA, json={"code": wrong})
        assert response.status_code == 401
        assert problem_code(response) == "invalid_code"
    step = await current_step()
    right = await browser.post(LOGIN_MFA, json={"code": code_at(mfa.secret, step)})
    assert problem_code(right) == "mfa_expired"
    # The password again starts a new one, and the code (still unused) completes it.
    await password_step(browser, mfa.email)
    assert (await browser.post(LOGIN_MFA, json={"code": code_at(mfa.secret, step)})).status_code == 200


async def test_wrong_codes_count_under_the_account_limit_and_spare_the_owners_device(
    make_client: MakeClient, make_settings: Callable[..., Settings], db: AsyncEngine
) -> None:
    settings = make_settings(rate_limit_login_per_account=3)
    owner = await make_client(settings)
    mfa = await account_with_mfa(owner, db)
    await owner.post("/api/auth/logout")  # the device cookie stays

    # Someone with the password, on a device the account never saw, guesses codes.
    stranger = await make_client(settings)
    await password_step(stranger, mfa.email)
    for wrong in ("000000", "111111", "222222"):
        assert problem_code(await stranger.post(LOGIN_MFA, json={"code": wrong})) == "invalid_code"
    step = await current_step()
    limited = await stranger.post(LOGIN_MFA, json={"code": code_at(mfa.secret, step)})
    assert limited.status_code == 429
    assert problem_code(limited) == "rate_limited"
    assert int(limited.headers["retry-after"]) > 0
    # The right password does not forget wrong codes.
    await password_step(stranger, mfa.email)
    assert (await stranger.post(LOGIN_MFA, json={"code": code_at(mfa.secret, step)})).status_code == 429

    # The owner's browser has a budget of its own, and the code is still unused.
    assert (await sign_in(owner, mfa, step)).status_code == 200


async def test_turning_mfa_on_and_off_ends_every_other_session(
    browser: Client, make_client: MakeClient, mfa_settings: Settings, smtp: MailSink, db: AsyncEngine
) -> None:
    email = unique_email()
    await register(browser, email)
    phone = await make_client(mfa_settings)
    assert (await phone.post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 200
    before = browser.cookies["pet_auth_session"]

    mfa = await enable_mfa(browser, email, db)
    await smtp.wait_for(email, "Two-factor sign-in is on")
    assert browser.cookies["pet_auth_session"] != before  # the caller's session was rotated
    assert (await browser.get(ME)).json()["user"]["mfaEnabled"] is True
    assert (await phone.get(ME)).status_code == 401  # every other session ended
    old = await make_client(mfa_settings)
    old.cookies.set("pet_auth_session", before)
    assert (await old.get(ME)).status_code == 401

    step = await current_step()
    assert (await sign_in(phone, mfa, step)).status_code == 200
    before = browser.cookies["pet_auth_session"]
    wrong = await browser.post(DISABLE, json={"currentPassword": PASSWORD, "code": "000000"})
    assert problem_code(wrong) == "invalid_code"
    assert (await phone.get(ME)).status_code == 200  # a refused attempt changes nothing
    disabled = await browser.post(DISABLE, json={"currentPassword": PASSWORD, "code": code_at(mfa.secret, step + 1)})
    assert disabled.status_code == 204, disabled.text
    await smtp.wait_for(email, "Two-factor sign-in is off")
    assert browser.cookies["pet_auth_session"] != before
    assert (await browser.get(ME)).json()["user"]["mfaEnabled"] is False
    assert (await phone.get(ME)).status_code == 401
    assert (await browser.get(MFA)).json() == {"mfaEnabled": False, "recoveryCodesLeft": 0}
    assert (await phone.post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 200

    async with db.connect() as connection:  # the secret and the codes are gone
        query = (
            "SELECT (SELECT count(*) FROM user_mfa WHERE user_id = :id)"
            " + (SELECT count(*) FROM mfa_recovery_codes WHERE user_id = :id)"
        )
        user_id = (await browser.get(ME)).json()["user"]["id"]
        assert (await connection.execute(text(query), {"id": user_id})).scalar_one() == 0


async def test_a_recovery_code_turns_mfa_off(browser: Client, db: AsyncEngine) -> None:
    mfa = await account_with_mfa(browser, db)
    code = mfa.recovery_codes[3].upper()
    assert (await browser.post(DISABLE, json={"currentPassword": PASSWORD, "code": code})).status_code == 204
    assert (await browser.get(MFA)).json() == {"mfaEnabled": False, "recoveryCodesLeft": 0}


async def test_turning_mfa_on_keeps_a_reset_link_already_mailed(
    browser: Client, smtp: MailSink, db: AsyncEngine
) -> None:
    """The mailbox outranks a session: a change made from a session never ends a reset link already mailed."""
    email = unique_email()
    await register(browser, email)
    assert (await browser.post("/api/auth/forgot-password", json={"email": email})).status_code == 202
    [mail] = await smtp.wait_for(email, "Reset your Pet Manager password")
    await enable_mfa(browser, email, db)
    await turned_on_days_ago(db, email, 2)
    reset = await browser.post("/api/auth/reset-password", json={"token": mail.token, "password": "a new passphrase!"})
    assert reset.status_code == 204, reset.text
    assert (await browser.get(ME)).status_code == 401  # the reset ended the session that turned it on
    assert (await password_step(browser, email, "a new passphrase!")).json() == {"mfaRequired": True}


async def test_a_password_reset_keeps_mfa_on_and_ends_pending_sign_ins(
    browser: Client, smtp: MailSink, db: AsyncEngine
) -> None:
    mfa = await account_with_mfa(browser, db)
    await turned_on_days_ago(db, mfa.email, 2)  # older than RESET_REMOVES_MFA_ENABLED_WITHIN
    await browser.post("/api/auth/logout")
    await password_step(browser, mfa.email)  # pending, for the credentials before the reset
    assert (await browser.post("/api/auth/forgot-password", json={"email": mfa.email})).status_code == 202
    [mail] = await smtp.wait_for(mfa.email, "Reset your Pet Manager password")
    new_password = "a new passphrase, after the reset"
    body = {"token": mail.token, "password": new_password}
    assert (await browser.post("/api/auth/reset-password", json=body)).status_code == 204

    step = await current_step()
    stale = await browser.post(LOGIN_MFA, json={"code": code_at(mfa.secret, step)})
    assert problem_code(stale) == "mfa_expired"
    await password_step(browser, mfa.email, new_password)  # still 202: the reset did not turn MFA off
    assert (await browser.post(LOGIN_MFA, json={"code": code_at(mfa.secret, step)})).status_code == 200
    assert (await browser.get(MFA)).json() == {"mfaEnabled": True, "recoveryCodesLeft": 10}


async def test_a_reset_turns_off_mfa_turned_on_shortly_before(
    browser: Client, make_client: MakeClient, mfa_settings: Settings, smtp: MailSink, db: AsyncEngine
) -> None:
    """A phisher with a session and the password turns on an authenticator of their own: the owner's reset, within
    RESET_REMOVES_MFA_ENABLED_WITHIN, gives the account back without it (and says so)."""
    mfa = await account_with_mfa(browser, db)  # the phisher's browser, the phisher's authenticator
    owner = await make_client(mfa_settings)
    assert (await owner.post("/api/auth/forgot-password", json={"email": mfa.email})).status_code == 202
    [mail] = await smtp.wait_for(mfa.email, "Reset your Pet Manager password")
    new_password = "the owner's own passphrase"
    reset = await owner.post("/api/auth/reset-password", json={"token": mail.token, "password": new_password})
    assert reset.status_code == 204, reset.text
    signed_in = await owner.post(LOGIN, json={"email": mfa.email, "password": new_password})
    assert signed_in.status_code == 200, signed_in.text  # no second step: the phisher's factor is gone
    assert (await owner.get(MFA)).json() == {"mfaEnabled": False, "recoveryCodesLeft": 0}
    assert (await browser.get(ME)).status_code == 401
    [notice] = await smtp.wait_for(mfa.email, "Your Pet Manager password was changed")
    assert "Two-factor sign-in, turned on shortly before, was turned off" in notice.text


async def test_the_second_step_takes_exactly_one_kind_of_code(browser: Client, db: AsyncEngine) -> None:
    mfa = await account_with_mfa(browser, db)
    await browser.post("/api/auth/logout")
    await password_step(browser, mfa.email)
    for body in ({}, {"code": "123456", "recoveryCode": mfa.recovery_codes[0]}):
        response = await browser.post(LOGIN_MFA, json=body)
        assert response.status_code == 401
        assert problem_code(response) == "invalid_code"
    # A recovery code sent as `code` is not a TOTP code at sign-in.
    assert problem_code(await browser.post(LOGIN_MFA, json={"code": mfa.recovery_codes[0]})) == "invalid_code"


async def test_a_session_profile_stored_before_mfa_existed_still_serves_me(
    client: Client, settings: Settings, redis: Redis
) -> None:
    user = await register(client)
    key = f"{settings.redis_namespace}:session:{{{user['id']}}}"
    profile = msgspec.msgpack.decode(cast(bytes, await redis.hget(key, "u")))
    assert len(profile) == 4  # email, creation time, email verified, two-factor sign-in on
    await redis.hset(key, "u", msgspec.msgpack.encode(profile[:2]))  # [email, ucr], as the first release stored it
    me = await client.get(ME)
    assert me.status_code == 200
    assert me.json()["user"] == {**user, "emailVerified": False, "mfaEnabled": False}


TEST_ENV = {"APP_ENV": "test"}  # production, the default, would first refuse the example SESSION_SECRET


def test_mfa_encryption_key_must_be_32_bytes_in_hex_or_base64() -> None:
    key = bytes(range(32))
    for written in (key.hex(), base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode().rstrip("=")):
        assert load_settings({**TEST_ENV, "MFA_ENCRYPTION_KEY": written}, env_file=None).mfa_encryption_key == written
    for bad in ("too short", key.hex()[:-2], base64.b64encode(key + b"x").decode(), "z" * 64):
        with pytest.raises(SettingsError, match="MFA_ENCRYPTION_KEY"):
            load_settings({**TEST_ENV, "MFA_ENCRYPTION_KEY": bad}, env_file=None)


async def test_with_mfa_encryption_key_the_secrets_outlive_a_new_session_secret(
    make_client: MakeClient, make_settings: Callable[..., Settings], db: AsyncEngine
) -> None:
    key = base64.b64encode(bytes(range(32))).decode()
    before = await make_client(make_settings(mfa_encryption_key=key))
    mfa = await account_with_mfa(before, db)
    after = await make_client(make_settings(mfa_encryption_key=key, session_secret="a-rotated-secret-" + "y" * 40))
    step = await current_step()
    assert (await sign_in(after, mfa, step)).status_code == 200
    await password_step(after, mfa.email)
    assert (await after.post(LOGIN_MFA, json={"recoveryCode": mfa.recovery_codes[0]})).status_code == 200


ROUNDS = 6
CONCURRENT = 8


@pytest.fixture
def server(make_settings: Callable[..., Settings]) -> Iterator[LiveServer]:
    generous = {f"rate_limit_{name}": 100_000 for name in ("login_per_ip", "register_per_ip", "login_per_account")}
    with live_server(make_settings(**generous)) as running:
        yield running


async def test_concurrent_second_steps_sign_in_once(server: LiveServer, db: AsyncEngine) -> None:
    """Many requests carry one pending sign-in at once: with one code, or with a code and a recovery code each."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as owner:
        for round_ in range(ROUNDS):
            email = unique_email("race")
            assert (await owner.post("/api/auth/register", json={"email": email, "password": PASSWORD})).is_success
            mfa = await enable_mfa(owner, email, db)
            owner.cookies.clear()
            response = await owner.post(LOGIN, json={"email": email, "password": PASSWORD})
            assert response.status_code == 202
            pending = response.cookies["pet_auth_mfa"]
            step = await current_step()
            if round_ % 2 == 0:
                bodies = [{"code": code_at(mfa.secret, step)}] * CONCURRENT
            else:
                bodies = [{"code": code_at(mfa.secret, step)}, {"recoveryCode": mfa.recovery_codes[0]}] * (
                    CONCURRENT // 2
                )

            async def second_step(body: dict[str, str], pending: str = pending) -> httpx.Response:
                async with httpx.AsyncClient(base_url=server.url, cookies={"pet_auth_mfa": pending}) as browser:
                    return await browser.post(LOGIN_MFA, json=body)

            responses = await asyncio.gather(*(second_step(body) for body in bodies))
            statuses = sorted(response.status_code for response in responses)
            assert statuses == [200] + [401] * (CONCURRENT - 1), [r.text for r in responses]
            [winner] = [response for response in responses if response.status_code == 200]
            assert "pet_auth_session" in set_cookies(winner)
            for loser in responses:
                if loser is not winner:
                    # It waited for the winner, then found the pending sign-in gone: no wrong code was counted.
                    assert problem_code(loser) == "mfa_expired"
                    assert "pet_auth_session" not in set_cookies(loser)
