"""End to end in a real Chromium: the SPA's origin can sign up, sign in (also with an authenticator code), read /me
and sign out through the TypeScript client (clients/typescript, packed with `npm pack`, installed from the tarball into
a scratch app and bundled from there by esbuild); any other origin is refused by CORS (the browser) and by the origin
check (the server). The client's browser-only behaviour: `retryAfter` (CORS must expose Retry-After), `session()`
signed out without a console error, `onChange`, `network_error`; and, in development, the problems that explain an
origin that is not allowed and an API called on another site than the app's. With a DevTools virtual authenticator,
the client registers a passkey, signs in with it through autofill and through the button, and re-authenticates with
it (sudo mode).

The API runs as a real uvicorn server (tests/support/live_server.py) on 127.0.0.1 and is called as
http://localhost:PORT, so the page at http://localhost:5173 is same-site with it (the SameSite=Lax cookie travels),
while the page at http://127.0.0.1:5174 is cross-site and not an allowed origin. Both pages are
tests/browser/index.html, served by the test itself beside the client's bundle.

Chromium is Debian's (`chromium`), never Playwright's download. Without it the test is skipped, unless
PET_AUTH_REQUIRE_BROWSER is set (CI sets it): then it fails.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from playwright.async_api import (
    Browser,
    BrowserContext,
    CDPSession,
    ConsoleMessage,
    Page,
    Request,
    Response,
    async_playwright,
)
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from pet_auth.config import Settings
from tests.support import ROOT
from tests.support.authenticator import code_at, current_step, mark_verified
from tests.support.client_package import packed_app
from tests.support.clients import PASSWORD, SPA_ORIGIN, unique_email
from tests.support.live_server import LiveServer, live_server
from tests.support.sudo import let_session_sudo_lapse
from tools.devinfra import free_port

pytestmark = pytest.mark.browser

PAGE = Path(__file__).resolve().parent / "browser" / "index.html"
CLIENT_DIR = ROOT / "clients" / "typescript"
SPA_PORT = 5173  # http://localhost:5173, the allowed origin (SPA_ORIGIN)
OTHER_PORT = 5174  # http://127.0.0.1:5174, an origin that is not allowed
OTHER_ORIGIN = f"http://127.0.0.1:{OTHER_PORT}"
COOKIE = "pet_auth_session"  # the cookie's name outside production
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_executable() -> str:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    reason = "Chromium not found (/usr/bin/chromium or `chromium` on PATH); install Debian's `chromium` package"
    if os.environ.get("PET_AUTH_REQUIRE_BROWSER"):
        pytest.fail(f"{reason} (PET_AUTH_REQUIRE_BROWSER is set, so the browser test must run)")
    pytest.skip(reason)


class _PageHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test page beside the TypeScript client as an app gets it: packed (`npm pack`), installed from the tarball
    into a scratch app, and bundled from there by esbuild (auth-client.js), as a Vite app would have it."""
    esbuild = CLIENT_DIR / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists():
        pytest.fail("the TypeScript client's packages are missing: run `make client-deps`")
    app = packed_app(tmp_path_factory.mktemp("scratch"))
    (app / "entry.js").write_text('export * from "@pet-manager/auth-client";\n')
    directory = tmp_path_factory.mktemp("page")
    shutil.copy(PAGE, directory / PAGE.name)
    subprocess.run(
        [
            esbuild,
            "entry.js",
            "--bundle",
            "--format=esm",
            f"--outfile={directory / 'auth-client.js'}",
            "--log-level=warning",
        ],
        cwd=app,
        check=True,
        timeout=60,
    )
    return directory


