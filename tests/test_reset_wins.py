"""A reset always wins: recovery takes an account back from anyone who holds a session and the password.

The attacker here holds a session and the password; the victim holds the mailbox. Against a live server (real
sockets, real concurrency), real PostgreSQL and Redis, and the in-process SMTP server. Each race runs many rounds:
a race lost once in twenty rounds fails the test. Every browser is an httpx client of its own (its own cookies).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pet_auth.config import Settings
from tests.support.authenticator import CONFIRM, SETUP, STEP, code_at
from tests.support.clients import PASSWORD, problem_code, set_cookies, unique_email
from tests.support.live_server import LiveServer, live_server
from tests.support.races import race
from tests.support.smtp import MailSink, running_sink

ROUNDS = 20
AUTH = "/api/auth"
REGISTER = f"{AUTH}/register"
LOGIN = f"{AUTH}/login"
LOGIN_MFA = f"{AUTH}/login/mfa"
ME = f"{AUTH}/me"
MFA = f"{AUTH}/mfa"
DISABLE_MFA = f"{AUTH}/mfa/disable"
FORGOT = f"{AUTH}/forgot-password"
RESET = f"{AUTH}/reset-password"
CHANGE_PASSWORD = f"{AUTH}/change-password"
CHANGE_EMAIL = f"{AUTH}/change-email"
CONFIRM_EMAIL = f"{AUTH}/confirm-email"
VERIFY_EMAIL = f"{AUTH}/verify-email"
DELETE_ACCOUNT = f"{AUTH}/delete-account"
SESSION_COOKIE = "pet_auth_session"
DEVICE_COOKIE = "pet_auth_device"  # no __Host- prefix outside production

RESET_SUBJECT = "Reset your Pet Manager password"
CHANGED_SUBJECT = "Your Pet Manager password was changed"
VERIFY_SUBJECT = "Confirm your Pet Manager email address"
CONFIRM_SUBJECT = "Confirm your new Pet Manager email address"

VICTIM_PASSWORD = "the mailbox owner's new passphrase"
ATTACKER_PASSWORD = "the session holder's own passphrase"
WRONG_PASSWORD = "not the password, a guess"

# The limits this issue brings (the defaults): successful password changes per account per hour, new device
# cookies per account per hour, wrong codes for a pending authenticator setup (which lives 10 minutes).
PASSWORD_CHANGES_PER_HOUR = 5
DEVICE_COOKIES_PER_HOUR = 5
SETUP_WRONG_CODES = 10
# The default sign-in limits (per account, and per known device, per 15 minutes).
LOGIN_FAILURES_PER_ACCOUNT = 10

# Limits no test here is about; the sign-in limits per account and per device stay at their defaults unless a test
# is about neither (`server`).
GENEROUS_ELSEWHERE = {f"rate_limit_{name}": 100_000 for name in ("login_per_ip", "register_per_ip", "forgot_per_ip")}


@pytest.fixture(scope="module")
def smtp() -> Iterator[MailSink]:
    with running_sink() as sink:
        yield sink


@pytest.fixture
def server(make_settings: Callable[..., Settings], smtp: MailSink) -> Iterator[LiveServer]:
    """Sign-in limits out of the way: for the races, which are about who wins, not about counting."""
    settings = make_settings(**smtp.settings, **GENEROUS_ELSEWHERE, rate_limit_login_per_account=100_000)
    with live_server(settings) as running:
        yield running


@pytest.fixture
def limits_server(make_settings: Callable[..., Settings], smtp: MailSink) -> Iterator[LiveServer]:
    """The default limits per account and per device: for the tests that count."""
    settings = make_settings(**smtp.settings, **GENEROUS_ELSEWHERE)
    assert settings.rate_limit_login_per_account == settings.rate_limit_login_per_device == LOGIN_FAILURES_PER_ACCOUNT
    with live_server(settings) as running:
        yield running


# --- helpers ----------------------------------------------------------------------------------------------------


class Browsers:
    """Browsers of one live server, each an httpx client with its own cookie jar; all closed when the block ends."""

    def __init__(self, server: LiveServer) -> None:
        self.url = server.url
        self._stack = AsyncExitStack()
        # Plain http; one TLS context for all, since making one per client costs more than a request here.
        self._tls = ssl.create_default_context()

    async def __aenter__(self) -> Browsers:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    async def new(self, **cookies: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=self.url, timeout=30, cookies=cookies, verify=self._tls)
        return await self._stack.enter_async_context(client)


@pytest.fixture
async def browsers(server: LiveServer) -> AsyncIterator[Browsers]:
    async with Browsers(server) as opened:
        yield opened


@pytest.fixture
async def counted_browsers(limits_server: LiveServer) -> AsyncIterator[Browsers]:
    async with Browsers(limits_server) as opened:
        yield opened


@dataclass
class Account:
    email: str
    user_id: int
    browser: httpx.AsyncClient  # signed in (since sign-up)


async def sign_up(browsers: Browsers, smtp: MailSink, *, verified: bool = True) -> Account:
    """A new account, its address verified through the mailed link unless `verified` is False."""
    browser = await browsers.new()
    email = unique_email()
    response = await browser.post(REGISTER, json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    if verified:
        [mail] = await smtp.wait_for(email, VERIFY_SUBJECT)
        assert (await browser.post(VERIFY_EMAIL, json={"token": mail.token})).status_code == 200
    return Account(email, int(response.json()["user"]["id"]), browser)


async def login(browser: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await browser.post(LOGIN, json={"email": email, "password": password})


async def signed_in(browsers: Browsers, email: str, password: str = PASSWORD) -> httpx.AsyncClient:
    """A new browser signed in with the password (an account without two-factor sign-in)."""
    browser = await browsers.new()
    response = await login(browser, email, password)
    assert response.status_code == 200, response.text
    return browser


async def signed_in_with_recovery_code(browsers: Browsers, email: str, code: str) -> httpx.AsyncClient:
    """A new browser signed in with the password and a recovery code (an account with two-factor sign-in)."""
    browser = await browsers.new()
    assert (await login(browser, email)).status_code == 202
    response = await browser.post(LOGIN_MFA, json={"recoveryCode": code})
    assert response.status_code == 200, response.text
    return browser


async def fresh_login_status(browsers: Browsers, email: str, password: str) -> int:
    """The answer to a sign-in from a browser the account never saw."""
    return (await login(await browsers.new(), email, password)).status_code


async def mailed_reset_token(http: httpx.AsyncClient, smtp: MailSink, email: str) -> str:
    before = len(smtp.mails(email, RESET_SUBJECT))
    assert (await http.post(FORGOT, json={"email": email})).status_code == 202
    return (await smtp.wait_for(email, RESET_SUBJECT, count=before + 1))[-1].token


async def reset(http: httpx.AsyncClient, token: str, password: str = VICTIM_PASSWORD) -> httpx.Response:
    return await http.post(RESET, json={"token": token, "password": password})


def cookie_set(response: httpx.Response, name: str) -> str | None:
    """The value of a cookie the response sets (None if it sets none, or only expires it)."""
    morsel = set_cookies(response).get(name)
    if morsel is None or not morsel.value or morsel["max-age"] == "0":
        return None
    return str(morsel.value)


async def is_signed_in(browsers: Browsers, session: str) -> bool:
    status = (await (await browsers.new(**{SESSION_COOKIE: session})).get(ME)).status_code
    assert status in (200, 401)
    return status == 200


def assert_no_server_error(response: httpx.Response, context: str = "") -> None:
    """Never a 500; a 503 only as the answer of a dependency that can't serve now."""
    assert response.status_code < 500 or response.status_code == 503, (
        f"{context} {response.request.url.path}: {response.status_code} {response.text}"
    )
    if response.status_code == 503:
        assert problem_code(response) == "service_unavailable"


def assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, f"{response.status_code}: {response.text}"
    assert problem_code(response) == "rate_limited"
    assert int(response.headers["retry-after"]) > 0


def assert_refused_password(response: httpx.Response) -> None:
    """A 401 for a password (or a session) that no longer holds: the credentials were changed under it."""
    assert response.status_code == 401, response.text
    # `invalid_credentials` from the password check; `not_authenticated` when the change that won had already
    # ended the session before this request was read.
    assert problem_code(response) in ("invalid_credentials", "not_authenticated")


@dataclass
class TwoFactor:
    secret: str
    recovery_codes: list[str]
    confirmed: httpx.Response  # the answer that turned it on


async def turn_on_mfa(browser: httpx.AsyncClient) -> TwoFactor:
    """Set up an authenticator and confirm it with the current step's code (the neighbouring steps are accepted
    too, so no wait for a step's margin); sign-ins here use recovery codes."""
    setup = await browser.post(SETUP, json={"currentPassword": PASSWORD})
    assert setup.status_code == 200, setup.text
    secret = setup.json()["secret"]
    confirmed = await browser.post(CONFIRM, json={"code": code_at(secret, int(time.time() // STEP))})
    assert confirmed.status_code == 200, confirmed.text
    return TwoFactor(secret, confirmed.json()["recoveryCodes"], confirmed)


def wrong_code(secret: str, seed: int = 0) -> str:
    """A well-formed code that is none of the codes of the steps around now."""
    now = int(time.time() // STEP)
    near = {code_at(secret, step) for step in range(now - 3, now + 4)}
    candidate = seed * 7919 % 1_000_000
    while f"{candidate:06d}" in near:
        candidate = (candidate + 1) % 1_000_000
    return f"{candidate:06d}"


# --- 1. a change of password never overrides a reset ------------------------------------------------------------


async def test_a_password_change_racing_a_reset_never_overrides_it(browsers: Browsers, smtp: MailSink) -> None:
    for round_ in range(ROUNDS):
        victim = await sign_up(browsers, smtp, verified=False)
        attacker = await signed_in(browsers, victim.email)
        attacker_sessions = [attacker.cookies[SESSION_COOKIE]]
        token = await mailed_reset_token(victim.browser, smtp, victim.email)

        change = attacker.post(CHANGE_PASSWORD, json={"currentPassword": PASSWORD, "newPassword": ATTACKER_PASSWORD})
        changed, recovered = await race(round_, ROUNDS, change, reset(await browsers.new(), token))

        assert_no_server_error(changed)
        if changed.status_code == 204:
            session = cookie_set(changed, SESSION_COOKIE)
            assert session is not None
            attacker_sessions.append(session)
        else:
            assert_refused_password(changed)
        assert recovered.status_code == 204, f"round {round_}: the reset lost: {recovered.text}"
        assert await fresh_login_status(browsers, victim.email, VICTIM_PASSWORD) == 200, f"round {round_}"
        assert await fresh_login_status(browsers, victim.email, ATTACKER_PASSWORD) == 401, f"round {round_}"
        alive = [session for session in attacker_sessions if await is_signed_in(browsers, session)]
        assert alive == [], f"round {round_}: {len(alive)} attacker session(s) survived the reset"


async def change_password_loop(
    attacker: httpx.AsyncClient, seconds: float
) -> tuple[list[httpx.Response], list[str], str]:
    """Change the password over and over for `seconds`, each time with the session and the password of the last
    success; the answers, the sessions the successes gave, and the last password set."""
    responses: list[httpx.Response] = []
    sessions, password = [attacker.cookies[SESSION_COOKIE]], PASSWORD
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        new_password = f"{ATTACKER_PASSWORD} #{len(responses)}"
        response = await attacker.post(
            CHANGE_PASSWORD, json={"currentPassword": password, "newPassword": new_password}
        )  # the jar takes the rotated session
        responses.append(response)
        if response.status_code == 204:
            password = new_password
            session = cookie_set(response, SESSION_COOKIE)
            assert session is not None
            sessions.append(session)
        await asyncio.sleep(0.05)
    return responses, sessions, password


async def test_a_password_change_loop_does_not_kill_a_reset_link(counted_browsers: Browsers, smtp: MailSink) -> None:
    browsers = counted_browsers
    victim = await sign_up(browsers, smtp, verified=False)
    attacker = await signed_in(browsers, victim.email)

    async def recover() -> httpx.Response:
        mailbox = await browsers.new()
        token = await mailed_reset_token(mailbox, smtp, victim.email)
        await asyncio.sleep(1)  # the owner reads the mail, and clicks
        return await reset(mailbox, token)

    (responses, attacker_sessions, attacker_password), recovered = await asyncio.gather(
        change_password_loop(attacker, seconds=3), recover()
    )

    for response in responses:
        assert_no_server_error(response)
        assert response.status_code in (204, 401, 429), response.text
        if response.status_code == 429:
            assert_rate_limited(response)
        elif response.status_code == 401:
            assert_refused_password(response)
    successes = [r.status_code for r in responses].count(204)
    assert recovered.status_code == 204, f"the reset link died under {successes} password changes: {recovered.text}"
    assert successes <= PASSWORD_CHANGES_PER_HOUR, f"{successes} password changes in 3 s"
    assert await fresh_login_status(browsers, victim.email, VICTIM_PASSWORD) == 200
    assert await fresh_login_status(browsers, victim.email, attacker_password) == 401
    alive = [session for session in attacker_sessions if await is_signed_in(browsers, session)]
    assert alive == [], f"{len(alive)} attacker session(s) survived the reset"
    await asyncio.sleep(0.5)  # notices still on their way
    notices = smtp.mails(victim.email, CHANGED_SUBJECT)
    # The changes' notices (at most five), and the reset's own.
    assert len(notices) <= PASSWORD_CHANGES_PER_HOUR + 1, f"{len(notices)} 'password changed' mails"


async def test_a_sixth_password_change_within_the_hour_is_rate_limited(
    counted_browsers: Browsers, smtp: MailSink
) -> None:
    account = await sign_up(counted_browsers, smtp, verified=False)
    password = PASSWORD
    for n in range(PASSWORD_CHANGES_PER_HOUR):
        body = {"currentPassword": password, "newPassword": f"{ATTACKER_PASSWORD} #{n}"}
        response = await account.browser.post(CHANGE_PASSWORD, json=body)
        assert response.status_code == 204, f"change {n + 1}: {response.text}"
        password = body["newPassword"]
    sixth = {"currentPassword": password, "newPassword": "a sixth passphrase, refused"}
    assert_rate_limited(await account.browser.post(CHANGE_PASSWORD, json=sixth))
    assert await fresh_login_status(counted_browsers, account.email, password) == 200  # the fifth stands


# --- 2. a change-of-address link does not survive a reset -------------------------------------------------------


async def test_an_email_change_link_does_not_survive_a_reset(browsers: Browsers, smtp: MailSink) -> None:
    rounds: list[tuple[Account, str]] = []
    requested = 0
    for round_ in range(ROUNDS):
        victim = await sign_up(browsers, smtp)  # change-email needs a verified address
        attacker = await signed_in(browsers, victim.email)
        token = await mailed_reset_token(victim.browser, smtp, victim.email)
        attacker_address = unique_email("attacker")

        change = attacker.post(CHANGE_EMAIL, json={"currentPassword": PASSWORD, "newEmail": attacker_address})
        changed, recovered = await race(round_, ROUNDS, change, reset(await browsers.new(), token))

        assert_no_server_error(changed)
        if changed.status_code == 202:
            requested += 1
        else:
            assert_refused_password(changed)
        assert recovered.status_code == 204, f"round {round_}: {recovered.text}"
        rounds.append((victim, attacker_address))
    assert requested > 0  # some requests were accepted while their reset ran

    await asyncio.sleep(1)  # links (and notices) still on their way
    for round_, (victim, attacker_address) in enumerate(rounds):
        for mail in smtp.mails(attacker_address, CONFIRM_SUBJECT):
            confirmed = await (await browsers.new()).post(CONFIRM_EMAIL, json={"token": mail.token})
            assert confirmed.status_code == 400, f"round {round_}: the link outlived the reset: {confirmed.text}"
            assert problem_code(confirmed) == "invalid_token"
        owner = await browsers.new()
        assert (await login(owner, victim.email, VICTIM_PASSWORD)).status_code == 200, f"round {round_}"
        assert (await owner.get(ME)).json()["user"]["email"] == victim.email


# --- 3. device cookies end with the credentials, and minting is capped ------------------------------------------


async def test_at_most_five_device_cookies_are_minted_per_account_per_hour(
    counted_browsers: Browsers, smtp: MailSink
) -> None:
    account = await sign_up(counted_browsers, smtp, verified=False)
    responses = [await login(await counted_browsers.new(), account.email) for _ in range(8)]
    assert [r.status_code for r in responses] == [200] * 8
    minted = [cookie_set(r, DEVICE_COOKIE) for r in responses]
    minted_count = sum(cookie is not None for cookie in minted)
    assert 1 <= minted_count <= DEVICE_COOKIES_PER_HOUR, f"{minted_count} device cookies for 8 sign-ins"


CHANGES = ["reset", "change-password", "mfa-on", "mfa-off", "email-change"]


@pytest.mark.parametrize("change", CHANGES)
async def test_after_a_credential_change_older_device_cookies_share_one_budget_and_the_changer_gets_a_new_one(
    counted_browsers: Browsers, smtp: MailSink, change: str
) -> None:
    browsers = counted_browsers
    owner = await sign_up(browsers, smtp)
    two_factor = await turn_on_mfa(owner.browser) if change == "mfa-off" else None
    if two_factor is None:
        other = await signed_in(browsers, owner.email)
    else:
        other = await signed_in_with_recovery_code(browsers, owner.email, two_factor.recovery_codes[0])
    old = [owner.browser.cookies[DEVICE_COOKIE], other.cookies[DEVICE_COOKIE]]
    assert len(set(old)) == 2

    email, by_owner = owner.email, None
    if change == "reset":
        token = await mailed_reset_token(await browsers.new(), smtp, owner.email)
        assert (await reset(await browsers.new(), token)).status_code == 204
    elif change == "change-password":
        body = {"currentPassword": PASSWORD, "newPassword": VICTIM_PASSWORD}
        by_owner = await owner.browser.post(CHANGE_PASSWORD, json=body)
        assert by_owner.status_code == 204, by_owner.text
    elif change == "mfa-on":
        by_owner = (await turn_on_mfa(owner.browser)).confirmed
    elif change == "mfa-off":
        assert two_factor is not None
        body = {"currentPassword": PASSWORD, "code": two_factor.recovery_codes[1]}
        by_owner = await owner.browser.post(DISABLE_MFA, json=body)
        assert by_owner.status_code == 204, by_owner.text
    else:
        email = unique_email("moved")
        body = {"currentPassword": PASSWORD, "newEmail": email}
        assert (await owner.browser.post(CHANGE_EMAIL, json=body)).status_code == 202
        [mail] = await smtp.wait_for(email, CONFIRM_SUBJECT)
        assert (await (await browsers.new()).post(CONFIRM_EMAIL, json={"token": mail.token})).status_code == 200

    # Guesses carrying the older device cookies: together no more than an unknown device's budget.
    failures = 0
    for cookie in old:
        guesser = await browsers.new(**{DEVICE_COOKIE: cookie})
        for _ in range(LOGIN_FAILURES_PER_ACCOUNT + 1):
            status = (await login(guesser, email, WRONG_PASSWORD)).status_code
            assert status in (401, 429)
            if status == 429:
                break
            failures += 1
    assert failures <= LOGIN_FAILURES_PER_ACCOUNT, f"{failures} passwords checked with old device cookies"

    if by_owner is not None:  # the browser that made the change goes on, with a device cookie of its own
        assert (await owner.browser.get(ME)).status_code == 200
        renewed = cookie_set(by_owner, DEVICE_COOKIE)
        assert renewed is not None, f"no new device cookie in the answer to the {change}"
        assert renewed not in old


# --- 4. no address squatting with two-factor sign-in ------------------------------------------------------------


async def test_an_unverified_account_cannot_start_an_authenticator_setup(browsers: Browsers, smtp: MailSink) -> None:
    account = await sign_up(browsers, smtp, verified=False)
    response = await account.browser.post(SETUP, json={"currentPassword": PASSWORD})
    assert response.status_code == 403, response.text
    assert problem_code(response) == "email_not_verified"
    assert (await account.browser.get(MFA)).json()["mfaEnabled"] is False


async def test_a_reset_turns_off_two_factor_that_a_squatter_set_up_on_an_unverified_address(
    browsers: Browsers, smtp: MailSink, db: AsyncEngine
) -> None:
    # The squatter's account as an earlier release could leave it: two-factor sign-in on, the address unverified.
    squatter = await sign_up(browsers, smtp)
    two_factor = await turn_on_mfa(squatter.browser)
    phone = await signed_in_with_recovery_code(browsers, squatter.email, two_factor.recovery_codes[0])
    async with db.begin() as connection:
        await connection.execute(
            text("UPDATE users SET email_verified_at = NULL WHERE id = :id"), {"id": squatter.user_id}
        )
    sessions = [squatter.browser.cookies[SESSION_COOKIE], phone.cookies[SESSION_COOKIE]]
    assert all([await is_signed_in(browsers, session) for session in sessions])

    # The address's owner resets the password: the first proof of the mailbox.
    token = await mailed_reset_token(await browsers.new(), smtp, squatter.email)
    assert (await reset(await browsers.new(), token)).status_code == 204

    owner = await browsers.new()
    signed = await login(owner, squatter.email, VICTIM_PASSWORD)
    assert signed.status_code == 200, f"{signed.status_code}: {signed.text}"  # not 202: no second factor asked
    assert (await owner.get(MFA)).json()["mfaEnabled"] is False
    assert [await is_signed_in(browsers, session) for session in sessions] == [False, False]


# --- 5. no 500 on lock races ------------------------------------------------------------------------------------

PENDING_SIGN_INS = 9


async def test_second_steps_racing_a_deletion_never_answer_500(browsers: Browsers, smtp: MailSink) -> None:
    deleted = 0
    for round_ in range(ROUNDS):
        owner = await sign_up(browsers, smtp)
        two_factor = await turn_on_mfa(owner.browser)
        signing_in = asyncio.create_task(
            signed_in_with_recovery_code(browsers, owner.email, two_factor.recovery_codes[0])
        )
        pending = [await browsers.new() for _ in range(PENDING_SIGN_INS)]
        started = await asyncio.gather(*(login(browser, owner.email) for browser in pending))
        assert [r.status_code for r in started] == [202] * PENDING_SIGN_INS
        deleter = await signing_in
        # One right code (a recovery code), the rest wrong.
        bodies = [{"recoveryCode": two_factor.recovery_codes[1]}] + [
            {"code": wrong_code(two_factor.secret, n)} for n in range(1, PENDING_SIGN_INS)
        ]

        *second_steps, deletion = await asyncio.gather(
            *(browser.post(LOGIN_MFA, json=body) for browser, body in zip(pending, bodies, strict=True)),
            deleter.post(DELETE_ACCOUNT, json={"currentPassword": PASSWORD}),
        )

        for response in [*second_steps, deletion]:
            assert_no_server_error(response, f"round {round_}")
        if deletion.status_code == 204:
            deleted += 1
            assert await fresh_login_status(browsers, owner.email, PASSWORD) == 401, f"round {round_}"
    assert deleted >= ROUNDS - 2, f"the deletion answered 204 in {deleted} of {ROUNDS} rounds"


async def test_a_deletion_racing_a_reset_never_answers_500(browsers: Browsers, smtp: MailSink) -> None:
    for round_ in range(ROUNDS):
        owner = await sign_up(browsers, smtp)
        token = await mailed_reset_token(owner.browser, smtp, owner.email)

        deletion = owner.browser.post(DELETE_ACCOUNT, json={"currentPassword": PASSWORD})
        deleted, recovered = await race(round_, ROUNDS, deletion, reset(await browsers.new(), token))

        assert_no_server_error(deleted, f"round {round_}")
        assert_no_server_error(recovered, f"round {round_}")
        assert deleted.status_code in (204, 401, 503), deleted.text
        assert recovered.status_code in (204, 400, 503), recovered.text
        if deleted.status_code == 204:
            for password in (PASSWORD, VICTIM_PASSWORD):
                assert await fresh_login_status(browsers, owner.email, password) == 401, f"round {round_}"


# --- 6. a pending authenticator setup can't be guessed, and expires ---------------------------------------------


async def pending_setup(browsers: Browsers, smtp: MailSink) -> tuple[Account, str]:
    account = await sign_up(browsers, smtp)
    setup = await account.browser.post(SETUP, json={"currentPassword": PASSWORD})
    assert setup.status_code == 200, setup.text
    return account, str(setup.json()["secret"])


async def test_wrong_codes_for_a_pending_setup_are_limited_to_ten(counted_browsers: Browsers, smtp: MailSink) -> None:
    account, secret = await pending_setup(counted_browsers, smtp)
    wrong = 0
    for n in range(SETUP_WRONG_CODES + 1):
        response = await account.browser.post(CONFIRM, json={"code": wrong_code(secret, n)})
        if response.status_code == 429:
            assert_rate_limited(response)
            break
        assert response.status_code == 400, response.text
        assert problem_code(response) == "invalid_code"
        wrong += 1
    assert wrong <= SETUP_WRONG_CODES, f"{wrong} wrong codes checked, and no 429"


async def test_concurrent_wrong_codes_for_a_pending_setup_check_no_more_than_ten(
    counted_browsers: Browsers, smtp: MailSink
) -> None:
    account, secret = await pending_setup(counted_browsers, smtp)
    session = account.browser.cookies[SESSION_COOKIE]
    guessers = [await counted_browsers.new(**{SESSION_COOKIE: session}) for _ in range(30)]
    responses = await asyncio.gather(
        *(guesser.post(CONFIRM, json={"code": wrong_code(secret, n)}) for n, guesser in enumerate(guessers))
    )
    checked = [r for r in responses if r.status_code == 400]
    assert all(problem_code(r) == "invalid_code" for r in checked)
    assert len(checked) <= SETUP_WRONG_CODES, f"{len(checked)} wrong codes checked at once"
    for response in responses:
        if response.status_code != 400:
            assert_rate_limited(response)


async def test_a_pending_setup_older_than_ten_minutes_is_refused_even_with_the_right_code(
    counted_browsers: Browsers, smtp: MailSink, db: AsyncEngine
) -> None:
    account, secret = await pending_setup(counted_browsers, smtp)
    async with db.begin() as connection:
        await connection.execute(
            text("UPDATE user_mfa SET created_at = now() - interval '11 minutes' WHERE user_id = :id"),
            {"id": account.user_id},
        )
    late = await account.browser.post(CONFIRM, json={"code": code_at(secret, int(time.time() // STEP))})
    assert late.status_code == 409, late.text
    assert problem_code(late) == "mfa_setup_required"
    assert (await account.browser.get(MFA)).json()["mfaEnabled"] is False
