"""Passkeys over HTTP against real PostgreSQL, Redis and an in-process SMTP server, driven by a software
authenticator (tests/support/webauthn.py): registering, signing in, the list, renaming and removing, re-authenticating,
and every refusal (origin, RP ID, user verification, challenges, user handles, counters, limits, hostile input)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import cbor2
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pet_auth.config import Settings
from tests.support.accounts import me
from tests.support.authenticator import enable_mfa, mark_verified
from tests.support.clients import (
    PASSWORD,
    Client,
    MakeClient,
    forget_device,
    problem_code,
    register,
    set_cookies,
    unique_email,
)
from tests.support.logs import captured
from tests.support.recovery import request_token, reset
from tests.support.smtp import MailSink
from tests.support.webauthn import (
    ADDED_SUBJECT,
    PASSKEYS,
    REAUTHENTICATE,
    REAUTHENTICATE_OPTIONS,
    REGISTER,
    REMOVED_SUBJECT,
    SIGN_IN,
    SIGN_IN_OPTIONS,
    Json,
    SoftwareAuthenticator,
    b64url,
    from_b64url,
    passkey_sign_in,
    register_passkey,
    registration_options,
    sign_in_options,
)

EVENTS = "/api/auth/security-events"
SESSIONS = "/api/auth/sessions"
PASSKEY_COOKIE = "pet_auth_passkey"
CHANGED_SUBJECT = "Your Pet Manager password was changed"


@pytest.fixture
def passkey_settings(make_settings: Callable[..., Settings], smtp: MailSink) -> Settings:
    return make_settings(**smtp.settings)


@pytest.fixture
async def browser(make_client: MakeClient, passkey_settings: Settings) -> Client:
    return await make_client(passkey_settings)


async def verified_account(client: Client, db: AsyncEngine) -> str:
    """A new account (signed in on `client`) whose address is verified: registering a passkey needs that."""
    email = unique_email("passkey")
    await register(client, email)
    await mark_verified(db, email)
    return email


async def kinds(client: httpx.AsyncClient) -> list[str]:
    response = await client.get(EVENTS)
    assert response.status_code == 200, response.text
    return [event["kind"] for event in response.json()["events"]]


async def listed(client: httpx.AsyncClient) -> list[Json]:
    response = await client.get(PASSKEYS)
    assert response.status_code == 200, response.text
    passkeys: list[Json] = response.json()["passkeys"]
    return passkeys


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert problem_code(response) == code


# --- registering --------------------------------------------------------------------------------------------------


async def test_registration_options_ask_for_a_discoverable_credential_with_user_verification(
    browser: Client, db: AsyncEngine
) -> None:
    email = await verified_account(browser, db)
    options = await registration_options(browser)
    assert options["rp"] == {"id": "localhost", "name": "Pet Manager"}
    assert options["user"]["name"] == options["user"]["displayName"] == email
    assert options["authenticatorSelection"] == {
        "residentKey": "required",
        "requireResidentKey": True,
        "userVerification": "required",
    }
    assert options["attestation"] == "none"
    assert options["excludeCredentials"] == []
    assert {"type": "public-key", "alg": -7} in options["pubKeyCredParams"]
    assert options["timeout"] == 300_000
    assert len(options["challenge"]) == 43  # 32 bytes
    # The user handle: 64 random bytes, made once.
    again = await registration_options(browser)
    assert again["user"]["id"] == options["user"]["id"]
    assert len(options["user"]["id"]) == 86
    assert again["challenge"] != options["challenge"]


async def test_a_passkey_is_registered_listed_and_excluded_from_the_next_registration(
    browser: Client, db: AsyncEngine, smtp: MailSink, make_client: MakeClient, passkey_settings: Settings
) -> None:
    email = await verified_account(browser, db)
    other_device = await make_client(passkey_settings)
    assert (await other_device.post("/api/auth/login", json={"email": email, "password": PASSWORD})).status_code == 200
    authenticator = SoftwareAuthenticator()
    session_before = browser.cookies["pet_auth_session"]

    passkey = await register_passkey(browser, authenticator, name="  My phone  ")

    assert set(passkey) == {"id", "name", "createdAt", "lastUsedAt", "backedUp", "transports"}
    assert (passkey["name"], passkey["lastUsedAt"], passkey["backedUp"]) == ("My phone", None, True)
    assert passkey["transports"] == ["hybrid", "internal"]
    assert await listed(browser) == [passkey]
    # A credential change: this browser has a new session, the other device's ended.
    assert browser.cookies["pet_auth_session"] != session_before
    assert (await other_device.get("/api/auth/me")).status_code == 401
    assert "passkey_added" in await kinds(browser)
    [mail] = await smtp.wait_for(email, ADDED_SUBJECT)
    assert "My phone" in mail.text
    excluded = (await registration_options(browser))["excludeCredentials"]
    assert excluded == [
        {"id": authenticator.passkeys[0].id, "type": "public-key", "transports": ["hybrid", "internal"]}
    ]
    async with db.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT aaguid, backup_eligible, sign_count FROM webauthn_credentials WHERE id = :id"),
                {"id": passkey["id"]},
            )
        ).one()
    assert tuple(row) == ("9f0e1b6a-4d2c-4e8f-b1a3-c5d7e9f10203", True, 0)


async def test_a_passkey_without_a_name_is_called_passkey(browser: Client, db: AsyncEngine) -> None:
    await verified_account(browser, db)
    assert (await register_passkey(browser, SoftwareAuthenticator()))["name"] == "Passkey"
    assert (await register_passkey(browser, SoftwareAuthenticator(), name="   "))["name"] == "Passkey"


async def test_registering_needs_a_verified_address(browser: Client) -> None:
    await register(browser)
    refused(await browser.post("/api/auth/passkeys/register/options"), 403, "email_not_verified")


async def test_registering_needs_a_session(browser: Client) -> None:
    refused(await browser.post("/api/auth/passkeys/register/options"), 401, "not_authenticated")
    refused(await browser.post(REGISTER, json={"credential": {}}), 401, "not_authenticated")


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ({"origin": "https://evil.example"}, "another origin"),
        ({"origin": "http://localhost:5174"}, "another port"),
        ({"rp_id": "evil.example"}, "another RP ID"),
        ({"user_verified": False}, "no user verification"),
        ({"user_present": False}, "no user presence"),
    ],
)
async def test_a_registration_that_does_not_verify_is_refused(
    browser: Client, db: AsyncEngine, answer: dict[str, Any], why: str
) -> None:
    await verified_account(browser, db)
    credential = SoftwareAuthenticator().create(await registration_options(browser), **answer)
    refused(await browser.post(REGISTER, json={"credential": credential}), 400, "passkey_invalid")
    assert await listed(browser) == [], why


async def test_a_registration_challenge_works_once_for_its_session_only(
    browser: Client, db: AsyncEngine, make_client: MakeClient, passkey_settings: Settings
) -> None:
    email = await verified_account(browser, db)
    authenticator = SoftwareAuthenticator()
    credential = authenticator.create(await registration_options(browser))
    # Another session of the same user cannot use this session's challenge.
    other = await make_client(passkey_settings)
    assert (await other.post("/api/auth/login", json={"email": email, "password": PASSWORD})).status_code == 200
    refused(await other.post(REGISTER, json={"credential": credential}), 400, "passkey_challenge_invalid")
    # The refusal used nothing of this session's; then it works once.
    assert (await browser.post(REGISTER, json={"credential": credential})).status_code == 201
    refused(await browser.post(REGISTER, json={"credential": credential}), 400, "passkey_challenge_invalid")


async def test_a_registration_answering_another_challenge_is_refused(browser: Client, db: AsyncEngine) -> None:
    await verified_account(browser, db)
    first = await registration_options(browser)
    await registration_options(browser)  # replaces the first
    credential = SoftwareAuthenticator().create(first)
    refused(await browser.post(REGISTER, json={"credential": credential}), 400, "passkey_challenge_invalid")


async def test_the_same_passkey_cannot_be_registered_twice(browser: Client, db: AsyncEngine) -> None:
    await verified_account(browser, db)
    authenticator = SoftwareAuthenticator()
    credential = authenticator.create(await registration_options(browser))
    assert (await browser.post(REGISTER, json={"credential": credential})).status_code == 201
    options = await registration_options(browser)
    # An authenticator that ignores excludeCredentials sends the same credential again, for the new challenge.
    again = json.loads(json.dumps(credential))
    client_data = json.loads(from_b64url(again["response"]["clientDataJSON"]))
    client_data["challenge"] = options["challenge"]
    again["response"]["clientDataJSON"] = b64url(json.dumps(client_data).encode())
    refused(await browser.post(REGISTER, json={"credential": again}), 409, "passkey_already_registered")


async def test_at_most_ten_passkeys(browser: Client, db: AsyncEngine) -> None:
    await verified_account(browser, db)
    authenticator = SoftwareAuthenticator()
    for n in range(9):
        await register_passkey(browser, authenticator, name=f"key {n}")
    options = await registration_options(browser)  # the 10th
    assert len(options["excludeCredentials"]) == 9
    tenth = authenticator.create(options)
    assert (await browser.post(REGISTER, json={"credential": tenth})).status_code == 201
    refused(await browser.post("/api/auth/passkeys/register/options"), 409, "passkey_limit_reached")
    assert len(await listed(browser)) == 10


async def test_a_registration_past_the_tenth_in_flight_is_refused(browser: Client, db: AsyncEngine) -> None:
    """Options given at nine passkeys, a tenth added meanwhile (by another session): the answer is refused."""
    await verified_account(browser, db)
    authenticator = SoftwareAuthenticator()
    for n in range(9):
        await register_passkey(browser, authenticator, name=f"key {n}")
    credential = authenticator.create(await registration_options(browser), keep=False)
    user_id = (await me(browser))["id"]
    async with db.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO webauthn_credentials (user_id, credential_id, public_key, sign_count, aaguid, "
                "backup_eligible, backed_up, name) SELECT user_id, 'x' || credential_id, public_key, 0, aaguid, "
                "false, false, 'elsewhere' FROM webauthn_credentials WHERE user_id = :u LIMIT 1"
            ),
            {"u": user_id},
        )
    refused(await browser.post(REGISTER, json={"credential": credential}), 409, "passkey_limit_reached")


# --- signing in ---------------------------------------------------------------------------------------------------


async def test_sign_in_with_a_passkey(
    browser: Client, db: AsyncEngine, make_client: MakeClient, passkey_settings: Settings
) -> None:
    email = await verified_account(browser, db)
    authenticator = SoftwareAuthenticator()
    passkey = await register_passkey(browser, authenticator)
    phone = await make_client(passkey_settings)

    options = await sign_in_options(phone)
    assert options["allowCredentials"] == []
    assert (options["rpId"], options["userVerification"], options["timeout"]) == ("localhost", "required", 300_000)
    assert phone.cookies.get(PASSKEY_COOKIE)
    response = await phone.post(SIGN_IN, json={"credential": authenticator.get(options)})

    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == email
    cookies = set_cookies(response)
    assert cookies[PASSKEY_COOKIE]["max-age"] == "0"  # the flow's cookie is expired
    assert cookies["pet_auth_device"].value  # a new device: a device cookie
    assert (await me(phone))["email"] == email
    [used] = await listed(phone)
    assert used["id"] == passkey["id"]
    assert used["lastUsedAt"] is not None
    events = (await phone.get(EVENTS)).json()["events"]
    sign_in = next(event for event in events if event["kind"] == "sign_in")
    assert sign_in["detail"] == {"secondFactor": "passkey"}
    assert "new_device" in [event["kind"] for event in events]


async def test_the_flow_cookie_is_httponly_and_short_lived(browser: Client) -> None:
    response = await browser.post(SIGN_IN_OPTIONS)
    assert response.status_code == 200
    cookie = set_cookies(response)[PASSKEY_COOKIE]
    assert cookie["httponly"] is True
    assert cookie["max-age"] == "300"
    assert cookie["samesite"].lower() == "lax"


async def test_a_passkey_sign_in_needs_no_second_step_with_two_factor_sign_in_on(
    browser: Client, db: AsyncEngine, make_client: MakeClient, passkey_settings: Settings
) -> None:
    email = await verified_account(browser, db)
    await enable_mfa(browser, email, db)
    authenticator = SoftwareAuthenticator()
    await register_passkey(browser, authenticator)
    phone = await make_client(passkey_settings)
    response = await passkey_sign_in(phone, authenticator)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["mfaEnabled"] is True


async def test_a_synced_passkey_without_a_counter_signs_in_again_and_again(
    browser: Client, db: AsyncEngine, make_client: MakeClient, passkey_settings: Settings
) -> None:
    await verified_account(browser, db)
    authenticator = SoftwareAuthenticator(counter=False, backed_up=False)
    passkey = await register_passkey(browser, authenticator)
    assert passkey["backedUp"] is False
    for _ in range(3):
        assert (await passkey_sign_in(await make_client(passkey_settings), authenticator)).status_code == 200


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ({"origin": "https://evil.example"}, "another origin"),
        ({"rp_id": "evil.example"}, "another RP ID"),
        ({"user_verified": False}, "no user verification"),
    ],
)
async def test_a_sign_in_that_does_not_verify_is_refused(
    browser: Client, db: AsyncEngine, make_client: MakeClient, passkey_settings: Settings, answer: Json, why: str
) -> None:
    await verified_account(browser, db)
    authenticator = SoftwareAuthenticator()
    await register_passkey(browser, authenticator)
    phone = await make_client(passkey_settings)
    response = await passkey_sign_in(phone, authenticator, **answer)
    refused(response, 401, "passkey_invalid")
    assert set_cookies(response)[PASSKEY_COOKIE]["max-age"] == "0"
    assert (await phone.get("/api/auth/me")).status_code == 401, why


async def test_a_sign_in_challenge_works_once(
    browser: Client, db: AsyncEngine, make_client: MakeClient, passkey_settings: Settings
) -> None:
    await verified_account(browser, db)
    authenticator = SoftwareAuthenticator(counter=False)
    await register_passkey(browser, authenticator)
    phone = await make_client(passkey_settings)
    options = await sign_in_options(phone)
    flow = phone.cookies[PASSKEY_COOKIE]
    credential = authenticator.get(options)
    assert (await phone.post(SIGN_IN, json={"credential": credential})).status_code == 200
    # Replayed, with the flow's cookie put back.
    attacker = await make_client(passkey_settings)
    attacker.cookies.set(PASSKEY_COOKIE, flow)
    refused(await attacker.post(SIGN_IN, json={"credential": credential}), 400, "passkey_challenge_invalid")


async def test_a_sign_in_challenge_of_another_flow_is_refused(
    browser: Client, db: AsyncEngine, make_client: MakeClient, passkey_settings: Settings
) -> None:
    await verified_account(browser, db)
    authenticator = SoftwareAuthenticator()
    await register_passkey(browser, authenticator)
    victim, attacker = await make_client(passkey_settings), await make_client(passkey_settings)
    victims_options = await sign_in_options(victim)
    await sign_in_options(attacker)
    # The attacker's flow cookie, with an answer to the victim's challenge.
    credential = authenticator.get(victims_options)
    refused(await attacker.post(SIGN_IN, json={"credential": credential}), 400, "passkey_challenge_invalid")
    # Without any flow cookie.
    stranger = await make_client(passkey_settings)
    refused(await stranger.post(SIGN_IN, json={"credential": credential}), 400, "passkey_challenge_invalid")


async def test_an_expired_sign_in_challenge_is_refused(
    make_client: MakeClient, make_settings: Callable[..., Settings], smtp: MailSink, db: AsyncEngine
) -> None:
    settings = make_settings(**smtp.settings, webauthn_challenge_ttl=1)
    browser = await make_client(settings)
    await verified_account(browser, db)
    authenticator = SoftwareAuthenticator()
    await register_passkey(browser, authenticator)
    phone = await make_client(settings)
    options = await sign_in_options(phone)
    await asyncio.sleep(1.5)
    refused(
        await phone.post(SIGN_IN, json={"credential": authenticator.get(options)}), 400, "passkey_challenge_invalid"
    )


async def test_an_unknown_passkey_is_not_recognized(browser: Client, db: AsyncEngine) -> None:
    await verified_account(browser, db)
    stranger = SoftwareAuthenticator()
    stranger.create(await registration_options(browser))  # made, never registered
    response = await passkey_sign_in(browser, stranger)
    refused(response, 401, "passkey_not_recognized")


async def test_a_passkey_naming_another_users_handle_is_refused(
    make_client: MakeClient, passkey_settings: Settings, db: AsyncEngine
) -> None:
    alice, bob = await make_client(passkey_settings), await make_client(passkey_settings)
    await verified_account(alice, db)
    await verified_account(bob, db)
    alices, bobs = SoftwareAuthenticator(), SoftwareAuthenticator()
    await register_passkey(alice, alices)
    await register_passkey(bob, bobs)
    phone = await make_client(passkey_settings)
    # Alice's passkey, claiming Bob's user handle (or none).
    response = await passkey_sign_in(phone, alices, user_handle=bobs.passkeys[0].user_handle)
    refused(response, 401, "passkey_invalid")
    response = await passkey_sign_in(phone, alices, user_handle=b"")
    refused(response, 401, "passkey_invalid")


async def test_a_counter_that_goes_backwards_is_refused_and_logged(
    browser: Client, db: AsyncEngine, make_client: MakeClient, passkey_settings: Settings
) -> None:
    await verified_account(browser, db)
    authenticator = SoftwareAuthenticator()
    await register_passkey(browser, authenticator)
    phone = await make_client(passkey_settings)
    assert (await passkey_sign_in(phone, authenticator, sign_count=5)).status_code == 200
    with captured("pet_auth.audit") as records:
        for count in (5, 4, 0):  # the same, lower, and none after a non-zero one
            refused(await passkey_sign_in(phone, authenticator, sign_count=count), 401, "passkey_invalid")
    regressions = [json.loads(r.getMessage()) for r in records if "passkey_sign_count_regressed" in r.getMessage()]
    assert len(regressions) == 3
    assert set(regressions[0]) == {"event", "ip", "user_id"}  # never the key
    assert (await passkey_sign_in(phone, authenticator, sign_count=6)).status_code == 200


async def test_failed_passkey_sign_ins_count_against_the_networks_sign_in_limit(
    make_client: MakeClient, make_settings: Callable[..., Settings], db: AsyncEngine
) -> None:
    settings = make_settings(rate_limit_login_per_ip=3)
    browser = await make_client(settings)
    await verified_account(browser, db)
    authenticator = SoftwareAuthenticator()
    await register_passkey(browser, authenticator)
    phone = await make_client(settings)
    for _ in range(3):
        refused(await passkey_sign_in(phone, authenticator, user_verified=False), 401, "passkey_invalid")
    response = await passkey_sign_in(phone, authenticator)
    refused(response, 429, "rate_limited")
    assert int(response.headers["retry-after"]) > 0


async def test_sign_in_options_are_rate_limited_per_network(
    make_client: MakeClient, make_settings: Callable[..., Settings]
) -> None:
    client = await make_client(make_settings(rate_limit_passkey_options_per_ip=2))
    assert [(await client.post(SIGN_IN_OPTIONS)).status_code for _ in range(2)] == [200, 200]
    refused(await client.post(SIGN_IN_OPTIONS), 429, "rate_limited")


# --- the list, renaming, removing ---------------------------------------------------------------------------------


async def test_rename_rules(
    browser: Client, db: AsyncEngine, make_client: MakeClient, passkey_settings: Settings
) -> None:
    await verified_account(browser, db)
    passkey = await register_passkey(browser, SoftwareAuthenticator(), name="old")
    url = f"{PASSKEYS}/{passkey['id']}"
    response = await browser.patch(url, json={"name": "  Laptop  "})
    assert response.status_code == 200, response.text
    assert response.json()["passkey"] == {**passkey, "name": "Laptop"}
    assert (await listed(browser))[0]["name"] == "Laptop"
    assert (await browser.patch(url, json={"name": "é" * 120})).status_code == 200
    for bad in ["", "   ", "x" * 121, "tab\there", "new\nline"]:
        refused(await browser.patch(url, json={"name": bad}), 400, "validation_error")
    refused(await browser.patch(url, json={"name": 7}), 400, "validation_error")
    refused(await browser.patch(url, json={}), 400, "validation_error")
    refused(await browser.patch(f"{PASSKEYS}/999999999", json={"name": "x"}), 404, "not_found")
    refused(await browser.patch(f"{PASSKEYS}/{2**70}", json={"name": "x"}), 404, "not_found")
    other = await make_client(passkey_settings)
    await verified_account(other, db)
    refused(await other.patch(url, json={"name": "mine now"}), 404, "not_found")
    assert (await listed(browser))[0]["name"] == "é" * 120


async def test_removing_a_passkey(
    browser: Client,
    db: AsyncEngine,
    smtp: MailSink,
    make_client: MakeClient,
    passkey_settings: Settings,
) -> None:
    email = await verified_account(browser, db)
    authenticator = SoftwareAuthenticator()
    kept = await register_passkey(browser, authenticator, name="kept")
    removed = await register_passkey(browser, authenticator, name="removed")
    other_device = await make_client(passkey_settings)
    assert (await passkey_sign_in(other_device, authenticator)).status_code == 200
    session_before = browser.cookies["pet_auth_session"]

    response = await browser.delete(f"{PASSKEYS}/{removed['id']}")

    assert response.status_code == 204, response.text
    assert browser.cookies["pet_auth_session"] != session_before  # renewed
    assert [p["id"] for p in await listed(browser)] == [kept["id"]]
    assert (await other_device.get("/api/auth/me")).status_code == 401
    assert "passkey_removed" in await kinds(browser)
    [mail] = await smtp.wait_for(email, REMOVED_SUBJECT)
    assert "removed" in mail.text
    # The removed passkey no longer signs in; the other still does.
    phone = await make_client(passkey_settings)
    refused(
        await passkey_sign_in(phone, authenticator, passkey=authenticator.passkeys[1]), 401, "passkey_not_recognized"
    )
    assert (await passkey_sign_in(phone, authenticator, passkey=authenticator.passkeys[0])).status_code == 200
    refused(await browser.delete(f"{PASSKEYS}/{removed['id']}"), 404, "not_found")


async def test_another_users_passkey_cannot_be_removed(
    browser: Client, db: AsyncEngine, make_client: MakeClient, passkey_settings: Settings
) -> None:
    await verified_account(browser, db)
    passkey = await register_passkey(browser, SoftwareAuthenticator())
    other = await make_client(passkey_settings)
    await verified_account(other, db)
    refused(await other.delete(f"{PASSKEYS}/{passkey['id']}"), 404, "not_found")
    refused(await other.delete(f"{PASSKEYS}/{2**70}"), 404, "not_found")
    assert len(await listed(browser)) == 1


async def test_the_last_passkey_of_an_account_with_a_password_can_be_removed(browser: Client, db: AsyncEngine) -> None:
    await verified_account(browser, db)
    passkey = await register_passkey(browser, SoftwareAuthenticator())
    assert (await browser.delete(f"{PASSKEYS}/{passkey['id']}")).status_code == 204
    assert await listed(browser) == []


async def test_account_deletion_takes_its_passkeys(browser: Client, db: AsyncEngine) -> None:
    await verified_account(browser, db)
    passkey = await register_passkey(browser, SoftwareAuthenticator())
    response = await browser.post("/api/auth/delete-account", json={"currentPassword": PASSWORD})
    assert response.status_code == 204, response.text
    async with db.connect() as connection:
        count = await connection.scalar(
            text("SELECT count(*) FROM webauthn_credentials WHERE id = :id"), {"id": passkey["id"]}
        )
    assert count == 0


# --- a reset ------------------------------------------------------------------------------------------------------


async def test_a_reset_keeps_passkeys_but_those_added_shortly_before(
    browser: Client, db: AsyncEngine, smtp: MailSink, make_client: MakeClient, passkey_settings: Settings
) -> None:
    email = await verified_account(browser, db)
    authenticator = SoftwareAuthenticator()
    old = await register_passkey(browser, authenticator, name="Old laptop")
    await register_passkey(browser, authenticator, name="Brand new")
    async with db.begin() as connection:
        await connection.execute(
            text("UPDATE webauthn_credentials SET created_at = now() - interval '2 days' WHERE id = :id"),
            {"id": old["id"]},
        )
    token = await request_token(browser, smtp, email)
    assert (await reset(await make_client(passkey_settings), token)).status_code == 204

    [mail] = await smtp.wait_for(email, CHANGED_SUBJECT)
    assert "\u201cOld laptop\u201d" in mail.text
    assert "removed" in mail.text
    assert "\u201cBrand new\u201d" in mail.text.split("removed", 1)[1]
    phone = await make_client(passkey_settings)
    assert (await passkey_sign_in(phone, authenticator, passkey=authenticator.passkeys[0])).status_code == 200
    assert [p["name"] for p in await listed(phone)] == ["Old laptop"]
    forget_device(phone)
    stranger = await make_client(passkey_settings)
    refused(
        await passkey_sign_in(stranger, authenticator, passkey=authenticator.passkeys[1]), 401, "passkey_not_recognized"
    )
    events = (await phone.get(EVENTS)).json()["events"]
    reset_event = next(event for event in events if event["kind"] == "password_reset")
    assert reset_event["detail"]["passkeysRemoved"] == 1


# --- re-authentication --------------------------------------------------------------------------------------------


async def test_reauthentication_with_a_passkey(
    browser: Client, db: AsyncEngine, make_client: MakeClient, passkey_settings: Settings
) -> None:
    await verified_account(browser, db)
    refused(await browser.post(REAUTHENTICATE_OPTIONS), 404, "not_found")  # no passkey yet
    authenticator = SoftwareAuthenticator()
    await register_passkey(browser, authenticator)
    response = await browser.post(REAUTHENTICATE_OPTIONS)
    assert response.status_code == 200, response.text
    options = response.json()
    assert options["allowCredentials"] == [
        {"id": authenticator.passkeys[0].id, "type": "public-key", "transports": ["hybrid", "internal"]}
    ]
    assert options["userVerification"] == "required"
    credential = authenticator.get(options)
    assert (await browser.post(REAUTHENTICATE, json={"credential": credential})).status_code == 204
    refused(await browser.post(REAUTHENTICATE, json={"credential": credential}), 400, "passkey_challenge_invalid")
    # Another user's passkey does not re-authenticate this one.
    other = await make_client(passkey_settings)
    await verified_account(other, db)
    others = SoftwareAuthenticator()
    await register_passkey(other, others)
    options = (await browser.post(REAUTHENTICATE_OPTIONS)).json()
    response = await browser.post(REAUTHENTICATE, json={"credential": others.get(options, passkey=others.passkeys[0])})
    refused(response, 401, "passkey_not_recognized")
    options = (await browser.post(REAUTHENTICATE_OPTIONS)).json()
    response = await browser.post(REAUTHENTICATE, json={"credential": authenticator.get(options, user_verified=False)})
    refused(response, 401, "passkey_invalid")


# --- hostile input ------------------------------------------------------------------------------------------------


def _sign_in_variants(credential: Json) -> list[tuple[Any, str]]:
    """Broken answers, each with the code expected (every one a 4xx problem, never a 500)."""
    response = credential["response"]

    def with_response(**changes: Any) -> Json:
        return {**credential, "response": {**response, **changes}}

    return [
        ({**credential, "rawId": "not base64!"}, "validation_error"),
        ({**credential, "rawId": 12}, "validation_error"),
        ({**credential, "type": "password"}, "validation_error"),
        ({**credential, "response": "x"}, "validation_error"),
        ({**credential, "id": "A" * 5000}, "validation_error"),
        (with_response(signature=None), "validation_error"),
        (with_response(userHandle=[1, 2]), "validation_error"),
        (with_response(clientDataJSON="A" * 13_000), "validation_error"),
        (with_response(clientDataJSON=b64url(b"not json")), "passkey_invalid"),
        (with_response(clientDataJSON=b64url(b"[]")), "passkey_invalid"),
        (with_response(clientDataJSON=b64url(b'{"challenge": 7}')), "passkey_invalid"),
        (with_response(authenticatorData=b64url(b"short")), "passkey_invalid"),
        (with_response(authenticatorData="AAAA"), "passkey_invalid"),
        (with_response(signature=b64url(b"\x30\x02\x01\x01")), "passkey_invalid"),
        (with_response(signature=""), "passkey_invalid"),
        ({**credential, "id": "AAAA"}, "passkey_invalid"),  # id and rawId differ
        ({**credential, "rawId": "AAAA", "id": "AAAA"}, "passkey_not_recognized"),
    ]


async def test_hostile_sign_in_answers_are_refused_with_a_problem(
    browser: Client, db: AsyncEngine, make_client: MakeClient, passkey_settings: Settings
) -> None:
    await verified_account(browser, db)
    authenticator = SoftwareAuthenticator(counter=False)
    await register_passkey(browser, authenticator)
    phone = await make_client(passkey_settings)
    for n in range(len(_sign_in_variants(authenticator.get(await sign_in_options(phone))))):
        broken, code = _sign_in_variants(authenticator.get(await sign_in_options(phone)))[n]
        response = await phone.post(SIGN_IN, json={"credential": broken})
        assert 400 <= response.status_code < 500, f"{broken}: {response.status_code} {response.text}"
        assert problem_code(response) == code, broken
    credential = authenticator.get(await sign_in_options(phone))
    for body in [{}, {"credential": None}, {"credential": []}, [], "x"]:
        response = await phone.post(SIGN_IN, json=body)
        refused(response, 400, "validation_error")
    refused(
        await phone.post(SIGN_IN, content=b"{", headers={"content-type": "application/json"}), 400, "malformed_json"
    )
    huge = {"credential": {**credential, "clientExtensionResults": {"x": "y" * 20_000}}}
    assert (await phone.post(SIGN_IN, json=huge)).status_code == 413


def _attestation(value: Any) -> Callable[[Json], Json]:
    def change(credential: Json) -> Json:
        return {**credential, "response": {**credential["response"], "attestationObject": value}}

    return change


async def test_hostile_registration_answers_are_refused_with_a_problem(browser: Client, db: AsyncEngine) -> None:
    await verified_account(browser, db)
    authenticator = SoftwareAuthenticator()
    short_auth_data = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": b"\x00" * 37})
    packed = cbor2.dumps({"fmt": "packed", "attStmt": {"alg": -7, "sig": b"x"}, "authData": b"\x00" * 37})
    variants: list[tuple[Callable[[Json], Json], str]] = [
        (_attestation("%%%"), "validation_error"),
        (_attestation(7), "validation_error"),
        (_attestation(b64url(b"\xff\x00")), "passkey_invalid"),
        (_attestation(b64url(cbor2.dumps({"fmt": "none"}))), "passkey_invalid"),
        (_attestation(b64url(cbor2.dumps([1, 2, 3]))), "passkey_invalid"),
        (_attestation(b64url(short_auth_data)), "passkey_invalid"),
        (_attestation(b64url(packed)), "passkey_invalid"),
        (lambda c: {**c, "response": {**c["response"], "transports": ["usb"] * 100}}, "validation_error"),
        (lambda c: {**c, "authenticatorAttachment": "elsewhere"}, "validation_error"),
        (lambda c: {**c, "response": {**c["response"], "clientDataJSON": b64url(b"{}")}}, "passkey_invalid"),
        (lambda c: {**c, "id": "AAAA"}, "passkey_invalid"),
    ]
    for change, code in variants:
        broken = change(authenticator.create(await registration_options(browser), keep=False))
        answer = await browser.post(REGISTER, json={"credential": broken, "name": "x"})
        assert 400 <= answer.status_code < 500, f"{broken}: {answer.status_code} {answer.text}"
        assert problem_code(answer) == code, broken
    credential = authenticator.create(await registration_options(browser), keep=False)
    refused(await browser.post(REGISTER, json={"credential": credential, "name": "x" * 121}), 400, "validation_error")
    refused(await browser.post(REGISTER, json={"credential": credential, "name": "a\u0000b"}), 400, "validation_error")
    assert await listed(browser) == []