@contextmanager
def page_server(port: int, directory: Path) -> Iterator[None]:
    """Serves the directory on 127.0.0.1:port from a thread."""
    handler = functools.partial(_PageHandler, directory=str(directory))
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        pytest.fail(
            f"the browser test serves its page on 127.0.0.1:{port} but cannot bind it ({exc}); "
            f"stop whatever listens there (a frontend dev server?) and run again"
        )
    thread = Thread(target=server.serve_forever, name=f"page-server-{port}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def page_servers(page_dir: Path) -> Iterator[None]:
    with page_server(SPA_PORT, page_dir), page_server(OTHER_PORT, page_dir):
        yield


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_executable()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
def api(settings: Settings) -> Iterator[str]:
    """The API's base URL as the page calls it: localhost, same-site with http://localhost:5173."""
    assert settings.cors_origins == (SPA_ORIGIN,)
    with live_server(settings) as server:
        yield _as_localhost(server)


def _as_localhost(server: LiveServer) -> str:
    # Chromium always resolves localhost to loopback (::1 and 127.0.0.1), where the server listens.
    assert server.url.startswith("http://127.0.0.1:"), server.url
    return server.url.replace("http://127.0.0.1:", "http://localhost:", 1)


@pytest.fixture
async def context(browser: Browser, page_servers: None) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context()
    yield context
    await context.close()


async def open_page(context: BrowserContext, origin: str, api: str) -> Page:
    page = await context.new_page()
    await page.goto(f"{origin}/index.html?api={api}")
    title = await page.title()
    assert title == "pet_auth browser test", (
        f"{origin} did not serve tests/browser/index.html (title {title!r}): is another server listening on "
        "that port, e.g. on ::1 for localhost?"
    )
    await page.wait_for_function("typeof window.authClient === 'function'")  # the module script has run
    return page


async def client_call(page: Page, method: str, *args: Any) -> dict[str, Any]:
    """One method of the TypeScript client in the page: {ok: true, value} or {ok: false, error}."""
    result: dict[str, Any] = await page.evaluate(
        "([method, args]) => window.authClient(method, ...args)", [method, list(args)]
    )
    return result


def returned(result: dict[str, Any]) -> Any:
    assert result["ok"], result
    return result["value"]


def auth_error(result: dict[str, Any]) -> dict[str, Any]:
    assert result["ok"] is False, result
    error: dict[str, Any] = result["error"]
    assert error["name"] == "AuthError", result
    return error


async def raw_fetch(page: Page, method: str, path: str, **options: Any) -> dict[str, Any]:
    """callApi in the page: fetch with credentials; {ok, status, body}, or {ok: false, error} when fetch rejects."""
    result: dict[str, Any] = await page.evaluate(
        "([method, path, options]) => window.callApi(method, path, options)", [method, path, options]
    )
    return result


def refused(result: dict[str, Any]) -> None:
    """The fetch rejected: the browser withheld the response from the page (fetch's TypeError: there is no answer to
    read)."""
    assert result["ok"] is False, result
    error = result["error"]
    name = error["name"] if isinstance(error, dict) else error.split(":")[0]
    assert name == "TypeError", result


def no_answer(result: dict[str, Any], operation: str) -> None:
    """What the client makes of a fetch the browser rejected: an AuthError `network_error`, not a bare TypeError."""
    error = auth_error(result)
    assert (error["operation"], error["status"], error["code"]) == (operation, 0, "network_error"), result
    assert error["cause"].startswith("TypeError: "), result


async def simple_post_status(page: Page, api: str, body: str) -> int:
    """POSTs text/plain to /api/auth/register in no-cors mode, as a cross-site form or CSRF script can, with no
    preflight. The page only ever sees an opaque response; returns the status the server really sent."""
    async with page.expect_response(f"{api}/api/auth/register") as response_info:
        result = await raw_fetch(page, "POST", "/api/auth/register", text=body, mode="no-cors")
    assert result == {"ok": True, "status": 0, "opaque": True}, result
    response = await response_info.value
    assert response.request.method == "POST"
    return response.status


async def session_cookies(context: BrowserContext) -> list[dict[str, Any]]:
    return [dict(cookie) for cookie in await context.cookies() if cookie.get("name") == COOKIE]


async def test_spa_origin_signs_up_in_and_out_with_an_httponly_cookie(context: BrowserContext, api: str) -> None:
    page = await open_page(context, SPA_ORIGIN, api)
    email = unique_email("browser")
    credentials = {"email": email, "password": PASSWORD}

    registered = await client_call(page, "register", credentials)
    assert registered["ok"], f"register from {SPA_ORIGIN} to {api} failed in the browser: {registered}"
    user = registered["value"]["user"]
    assert user["emailVerified"] is False  # until the link mailed at sign-up is used
    assert user["email"] == email
    assert returned(await client_call(page, "me")) == {"user": user}

    # The cookie is there, on the API's host, but invisible to the page's scripts.
    [cookie] = await session_cookies(context)
    assert cookie["domain"] == "localhost"
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/"
    # Control: a script-visible cookie on the same host does show in document.cookie, so the check can fail.
    await context.add_cookies([{"name": "probe", "value": "1", "domain": "localhost", "path": "/"}])
    document_cookie = await page.evaluate("document.cookie")
    assert "probe=1" in document_cookie
    assert COOKIE not in document_cookie
    assert cookie["value"] not in document_cookie

    assert returned(await client_call(page, "logout")) is None
    assert await session_cookies(context) == []
    signed_out = auth_error(await client_call(page, "me"))
    assert (signed_out["operation"], signed_out["status"], signed_out["code"]) == ("me", 401, "not_authenticated")

    wrong = auth_error(await client_call(page, "login", {"email": email, "password": "not the password"}))
    assert (wrong["status"], wrong["code"]) == (401, "invalid_credentials")
    assert returned(await client_call(page, "login", credentials)) == {"user": user}
    [new_cookie] = await session_cookies(context)
    assert new_cookie["value"] != cookie["value"]
    assert returned(await client_call(page, "me")) == {"user": user}


async def test_other_origin_is_refused_by_cors_and_by_the_origin_check(
    context: BrowserContext, api: str, db: AsyncEngine
) -> None:
    # A user signed in on the SPA: the other origin must not be able to read or act for them.
    spa = await open_page(context, SPA_ORIGIN, api)
    victim = unique_email("victim")
    returned(await client_call(spa, "register", {"email": victim, "password": PASSWORD}))

    other = await open_page(context, OTHER_ORIGIN, api)
    console: list[str] = []

    def on_console(message: ConsoleMessage) -> None:  # Playwright cannot take a builtin such as list.append
        console.append(message.text)

    other.on("console", on_console)
    blocked = f"Access to fetch at '{api}{{}}' from origin '{OTHER_ORIGIN}' has been blocked by CORS policy"

    # Reading /me with credentials: the response carries no CORS grant, so the browser withholds it.
    no_answer(await client_call(other, "me"), "me")
    assert any(text.startswith(blocked.format("/api/auth/me")) for text in console), console

    # A JSON POST needs a preflight, which the API refuses, so the POST itself is never sent.
    no_answer(await client_call(other, "login", {"email": victim, "password": PASSWORD}), "login")
    preflight_refused = blocked.format("/api/auth/login") + ": Response to preflight request doesn't pass"
    assert any(text.startswith(preflight_refused) for text in console), console

    # A simple POST needs no preflight and reaches the server: the origin check refuses it (403). The very same
    # request from the SPA passes the origin check and stops at the media type (415), so the 403 is the check's.
    intruder = unique_email("intruder")
    body = f'{{"email": "{intruder}", "password": "{PASSWORD}"}}'
    assert await simple_post_status(other, api, body) == 403
    assert await simple_post_status(spa, api, body) == 415
    # The same request in cors mode: the server's 403 is withheld from the page as well.
    refused(await raw_fetch(other, "POST", "/api/auth/register", text=body))
    assert any(text.startswith(blocked.format("/api/auth/register")) for text in console), console

    async with db.connect() as connection:
        rows = await connection.execute(
            sa.text("SELECT email FROM users WHERE email IN (:victim, :intruder)"),
            {"victim": victim, "intruder": intruder},
        )
        assert set(rows.scalars()) == {victim}

    # The victim's session is untouched and still works from the SPA.
    assert returned(await client_call(spa, "me"))["user"]["email"] == victim


async def test_spa_origin_signs_in_with_an_authenticator_code(
    context: BrowserContext, api: str, db: AsyncEngine
) -> None:
    page = await open_page(context, SPA_ORIGIN, api)
    email = unique_email("browser-mfa")
    credentials = {"email": email, "password": PASSWORD}
    returned(await client_call(page, "register", credentials))
    await mark_verified(db, email)  # an authenticator needs a verified address

    setup = returned(await client_call(page, "setupTotp", {"currentPassword": PASSWORD}))
    step = await current_step()
    confirmed = returned(await client_call(page, "confirmTotp", {"code": code_at(setup["secret"], step - 1)}))
    assert len(confirmed["recoveryCodes"]) == 10
    returned(await client_call(page, "logout"))

    # The password alone: no session, only the pending sign-in's HttpOnly cookie.
    assert returned(await client_call(page, "login", credentials)) == {"mfaRequired": True}
    assert await session_cookies(context) == []
    [pending] = [cookie for cookie in await context.cookies() if cookie.get("name") == "pet_auth_mfa"]
    assert pending["httpOnly"] is True
    assert pending["sameSite"] == "Lax"
    assert "pet_auth_mfa" not in await page.evaluate("document.cookie")
    assert auth_error(await client_call(page, "me"))["code"] == "not_authenticated"

    signed_in = returned(await client_call(page, "loginMfa", {"code": code_at(setup["secret"], step)}))
    assert signed_in["user"]["mfaEnabled"] is True
    [cookie] = await session_cookies(context)
    assert cookie["httpOnly"] is True
    assert [c for c in await context.cookies() if c.get("name") == "pet_auth_mfa"] == []  # expired
    assert returned(await client_call(page, "me"))["user"]["email"] == email


# Passkeys: a virtual authenticator of Chrome's DevTools (the WebAuthn domain) as the device's own (platform)
# authenticator: CTAP2, internal, discoverable credentials, user verification that succeeds, and presence that is
# simulated, so that it answers every ceremony by itself.
VIRTUAL_AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}
# Wraps navigator.credentials.get to keep each request's mediation (null for a modal one; "conditional" for autofill).
RECORD_MEDIATION = """() => {
  const get = navigator.credentials.get.bind(navigator.credentials);
  window.mediations = [];
  navigator.credentials.get = (options) => {
    window.mediations.push(options.mediation ?? null);
    return get(options);
  };
}"""


