"""Credential changes win every race; concurrency is not guessing.

Against a live server (real sockets, real concurrency), real PostgreSQL and Redis, and the in-process SMTP server.
Each race runs many rounds: a race lost once in twenty rounds fails the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

import bcrypt
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pet_auth.config import Settings
from tests.support.clients import PASSWORD, unique_email
from tests.support.live_server import LiveServer, live_server
from tests.support.smtp import MailSink, running_sink

ROUNDS = 20
SIGN_IN_LOOPS = 4
NEW_PASSWORD = "a brand new passphrase, 2nd edition"
RESET_SUBJECT = "Reset your Pet Manager password"
LOGIN = "/api/auth/login"
ME = "/api/auth/me"


@pytest.fixture(scope="module")
def smtp() -> Iterator[MailSink]:
    with running_sink() as sink:
        yield sink


@pytest.fixture
def server(make_settings: Callable[..., Settings], smtp: MailSink) -> Iterator[LiveServer]:
    generous = {
        f"rate_limit_{name}": 100_000
        for name in ("login_per_ip", "register_per_ip", "forgot_per_ip", "login_per_account")
    }
    with live_server(make_settings(**smtp.settings, **generous)) as running:
        yield running


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client


def session_cookie(response: httpx.Response) -> str:
    [cookie] = [c for c in response.headers.get_list("set-cookie") if c.startswith("pet_auth_session=")]
    return cookie.split(";")[0].split("=", 1)[1]


async def signed_up(http: httpx.AsyncClient) -> tuple[str, int]:
    email = unique_email()
    response = await http.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return email, int(response.json()["user"]["id"])


async def reset_token(http: httpx.AsyncClient, smtp: MailSink, email: str) -> str:
    assert (await http.post("/api/auth/forgot-password", json={"email": email})).status_code == 202
    [mail] = await smtp.wait_for(email, RESET_SUBJECT)
    return mail.token


async def is_signed_in(server: LiveServer, session: str) -> bool:
    async with httpx.AsyncClient(base_url=server.url, cookies={"pet_auth_session": session}) as client:
        status = (await client.get(ME)).status_code
    assert status in (200, 401)
    return status == 200


async def sign_in_until(
    server: LiveServer, email: str, password: str, signed_in: asyncio.Event, done: asyncio.Event
) -> list[str]:
    """Sign in over and over, each time as a new browser, until `done`; the sessions it got."""
    sessions = []
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        while not done.is_set():
            client.cookies.clear()
            response = await client.post(LOGIN, json={"email": email, "password": password})
            assert response.status_code in (200, 401), response.text
            if response.status_code == 200:
                sessions.append(session_cookie(response))
                signed_in.set()
    return sessions


async def race(server: LiveServer, email: str, change: Callable[[], asyncio.Future[httpx.Response]]) -> list[str]:
    """Sign-ins with the old password race `change`; returns the sessions they got."""
    signed_in, done = asyncio.Event(), asyncio.Event()
    loops = [asyncio.create_task(sign_in_until(server, email, PASSWORD, signed_in, done)) for _ in range(SIGN_IN_LOOPS)]
    await asyncio.wait_for(signed_in.wait(), timeout=20)  # the sign-ins are under way
    response = await change()
    assert response.status_code == 204, response.text
    await asyncio.sleep(0.05)  # and go on for a while
    done.set()
    return [session for sessions in await asyncio.gather(*loops) for session in sessions]


async def test_no_sign_in_with_the_old_password_survives_a_reset(
    server: LiveServer, http: httpx.AsyncClient, smtp: MailSink
) -> None:
    raced = 0
    for _ in range(ROUNDS):
        email, _ = await signed_up(http)
        token = await reset_token(http, smtp, email)

        def change(token: str = token) -> asyncio.Future[httpx.Response]:
            body = {"token": token, "password": NEW_PASSWORD}
            return asyncio.ensure_future(http.post("/api/auth/reset-password", json=body))

        sessions = await race(server, email, change)
        raced += len(sessions)
        alive = [session for session in sessions if await is_signed_in(server, session)]
        assert alive == [], f"{len(alive)} of {len(sessions)} sessions signed in with the old password survived"
    assert raced >= ROUNDS  # the sign-ins got sessions while the resets ran


async def test_no_sign_in_with_the_old_password_survives_a_password_change(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    raced = 0
    for _ in range(ROUNDS):
        email, _ = await signed_up(http)  # `http` is now signed in as this user

        def change() -> asyncio.Future[httpx.Response]:
            body = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
            return asyncio.ensure_future(http.post("/api/auth/change-password", json=body))

        sessions = await race(server, email, change)
        raced += len(sessions)
        alive = [session for session in sessions if await is_signed_in(server, session)]
        assert alive == [], f"{len(alive)} of {len(sessions)} sessions signed in with the old password survived"
        assert (await http.get(ME)).status_code == 200  # the caller's own session goes on, rotated
        http.cookies.clear()
    assert raced >= ROUNDS


async def test_a_hash_upgrade_never_undoes_a_reset(
    server: LiveServer, http: httpx.AsyncClient, smtp: MailSink, db: AsyncEngine
) -> None:
    """A legacy (bcrypt) account signs in twice while its reset runs; each sign-in upgrades the hash."""
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    for _ in range(ROUNDS // 2):
        email, user_id = await signed_up(http)
        async with db.begin() as connection:
            await connection.execute(
                text("UPDATE users SET password_hash = :h WHERE id = :id"), {"h": legacy, "id": user_id}
            )
        token = await reset_token(http, smtp, email)
        old = {"email": email, "password": PASSWORD}
        await asyncio.gather(
            http.post(LOGIN, json=old),
            http.post("/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}),
            http.post(LOGIN, json=old),
        )
        assert (await http.post(LOGIN, json={"email": email, "password": NEW_PASSWORD})).status_code == 200
        assert (await http.post(LOGIN, json=old)).status_code == 401
        http.cookies.clear()


async def test_concurrent_sign_ins_with_the_right_password_all_succeed(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(rate_limit_register_per_ip=100)  # the account's limit stays at its default, 10
    with live_server(settings) as running:
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
            for _ in range(5):
                email, _ = await signed_up(http)
                body = {"email": email, "password": PASSWORD}
                statuses = await asyncio.gather(*(fresh_browser_post(running, body) for _ in range(16)))
                assert statuses == [200] * 16


async def fresh_browser_post(server: LiveServer, body: dict[str, str]) -> int:
    """A sign-in from a browser without cookies (no device cookie, no session)."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as browser:
        return (await browser.post(LOGIN, json=body)).status_code


