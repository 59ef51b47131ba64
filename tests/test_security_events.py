"""The account's activity log (`GET /api/auth/security-events`) and the notices that go with it, over HTTP against
real PostgreSQL, Redis and the in-process SMTP server: each action writes its event (a refused one writes none), the
pages, retention, privacy (another user's events, no secret in any row), and the mails."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pet_auth.config import Settings
from tests.support.accounts import CONFIRM_SUBJECT, change_email, login, me, signed_up
from tests.support.authenticator import code_at, current_step, enable_mfa
from tests.support.clients import PASSWORD, SPA_ORIGIN, Client, MakeClient, register, unique_email
from tests.support.live_server import LiveServer, live_server, settings_environ
from tests.support.recovery import NEW_PASSWORD, request_token, reset
from tests.support.smtp import Mail, MailSink

EVENTS = "/api/auth/security-events"
LOGIN = "/api/auth/login"
LOGIN_MFA = "/api/auth/login/mfa"
ACTIVITY_LINK = f"{SPA_ORIGIN}/security"
MFA_FAILURES_SUBJECT = "Someone has your Pet Manager password"
EMAIL_CHANGED_SUBJECT = "The email address of your Pet Manager account was changed"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
# A client that is no browser we know, whose header text must never reach a mail.
ODD_AGENT = "EvilBot/6.6 (+https://phish.example/login)"
ODD_TEXT = ("EvilBot", "phish.example")
WRONG_PASSWORD = "not the password at all"


async def events(client: Client | httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(EVENTS, params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return response.json()["events"]  # type: ignore[no-any-return]


async def kinds(client: Client | httpx.AsyncClient) -> list[str]:
    return [event["kind"] for event in await events(client)]


async def stored_rows(db: AsyncEngine, user_id: int) -> str:
    """What the user's stored events took from the requests (all but the ids and times), as JSON text."""
    statement = text(
        "SELECT json_build_object('kind', kind, 'network', network, 'device', device, 'detail', detail)::text "
        "FROM security_events WHERE user_id = :u ORDER BY id"
    )
    async with db.connect() as connection:
        return "\n".join((await connection.execute(statement, {"u": user_id})).scalars())


async def assert_no_secret(db: AsyncEngine, user_id: int, *secrets: str) -> None:
    rows = await stored_rows(db, user_id)
    assert rows, "no events stored"
    for secret in secrets:
        assert secret not in rows, f"{secret!r} is stored in an event"


def assert_safe_notice(mail: Mail) -> None:
    """A notice links to the activity page (and nowhere else) and holds no text of a User-Agent."""
    assert mail.links == [ACTIVITY_LINK], mail.text
    assert f'href="{ACTIVITY_LINK}"' in mail.html
    for part in (mail.text, mail.html):
        for odd in ODD_TEXT:
            assert odd not in part


# --- each action writes its event -----------------------------------------------------------------------------------


async def test_sign_ins_write_their_events_and_a_new_device_its_own(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink, db: AsyncEngine
) -> None:
    laptop, email, _ = await signed_up(make_client, mail_settings, smtp)
    user_id = (await me(laptop))["id"]
    assert await events(laptop) == []  # a sign-up is no sign-in of the log
    phone = await make_client(mail_settings)
    wrong = await phone.post(LOGIN, json={"email": email, "password": WRONG_PASSWORD}, headers={"user-agent": FIREFOX})
    assert wrong.status_code == 401
    assert await events(laptop) == []  # a wrong password is no event (anyone could write them)

    signed_in = await phone.post(LOGIN, json={"email": email, "password": PASSWORD}, headers={"user-agent": FIREFOX})
    assert signed_in.status_code == 200
    new_device, sign_in = await events(laptop)
    assert (new_device["kind"], sign_in["kind"]) == ("new_device", "sign_in")
    assert new_device["id"] > sign_in["id"]
    for event in (new_device, sign_in):
        assert event["device"] == "Firefox 133 on Windows"
        assert event["network"] is None  # the test client has no address ("testclient")
        assert event["detail"] == {}
        assert datetime.fromisoformat(event["occurredAt"]).tzinfo is not None
    assert set(sign_in) == {"id", "kind", "occurredAt", "network", "device", "detail"}

    # A known device (its cookie) signs in without a new-device event.
    assert (await phone.post("/api/auth/logout")).status_code == 204
    assert (await login(phone, email)).status_code == 200
    assert await kinds(phone) == ["sign_in", "new_device", "sign_in"]
    await assert_no_secret(db, user_id, PASSWORD, WRONG_PASSWORD, email, *phone.cookies.values())


