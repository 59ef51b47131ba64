"""A passkey sign-in racing a reset, or the removal of its passkey, leaves no session from the credentials it read.

Against a live server (real sockets, real concurrency), real PostgreSQL and Redis, and the in-process SMTP server, in
the style of test_reset_wins.py: each race runs twenty rounds, the second request 0 to 40 ms after the first, who goes
first alternating. Every browser is an httpx client of its own.

A sign-in that read the passkey after a reset committed signs in for the new credentials, and may keep its session
(a reset keeps passkeys added before its window); one that read it before must not. Which it was is told by its
device cookie, which names the credential version the sign-in verified.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pet_auth.config import Settings
from tests.support.authenticator import mark_verified
from tests.support.clients import PASSWORD, problem_code, set_cookies, unique_email
from tests.support.live_server import LiveServer, live_server
from tests.support.races import race
from tests.support.smtp import MailSink, running_sink
from tests.support.webauthn import PASSKEYS, SIGN_IN, SoftwareAuthenticator, register_passkey, sign_in_options

ROUNDS = 20
SESSION_COOKIE = "pet_auth_session"
DEVICE_COOKIE = "pet_auth_device"
RESET_SUBJECT = "Reset your Pet Manager password"
NEW_PASSWORD = "the mailbox owner's new passphrase"
GENEROUS = {
    f"rate_limit_{name}": 100_000
    for name in ("login_per_ip", "login_per_account", "register_per_ip", "forgot_per_ip", "passkey_options_per_ip")
}


@pytest.fixture(scope="module")
def smtp() -> Iterator[MailSink]:
    with running_sink() as sink:
        yield sink


@pytest.fixture
def server(make_settings: Callable[..., Settings], smtp: MailSink) -> Iterator[LiveServer]:
    with live_server(make_settings(**smtp.settings, **GENEROUS)) as running:
        yield running


@pytest.fixture
async def browsers(server: LiveServer) -> AsyncIterator[Callable[..., Coroutine[Any, Any, httpx.AsyncClient]]]:
    async with AsyncExitStack() as stack:

        async def new(**cookies: str) -> httpx.AsyncClient:
            client = httpx.AsyncClient(base_url=server.url, timeout=30, cookies=cookies)
            return await stack.enter_async_context(client)

        yield new


Browsers = Callable[..., Coroutine[Any, Any, httpx.AsyncClient]]


async def with_passkey(
    browsers: Browsers, db: AsyncEngine
) -> tuple[str, int, httpx.AsyncClient, SoftwareAuthenticator]:
    """A new account (address verified) signed in on a browser, with a passkey added two days ago (so that a reset
    keeps it)."""
    browser = await browsers()
    email = unique_email("race")
    response = await browser.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    user_id = int(response.json()["user"]["id"])
    await mark_verified(db, email)
    authenticator = SoftwareAuthenticator(counter=False)
    await register_passkey(browser, authenticator)
    async with db.begin() as connection:
        await connection.execute(
            text("UPDATE webauthn_credentials SET created_at = now() - interval '2 days' WHERE user_id = :u"),
            {"u": user_id},
        )
    return email, user_id, browser, authenticator


async def is_signed_in(browsers: Browsers, session: str) -> bool:
    browser = await browsers(**{SESSION_COOKIE: session})
    status = (await browser.get("/api/auth/me")).status_code
    assert status in (200, 401)
    return status == 200


async def credential_version(db: AsyncEngine, user_id: int) -> int:
    async with db.connect() as connection:
        version = await connection.scalar(text("SELECT credential_version FROM users WHERE id = :u"), {"u": user_id})
    return int(version)


def assert_refused_sign_in(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert problem_code(response) in ("invalid_credentials", "passkey_not_recognized")


def cookie_set(response: httpx.Response, name: str) -> str | None:
    morsel = set_cookies(response).get(name)
    if morsel is None or not morsel.value or morsel["max-age"] == "0":
        return None
    return str(morsel.value)


async def test_a_passkey_sign_in_racing_a_reset_keeps_no_session_of_the_old_credentials(
    browsers: Browsers, db: AsyncEngine, smtp: MailSink
) -> None:
    outcomes = []
    for round_ in range(ROUNDS):
        email, user_id, owner, authenticator = await with_passkey(browsers, db)
        assert (await owner.post("/api/auth/forgot-password", json={"email": email})).status_code == 202
        [mail] = await smtp.wait_for(email, RESET_SUBJECT)
        read_before = await credential_version(db, user_id)
        phone = await browsers()
        credential = authenticator.get(await sign_in_options(phone))

        sign_in = phone.post(SIGN_IN, json={"credential": credential})
        reset = (await browsers()).post(
            "/api/auth/reset-password", json={"token": mail.token, "password": NEW_PASSWORD}
        )
        signed, recovered = await race(round_, ROUNDS, sign_in, reset)

        assert recovered.status_code == 204, f"round {round_}: the reset lost: {recovered.text}"
        after = await credential_version(db, user_id)
        assert after == read_before + 1
        if signed.status_code != 200:
            assert_refused_sign_in(signed)
            outcomes.append("refused")
            continue
        session, device = cookie_set(signed, SESSION_COOKIE), cookie_set(signed, DEVICE_COOKIE)
        assert session is not None
        assert device is not None  # a browser new to the account, within the budget of device cookies
        verified_version = int(device.split(".")[1])
        alive = await is_signed_in(browsers, session)
        if verified_version == read_before:
            assert not alive, f"round {round_}: a session of the credentials the reset replaced survived it"
            outcomes.append("ended by the reset")
        else:
            assert verified_version == after
            outcomes.append("signed in after the reset")
        assert (await owner.get("/api/auth/me")).status_code == 401, f"round {round_}: the owner's old session"
    assert len(outcomes) == ROUNDS


async def test_a_passkey_sign_in_racing_the_passkeys_removal_keeps_no_session(
    browsers: Browsers, db: AsyncEngine
) -> None:
    outcomes = []
    for round_ in range(ROUNDS):
        _, user_id, owner, authenticator = await with_passkey(browsers, db)
        [passkey] = (await owner.get(PASSKEYS)).json()["passkeys"]
        phone = await browsers()
        credential = authenticator.get(await sign_in_options(phone))

        sign_in = phone.post(SIGN_IN, json={"credential": credential})
        removal = owner.delete(f"{PASSKEYS}/{passkey['id']}")
        signed, removed = await race(round_, ROUNDS, sign_in, removal)

        assert removed.status_code == 204, f"round {round_}: {removed.text}"
        assert (await owner.get("/api/auth/me")).status_code == 200  # the owner's renewed session
        sessions = (await owner.get("/api/auth/sessions")).json()["sessions"]
        assert [s["current"] for s in sessions] == [True], f"round {round_}: {sessions}"
        if signed.status_code != 200:
            assert_refused_sign_in(signed)
            outcomes.append("refused")
            continue
        session = cookie_set(signed, SESSION_COOKIE)
        assert session is not None
        assert not await is_signed_in(browsers, session), f"round {round_}: a removed passkey's session survived"
        outcomes.append("ended by the removal")
    assert len(outcomes) == ROUNDS
    assert await credential_version(db, user_id) >= 3  # added, then removed: two changes