class VirtualAuthenticator:
    def __init__(self, cdp: CDPSession, authenticator_id: str) -> None:
        self.cdp, self.id = cdp, authenticator_id

    @classmethod
    async def add(cls, page: Page) -> VirtualAuthenticator:
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("WebAuthn.enable", {"enableUI": False})
        added = await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_AUTHENTICATOR})
        return cls(cdp, added["authenticatorId"])

    async def credentials(self) -> list[dict[str, Any]]:
        answer = await self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})
        return list(answer["credentials"])

    async def set_user_verified(self, verified: bool) -> None:
        await self.cdp.send("WebAuthn.setUserVerified", {"authenticatorId": self.id, "isUserVerified": verified})

    async def set_presence(self, automatic: bool) -> None:
        await self.cdp.send(
            "WebAuthn.setAutomaticPresenceSimulation", {"authenticatorId": self.id, "enabled": automatic}
        )


async def start_call(page: Page, key: str, method: str, *args: Any) -> None:
    """Starts a client method without waiting for it; its result is read with `call_state` or `settled_call`."""
    await page.evaluate("([key, method, args]) => window.startCall(key, method, ...args)", [key, method, list(args)])


async def call_state(page: Page, key: str) -> dict[str, Any]:
    state: dict[str, Any] = await page.evaluate("(key) => window.calls[key]", key)
    return state