async def test_a_password_change_writes_its_event_and_a_refused_one_none(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink, db: AsyncEngine
) -> None:
    client, _, _ = await signed_up(make_client, mail_settings, smtp)
    user_id = (await me(client))["id"]
    refused = await client.post(
        "/api/auth/change-password", json={"currentPassword": WRONG_PASSWORD, "newPassword": NEW_PASSWORD}
    )
    assert refused.status_code == 401
    assert await kinds(client) == []

    body = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    assert (await client.post("/api/auth/change-password", json=body)).status_code == 204
    [changed] = await events(client)
    assert changed["kind"] == "password_changed"
    assert changed["detail"] == {}
    await assert_no_secret(db, user_id, PASSWORD, NEW_PASSWORD, WRONG_PASSWORD)


async def test_a_reset_writes_its_event_and_a_refused_token_none(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink, db: AsyncEngine
) -> None:
    client, email, _ = await signed_up(make_client, mail_settings, smtp)
    user_id = (await me(client))["id"]
    assert (await reset(client, "A" * 43)).status_code == 400
    assert await kinds(client) == []

    token = await request_token(client, smtp, email)
    assert (await reset(client, token)).status_code == 204
    assert (await reset(client, token)).status_code == 400  # used: no second event
    assert (await login(client, email, NEW_PASSWORD)).status_code == 200
    # The reset ended the device cookie with the credentials: this sign-in is from a new device.
    assert await kinds(client) == ["new_device", "sign_in", "password_reset"]
    assert (await events(client))[2]["detail"] == {"mfaRemoved": False}
    await assert_no_secret(db, user_id, token, NEW_PASSWORD, PASSWORD)


async def test_an_address_verified_and_changed_writes_its_events_and_mails_the_old_address(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink, db: AsyncEngine
) -> None:
    client, old, verify_token = await signed_up(make_client, mail_settings, smtp)
    user_id = (await me(client))["id"]
    assert (await client.post("/api/auth/verify-email", json={"token": verify_token})).status_code == 200
    assert await kinds(client) == ["email_verified"]

    new = unique_email("moved")
    assert (await change_email(client, new, password=WRONG_PASSWORD)).status_code == 401
    assert await kinds(client) == ["email_verified"]
    assert (await change_email(client, new)).status_code == 202
    assert await kinds(client) == ["email_change_requested", "email_verified"]

    [confirm] = await smtp.wait_for(new, CONFIRM_SUBJECT)
    anonymous = await make_client(mail_settings)
    confirmed = await anonymous.post(
        "/api/auth/confirm-email", json={"token": confirm.token}, headers={"user-agent": ODD_AGENT}
    )
    assert confirmed.status_code == 200, confirmed.text
    again = await anonymous.post("/api/auth/confirm-email", json={"token": confirm.token})
    assert again.status_code == 400

    [notice] = await smtp.wait_for(old, EMAIL_CHANGED_SUBJECT)
    assert_safe_notice(notice)
    assert "an unrecognized browser or app" in notice.text
    assert " UTC" in notice.text
    assert smtp.mails(new, EMAIL_CHANGED_SUBJECT) == []  # the old address is told, not the new one

    assert (await login(client, new)).status_code == 200
    assert await kinds(client) == [
        "new_device",
        "sign_in",
        "email_changed",
        "email_change_requested",
        "email_verified",
    ]
    changed = (await events(client))[2]
    assert changed["device"] == "EvilBot/6.6"  # the sessions list's description, for the user's own eyes
    await assert_no_secret(db, user_id, verify_token, confirm.token, old, new, PASSWORD)