async def test_concurrent_guesses_check_no_more_passwords_than_the_limit(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(rate_limit_register_per_ip=100, rate_limit_login_per_ip=100_000)
    with live_server(settings) as running:
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
            for _ in range(5):
                email, _ = await signed_up(http)
                guess = {"email": email, "password": "not the password"}
                statuses = await asyncio.gather(*(fresh_browser_post(running, guess) for _ in range(30)))
                checked = statuses.count(401)
                assert 0 < checked <= settings.rate_limit_login_per_account, statuses
                assert statuses.count(429) == 30 - checked
                right = {"email": email, "password": PASSWORD}
                assert await fresh_browser_post(running, right) == 429  # locked for unknown devices


async def test_sign_ins_racing_a_first_verification_end_or_show_it(
    server: LiveServer, http: httpx.AsyncClient, smtp: MailSink
) -> None:
    """The first verification ends every session from before it; a sign-in that read the user before it committed
    must neither survive it nor put the old profile back."""
    for _ in range(ROUNDS // 2):
        email, _ = await signed_up(http)
        [mail] = await smtp.wait_for(email, "Confirm your Pet Manager email address")

        def verify(token: str = mail.token) -> asyncio.Future[httpx.Response]:
            return asyncio.ensure_future(verify_then_no_content(http, token))

        sessions = await race(server, email, verify)
        for session in sessions:
            async with httpx.AsyncClient(base_url=server.url, cookies={"pet_auth_session": session}) as browser:
                response = await browser.get(ME)
            assert response.status_code in (200, 401)
            if response.status_code == 200:
                assert response.json()["user"]["emailVerified"] is True
        http.cookies.clear()


async def verify_then_no_content(http: httpx.AsyncClient, token: str) -> httpx.Response:
    """Verify (200 with the user); as a 204 for `race`, which expects a change without content."""
    response = await http.post("/api/auth/verify-email", json={"token": token})
    assert response.status_code == 200, response.text
    return httpx.Response(204)