async def settled_call(page: Page, key: str) -> dict[str, Any]:
    await page.wait_for_function("(key) => window.calls[key].settled", arg=key, timeout=10_000)
    return await call_state(page, key)


async def mediations(page: Page) -> list[str | None]:
    recorded: list[str | None] = await page.evaluate("window.mediations")
    return recorded


async def signed_up_with_a_passkey(page: Page, db: AsyncEngine, prefix: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new account, signed in on the page, with a verified address and a passkey made by the page's authenticator:
    (user, passkey)."""
    email = unique_email(prefix)
    user = returned(await client_call(page, "register", {"email": email, "password": PASSWORD}))["user"]
    await mark_verified(db, email)
    passkey = returned(await client_call(page, "registerPasskey", "Laptop"))["passkey"]
    return {**user, "emailVerified": True}, passkey


async def test_spa_origin_registers_a_passkey_and_signs_in_with_it(
    context: BrowserContext, api: str, db: AsyncEngine, settings: Settings, redis: Redis
) -> None:
    page = await open_page(context, SPA_ORIGIN, api)
    await page.evaluate(RECORD_MEDIATION)
    authenticator = await VirtualAuthenticator.add(page)

    # Registering needs a verified address: the options step's refusal, before the browser is asked.
    email = unique_email("browser-passkey")
    user = returned(await client_call(page, "register", {"email": email, "password": PASSWORD}))["user"]
    unverified = auth_error(await client_call(page, "registerPasskey", "Laptop"))
    assert (unverified["operation"], unverified["status"], unverified["code"]) == (
        "registerPasskey",
        403,
        "email_not_verified",
    )
    assert await authenticator.credentials() == []
    await mark_verified(db, email)
    user = {**user, "emailVerified": True}

    # The client runs the ceremony: the server's options, Chrome and its authenticator, the server's check.
    passkey = returned(await client_call(page, "registerPasskey", "Laptop"))["passkey"]
    assert passkey["name"] == "Laptop"
    assert passkey["transports"] == ["internal"]
    assert passkey["lastUsedAt"] is None
    [credential] = await authenticator.credentials()
    assert credential["isResidentCredential"] is True  # a discoverable credential: a passkey
    assert credential["rpId"] == "localhost"
    assert credential["userName"] == email
    # The same authenticator again: Chrome refuses (the options exclude the account's passkeys), and the client
    # says so with the server's own code for it.
    again = auth_error(await client_call(page, "registerPasskey", "Laptop again"))
    assert (again["operation"], again["status"], again["code"]) == ("registerPasskey", 0, "passkey_already_registered")
    assert len(await authenticator.credentials()) == 1
    renamed = returned(await client_call(page, "renamePasskey", passkey["id"], "Work laptop"))["passkey"]
    assert renamed == {**passkey, "name": "Work laptop"}
    assert returned(await client_call(page, "listPasskeys")) == {"passkeys": [renamed]}

    # Signed out, the sign-in page starts an autofill (conditional) request at once. In DevTools' virtual
    # environment Chrome shows no autofill menu: it hands the conditional request to the virtual authenticator, which
    # answers once presence is simulated (without it the request waits: see the next test), as a user's pick would.
    # Signed in, no second step. (The menu itself, in the field's autofill, is not exercised.)
    returned(await client_call(page, "logout"))
    assert auth_error(await client_call(page, "me"))["code"] == "not_authenticated"
    await start_call(page, "autofill", "loginWithPasskey", {"autofill": True})
    assert returned(await settled_call(page, "autofill")) == {"user": user}
    assert await mediations(page) == ["conditional"]
    assert returned(await client_call(page, "me")) == {"user": user}
    [cookie] = await session_cookies(context)
    assert cookie["httpOnly"] is True

    # The button: a modal request.
    returned(await client_call(page, "logout"))
    assert returned(await client_call(page, "loginWithPasskey")) == {"user": user}
    assert await mediations(page) == ["conditional", None]
    assert returned(await client_call(page, "me")) == {"user": user}
    [used] = returned(await client_call(page, "listPasskeys"))["passkeys"]
    assert used["lastUsedAt"] is not None

    # Sudo mode: once the sign-in's proof is older than the window, removing the passkey needs a new proof; the
    # passkey gives it, and the change goes through.
    sessions = returned(await client_call(page, "listSessions"))["sessions"]
    handle = next(session["id"] for session in sessions if session["current"])
    await let_session_sudo_lapse(settings, redis, user["id"], handle)
    lapsed = auth_error(await client_call(page, "deletePasskey", passkey["id"]))
    assert (lapsed["status"], lapsed["code"]) == (401, "reauthentication_required")
    assert "passkey" in lapsed["methods"]
    assert returned(await client_call(page, "reauthenticate", {"passkey": True})) is None
    assert await mediations(page) == ["conditional", None, None]
    assert returned(await client_call(page, "deletePasskey", passkey["id"])) is None
    assert returned(await client_call(page, "listPasskeys")) == {"passkeys": []}
    assert returned(await client_call(page, "me")) == {"user": user}  # still signed in, with a renewed session

    # The device still holds the removed passkey; signing in with it is refused.
    returned(await client_call(page, "logout"))
    removed = auth_error(await client_call(page, "loginWithPasskey"))
    assert (removed["operation"], removed["status"], removed["code"]) == (
        "passkeySignIn",
        401,
        "passkey_not_recognized",
    )


async def test_a_passkey_ceremony_that_does_not_complete_is_passkey_cancelled(
    context: BrowserContext, api: str, db: AsyncEngine
) -> None:
    page = await open_page(context, SPA_ORIGIN, api)
    await page.evaluate(RECORD_MEDIATION)
    authenticator = await VirtualAuthenticator.add(page)
    user, _ = await signed_up_with_a_passkey(page, db, "browser-cancel")
    returned(await client_call(page, "logout"))

    # The user does not verify (as when the dialog is dismissed): Chrome's NotAllowedError.
    await authenticator.set_user_verified(False)
    refused = auth_error(await client_call(page, "loginWithPasskey"))
    assert (refused["operation"], refused["status"], refused["code"]) == ("passkeySignIn", 0, "passkey_cancelled")
    await authenticator.set_user_verified(True)

    # Without presence the autofill request waits, as for a user who has not picked a passkey yet; Chrome took it
    # (no error). The button then aborts it (only one ceremony at a time) and signs in.
    await authenticator.set_presence(False)
    await start_call(page, "autofill", "loginWithPasskey", {"autofill": True})
    await page.wait_for_function("window.mediations.length === 2")
    await page.wait_for_timeout(1000)
    assert await call_state(page, "autofill") == {"settled": False}
    assert await mediations(page) == [None, "conditional"]
    await authenticator.set_presence(True)
    assert returned(await client_call(page, "loginWithPasskey")) == {"user": user}
    aborted = await settled_call(page, "autofill")
    assert auth_error(aborted)["code"] == "passkey_cancelled"
    assert returned(await client_call(page, "me")) == {"user": user}


@dataclass
class Watched:
    """What the browser reports about a page: console errors, failed requests, and each answer's status."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    statuses: list[tuple[str, int]] = field(default_factory=list)


def watch(page: Page) -> Watched:
    watched = Watched()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.console_errors.append(message.text)

    def on_failed(request: Request) -> None:
        watched.failed_requests.append(f"{request.method} {request.url}: {request.failure}")

    def on_response(response: Response) -> None:
        watched.statuses.append((response.url, response.status))

    page.on("console", on_console)
    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    return watched


async def changes(page: Page) -> list[str | None]:
    told: list[str | None] = await page.evaluate("window.changes")
    return told


async def test_retry_after_is_readable_after_a_429(context: BrowserContext, api: str) -> None:
    """CORS exposes Retry-After: without it the browser hides the header and `retryAfter` is null."""
    page = await open_page(context, SPA_ORIGIN, api)
    body = {"email": unique_email("limited")}
    for _ in range(3):  # RATE_LIMIT_FORGOT_PER_EMAIL
        returned(await client_call(page, "forgotPassword", body))
    limited = auth_error(await client_call(page, "forgotPassword", body))
    assert (limited["status"], limited["code"]) == (429, "rate_limited")
    assert isinstance(limited["retryAfter"], int), limited
    assert limited["retryAfter"] > 0


async def test_session_signed_out_is_null_without_a_console_error(context: BrowserContext, api: str) -> None:
    page = await open_page(context, SPA_ORIGIN, api)
    watched = watch(page)
    assert returned(await client_call(page, "session")) is None
    assert watched.statuses == [(f"{api}/api/auth/session", 200)]
    assert watched.console_errors == []
    assert watched.failed_requests == []
    assert await changes(page) == [None]  # the first answer tells the state

    # Control: /me signed out is the red 401 the console shows, so the check above can fail.
    auth_error(await client_call(page, "me"))
    await page.wait_for_timeout(200)  # console messages arrive asynchronously
    assert any("401" in text for text in watched.console_errors), watched.console_errors
    assert await changes(page) == [None]  # still signed out: not told again


async def test_on_change_follows_sign_in_sign_out_and_a_revoked_session(context: BrowserContext, api: str) -> None:
    page = await open_page(context, SPA_ORIGIN, api)
    email = unique_email("follow")
    credentials = {"email": email, "password": PASSWORD}
    returned(await client_call(page, "register", credentials))
    returned(await client_call(page, "session"))  # the same user: not told again
    returned(await client_call(page, "logout"))
    returned(await client_call(page, "login", credentials))
    assert await changes(page) == [email, None, email]

    # Another device signs in and ends every other session: this page's next call is a 401 that ends its state.
    async with httpx.AsyncClient(base_url=api) as phone:
        assert (await phone.post("/api/auth/login", json=credentials)).status_code == 200
        assert (await phone.post("/api/auth/sessions/revoke-others")).status_code == 204
    ended = auth_error(await client_call(page, "listSessions"))
    assert (ended["status"], ended["code"]) == (401, "not_authenticated")
    assert await changes(page) == [email, None, email, None]
    assert returned(await client_call(page, "session")) is None
    assert await changes(page) == [email, None, email, None]


async def test_a_fetch_without_an_answer_is_a_network_error(context: BrowserContext, api: str) -> None:
    nowhere = f"http://localhost:{free_port()}"  # nothing listens there
    page = await open_page(context, SPA_ORIGIN, nowhere)
    no_answer(await client_call(page, "session"), "session")
    no_answer(await client_call(page, "login", {"email": unique_email(), "password": PASSWORD}), "login")
    assert await changes(page) == []  # no answer tells nothing about the state


@pytest.fixture
def dev_api(make_settings: Callable[..., Settings]) -> Iterator[LiveServer]:
    """The API in development (APP_ENV=development), where refusals explain themselves."""
    settings = make_settings(app_env="development")
    assert settings.cors_origins == (SPA_ORIGIN,)
    with live_server(settings) as server:
        yield server


async def test_in_development_the_127_0_0_1_misconfiguration_says_why(
    context: BrowserContext, dev_api: LiveServer
) -> None:
    """The frontend developer's trap: the app on http://localhost:5173 calls the API as http://127.0.0.1:PORT (another
    site). Without the development answer, register answered 201, no cookie was stored and /me answered 401, with
    nothing in the console; now the page reads a problem that says why."""
    assert dev_api.url.startswith("http://127.0.0.1:")
    page = await open_page(context, SPA_ORIGIN, dev_api.url)
    email = unique_email("cross-site")
    problem = auth_error(await client_call(page, "register", {"email": email, "password": PASSWORD}))
    assert (problem["status"], problem["code"]) == (403, "cross_site_api_host"), problem
    assert "SameSite" in problem["detail"]
    assert f"Call the API as {_as_localhost(dev_api)}" in problem["detail"]
    assert await session_cookies(context) == []
    assert auth_error(await client_call(page, "session"))["code"] == "cross_site_api_host"

    # Called as localhost, the same page works, cookie and all.
    good = await open_page(context, SPA_ORIGIN, _as_localhost(dev_api))
    assert (
        returned(await client_call(good, "register", {"email": email, "password": PASSWORD}))["user"]["email"] == email
    )
    assert returned(await client_call(good, "session"))["email"] == email
    assert len(await session_cookies(context)) == 1


async def test_in_development_a_disallowed_origin_reads_why(context: BrowserContext, dev_api: LiveServer) -> None:
    """A page on an origin not in CORS_ORIGINS: in production a bare CORS error (network_error, test above); in
    development the refusal is readable, preflighted JSON requests included."""
    other = await open_page(context, OTHER_ORIGIN, _as_localhost(dev_api))
    for method, args in (("session", ()), ("login", ({"email": unique_email(), "password": PASSWORD},))):
        problem = auth_error(await client_call(other, method, *args))
        assert (problem["status"], problem["code"]) == (403, "origin_not_allowed"), problem
        assert OTHER_ORIGIN in problem["detail"]
        assert "CORS_ORIGINS" in problem["detail"]
    assert await session_cookies(context) == []