async def test_the_old_address_is_told_a_few_times_an_hour_at_most(
    make_client: MakeClient, make_settings: Callable[..., Settings], smtp: MailSink
) -> None:
    """Changes back and forth: each completed one tells the address left, up to three times an hour each."""
    settings = make_settings(**smtp.settings, rate_limit_email_links_per_account=100)
    client = await make_client(settings)
    first, second = unique_email("first"), unique_email("second")
    await register(client, first)
    addresses = [first, second]
    for round_ in range(8):
        current, target = addresses[round_ % 2], addresses[(round_ + 1) % 2]
        if round_:
            assert (await login(client, current)).status_code == 200  # the last change ended the session
        assert (await change_email(client, target)).status_code == 202
        confirm = (await smtp.wait_for(target, CONFIRM_SUBJECT, count=round_ // 2 + 1))[-1]
        assert (await client.post("/api/auth/confirm-email", json={"token": confirm.token})).status_code == 200
    await smtp.wait_for(first, EMAIL_CHANGED_SUBJECT, count=3)
    await smtp.wait_for(second, EMAIL_CHANGED_SUBJECT, count=3)
    await asyncio.sleep(0.3)
    assert len(smtp.mails(first, EMAIL_CHANGED_SUBJECT)) == 3  # it was left four times
    assert len(smtp.mails(second, EMAIL_CHANGED_SUBJECT)) == 3


async def test_second_factor_changes_and_uses_write_their_events(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink, db: AsyncEngine
) -> None:
    browser = await make_client(mail_settings)
    email = unique_email("mfa")
    user_id = (await register(browser, email))["id"]
    mfa = await enable_mfa(browser, email, db)
    assert await kinds(browser) == ["mfa_enabled"]

    # Wrong codes change nothing and write no event of a change.
    step = await current_step()
    for path in ("/api/auth/mfa/recovery-codes", "/api/auth/mfa/disable"):
        refused = await browser.post(path, json={"currentPassword": PASSWORD, "code": "000000"})
        assert refused.status_code == 400
    assert await kinds(browser) == ["mfa_enabled"]
    replaced = await browser.post(
        "/api/auth/mfa/recovery-codes", json={"currentPassword": PASSWORD, "code": code_at(mfa.secret, step)}
    )
    assert replaced.status_code == 200
    codes = replaced.json()["recoveryCodes"]
    assert await kinds(browser) == ["recovery_codes_regenerated", "mfa_enabled"]

    # A sign-in: a wrong code, then a recovery code.
    assert (await browser.post("/api/auth/logout")).status_code == 204
    assert (await browser.post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 202
    assert (await browser.post(LOGIN_MFA, json={"code": "000000"})).status_code == 401
    assert (await browser.post(LOGIN_MFA, json={"recoveryCode": codes[0]})).status_code == 200
    sign_in, used, failed = (await events(browser))[:3]
    assert (sign_in["kind"], sign_in["detail"]) == ("sign_in", {"secondFactor": "recovery_code"})
    assert (used["kind"], used["detail"]) == ("recovery_code_used", {"codesLeft": 9})
    assert (failed["kind"], failed["detail"]) == ("sign_in_failed", {"secondFactor": "totp"})

    # Off with a recovery code: that code's use is an event too.
    disabled = await browser.post("/api/auth/mfa/disable", json={"currentPassword": PASSWORD, "code": codes[1]})
    assert disabled.status_code == 204
    assert (await kinds(browser))[:3] == ["mfa_disabled", "recovery_code_used", "sign_in"]
    await assert_no_secret(
        db,
        user_id,
        mfa.secret,
        code_at(mfa.secret, step),
        code_at(mfa.secret, mfa.confirmed_step),
        *codes[:2],
        *(code.replace("-", "") for code in codes[:2]),
        *mfa.recovery_codes,
        PASSWORD,
    )


async def test_ending_sessions_writes_events_and_ending_an_unknown_one_none(
    make_client: MakeClient, mail_settings: Settings, smtp: MailSink
) -> None:
    laptop, email, _ = await signed_up(make_client, mail_settings, smtp)
    phone, tablet, watch = [await make_client(mail_settings) for _ in range(3)]
    for device in (phone, tablet, watch):
        assert (await login(device, email)).status_code == 200
    assert (await laptop.delete("/api/auth/sessions/no-such-session")).status_code == 404
    assert "session_ended" not in await kinds(laptop)

    sessions = (await phone.get("/api/auth/sessions")).json()["sessions"]
    [phone_session] = [session["id"] for session in sessions if session["current"]]
    assert (await laptop.delete(f"/api/auth/sessions/{phone_session}")).status_code == 204
    assert (await kinds(laptop))[0] == "session_ended"
    assert (await laptop.post("/api/auth/sessions/revoke-others")).status_code == 204
    revoked, ended = (await events(laptop))[:2]
    assert (revoked["kind"], revoked["detail"]) == ("other_sessions_revoked", {"sessionsEnded": 2})
    assert ended["kind"] == "session_ended"
    # The phone's own session ended: it reads nothing.
    assert (await phone.get(EVENTS)).status_code == 401


async def test_the_failure_that_reaches_the_account_limit_locks_it_once(
    make_client: MakeClient, make_settings: Callable[..., Settings], db: AsyncEngine
) -> None:
    settings = make_settings(rate_limit_login_per_account=3)
    owner = await make_client(settings)
    email = unique_email("locked")
    user_id = (await register(owner, email))["id"]
    stranger = await make_client(settings)
    statuses = [
        (await stranger.post(LOGIN, json={"email": email, "password": WRONG_PASSWORD})).status_code for _ in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]
    [locked] = await events(owner)
    assert (locked["kind"], locked["detail"]) == ("account_locked", {"factor": "password"})
    # The owner's browser (its device cookie) still signs in.
    assert (await owner.post("/api/auth/logout")).status_code == 204
    assert (await login(owner, email)).status_code == 200
    assert await kinds(owner) == ["sign_in", "account_locked"]
    await assert_no_secret(db, user_id, WRONG_PASSWORD, email)


# --- reading the log ------------------------------------------------------------------------------------------------


async def add_events(db: AsyncEngine, user_id: int, count: int, kind: str = "sign_in") -> None:
    statement = text("INSERT INTO security_events (user_id, kind, device) VALUES (:u, :k, 'curl/8.5.0')")
    async with db.begin() as connection:
        await connection.execute(statement, [{"u": user_id, "k": kind}] * count)


async def test_pages_run_newest_first_until_next_before_is_null(make_client: MakeClient, db: AsyncEngine) -> None:
    ada, bob = await make_client(), await make_client()
    ada_id, bob_id = (await register(ada))["id"], (await register(bob))["id"]
    for _ in range(9):  # interleaved with another user's
        await add_events(db, ada_id, 5)
        await add_events(db, bob_id, 2, kind="session_ended")

    first = (await ada.get(EVENTS)).json()
    assert len(first["events"]) == 20  # the default page
    seen, before, sizes = [], None, []
    while True:
        params = {"limit": 20} if before is None else {"limit": 20, "before": before}
        page = (await ada.get(EVENTS, params=params)).json()
        sizes.append(len(page["events"]))
        seen += [event["id"] for event in page["events"]]
        before = page["nextBefore"]
        if before is None:
            break
        assert before == page["events"][-1]["id"]
    assert sizes == [20, 20, 5]
    assert seen == sorted(seen, reverse=True)
    assert len(set(seen)) == 45
    assert seen[:20] == [event["id"] for event in first["events"]]
    small = (await ada.get(EVENTS, params={"limit": 1, "before": seen[10]})).json()
    assert [event["id"] for event in small["events"]] == [seen[11]]
    assert small["nextBefore"] == seen[11]
    exact = (await ada.get(EVENTS, params={"limit": 5, "before": seen[39]})).json()
    assert len(exact["events"]) == 5
    assert exact["nextBefore"] is None  # the last five: no page follows

    # Another user's events are never visible, whatever the cursor.
    bob_ids = {event["id"] for event in await events(bob)}
    assert len(bob_ids) == 18
    assert not bob_ids & set(seen)
    for cursor in (max(bob_ids), min(bob_ids)):
        assert all(event["kind"] == "sign_in" for event in await events(ada, before=cursor))
        assert all(event["kind"] == "session_ended" for event in await events(bob, before=cursor))


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "limit=1.5",
        "limit=",
        "before=0",
        "before=-5",
        "before=abc",
        "before=",
        "before=99999999999999999999999",
        "before=9223372036854775808",
        "limit=%00",
    ],
)
async def test_bad_query_values_are_400_problems(client: Client, query: str) -> None:
    await register(client)
    response = await client.get(f"{EVENTS}?{query}")
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "validation_error"
    assert [error["field"] for error in response.json()["errors"]] == [query.partition("=")[0]]


async def test_the_log_needs_a_session(client: Client) -> None:
    response = await client.get(EVENTS)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


async def test_purge_removes_events_past_the_retention(
    make_client: MakeClient, make_settings: Callable[..., Settings], db: AsyncEngine
) -> None:
    client = await make_client()
    user_id = (await register(client))["id"]
    await add_events(db, user_id, 3)
    async with db.begin() as connection:
        ids = list(
            (await connection.execute(text("SELECT id FROM security_events WHERE user_id = :u"), {"u": user_id}))
            .scalars()
            .all()
        )
        ages = {ids[0]: 91, ids[1]: 40, ids[2]: 0}
        for event_id, days in ages.items():
            await connection.execute(
                text("UPDATE security_events SET occurred_at = now() - make_interval(days => :d) WHERE id = :i"),
                {"d": days, "i": event_id},
            )

    async def purge(command: str, **overrides: Any) -> str:
        # This checkout's code (PYTHONPATH), with the settings alone.
        environ = {**settings_environ(make_settings(**overrides)), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pet_auth",
            command,
            env=environ,
            cwd="/",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()
        return stdout.decode()

    output = await purge("purge")
    links, purged = output.splitlines()
    assert re.fullmatch(r"purged \d+ used or expired reset and email links", links), output
    assert re.fullmatch(r"purged [1-9]\d* security events older than 90 days", purged), output
    assert {event["id"] for event in await events(client)} == {ids[1], ids[2]}
    # The former name does the same; here with a shorter retention.
    output = await purge("purge-tokens", security_events_retention_days=30)
    assert "older than 30 days" in output
    assert {event["id"] for event in await events(client)} == {ids[2]}


# --- notices and networks, against a live server --------------------------------------------------------------------


@pytest.fixture
def proxied_server(make_settings: Callable[..., Settings], smtp: MailSink) -> Iterator[LiveServer]:
    """A real server behind a "proxy" (this test, trusted at 127.0.0.1) that names the client in X-Forwarded-For."""
    generous = {f"rate_limit_{name}": 100_000 for name in ("login_per_ip", "register_per_ip", "login_per_account")}
    with live_server(make_settings(**smtp.settings, **generous, forwarded_allow_ips="127.0.0.1")) as running:
        yield running


def browser_at(server: LiveServer, address: str, user_agent: str) -> httpx.AsyncClient:
    headers = {"x-forwarded-for": address, "user-agent": user_agent}
    return httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30)


async def test_concurrent_wrong_second_factors_mail_the_owner_once(
    proxied_server: LiveServer, smtp: MailSink, db: AsyncEngine
) -> None:
    """Someone with the password fires wrong codes from several browsers at once: the owner gets one mail, at the
    third failure, however many follow in the window; the log shows each failure, by network, never by address."""
    email = unique_email("targeted")
    async with browser_at(proxied_server, "203.0.113.77", FIREFOX) as owner:
        registered = await owner.post("/api/auth/register", json={"email": email, "password": PASSWORD})
        assert registered.status_code == 201, registered.text
        user_id = registered.json()["user"]["id"]
        mfa = await enable_mfa(owner, email, db)
        [enabled] = await events(owner)
        assert (enabled["network"], enabled["device"]) == ("203.0.113.0/24", "Firefox 133 on Windows")

        attackers = [browser_at(proxied_server, "2001:db8:1:2:3:4:5:6", ODD_AGENT) for _ in range(4)]
        try:
            for attacker in attackers:
                assert (await attacker.post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 202
            wrong = [attacker.post(LOGIN_MFA, json={"code": "000000"}) for attacker in attackers for _ in range(2)]
            assert {response.status_code for response in await asyncio.gather(*wrong)} == {401}
            [notice] = await smtp.wait_for(email, MFA_FAILURES_SUBJECT)
            # More failures in the same window: no second mail.
            more = [attacker.post(LOGIN_MFA, json={"code": "111111"}) for attacker in attackers]
            assert {response.status_code for response in await asyncio.gather(*more)} == {401}
        finally:
            for attacker in attackers:
                await attacker.aclose()
        await asyncio.sleep(0.5)
        assert len(smtp.mails(email, MFA_FAILURES_SUBJECT)) == 1

        assert_safe_notice(notice)
        assert "2001:db8:1:2::/64" in notice.text
        assert "an unrecognized browser or app" in notice.text
        assert "3 times" in notice.text
        failures = [event for event in await events(owner) if event["kind"] == "sign_in_failed"]
        assert len(failures) == 12
        assert {(event["network"], event["device"]) for event in failures} == {("2001:db8:1:2::/64", "EvilBot/6.6")}
        await assert_no_secret(db, user_id, "203.0.113.77", "2001:db8:1:2:3:4:5:6", mfa.secret, PASSWORD)


async def test_three_wrong_second_factors_mail_once_with_a_known_browser_named(
    make_client: MakeClient, make_settings: Callable[..., Settings], smtp: MailSink, db: AsyncEngine
) -> None:
    settings = make_settings(**smtp.settings, rate_limit_login_per_account=3)
    owner = await make_client(settings)
    email = unique_email("guessed")
    await register(owner, email)
    await enable_mfa(owner, email, db)
    stranger = await make_client(settings)
    headers = {"user-agent": FIREFOX}
    assert (await stranger.post(LOGIN, json={"email": email, "password": PASSWORD}, headers=headers)).status_code == 202
    statuses = [
        (await stranger.post(LOGIN_MFA, json={"code": "000000"}, headers=headers)).status_code for _ in range(2)
    ]
    await asyncio.sleep(0.3)
    assert smtp.mails(email, MFA_FAILURES_SUBJECT) == []  # two are not yet a pattern
    statuses += [
        (await stranger.post(LOGIN_MFA, json={"code": "000000"}, headers=headers)).status_code for _ in range(2)
    ]
    assert statuses == [401, 401, 401, 429]  # the third also reached the account's limit for codes
    [notice] = await smtp.wait_for(email, MFA_FAILURES_SUBJECT)
    assert_safe_notice(notice)
    assert "Firefox 133 on Windows" in notice.text
    # The lock follows the failure that reached it.
    assert await kinds(owner) == ["account_locked", "sign_in_failed", "sign_in_failed", "sign_in_failed", "mfa_enabled"]
    locked = (await events(owner))[0]
    assert locked["detail"] == {"factor": "code"}
