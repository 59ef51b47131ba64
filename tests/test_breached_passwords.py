"""New passwords against the corpus of breached passwords, over HTTP with real PostgreSQL and Redis, and a range API
of our own: a local HTTP server (the standard library's, on a free port) that speaks Have I Been Pwned's range format,
`SUFFIX:COUNT` lines with padding lines of count 0. No machine here reaches the public API.

Also the minimum lengths of NIST SP 800-63B-4 §3.1.1.2: PASSWORD_MIN_LENGTH_SINGLE_FACTOR and _WITH_MFA."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pet_auth.config import Settings, SettingsError, load_settings
from pet_auth.domain.passwords import BREACHED, TOO_COMMON
from tests.support.authenticator import enable_mfa, turned_on_days_ago
from tests.support.clients import PASSWORD, Client, MakeClient, register, unique_email
from tests.support.logs import every_log_line
from tests.support.metrics import samples, value
from tests.support.recovery import request_token, reset
from tests.support.smtp import MailSink
from tools.devinfra import free_port

REGISTER = "/api/auth/register"
LOGIN = "/api/auth/login"
CHANGE = "/api/auth/change-password"
BREACHED_PASSWORD = "monkey business 2019, from a breach"
# Its suffix is in the answer, but only as a padding line (count 0): never breached.
PADDED_ONLY_PASSWORD = "a passphrase that only padding names"
CLEAN_PASSWORD = "a passphrase nobody ever leaked"
MISSES = "pet_auth_breached_password_check_misses_total"
SLOW_SECONDS = 6.0


def sha1(password: str) -> str:
    return hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()


@dataclass
class RangeServer:
    """A range API: `GET /range/<PREFIX>` lists the breached suffixes under the prefix, then padding (count 0) when
    asked for with `Add-Padding: true`. `behaviour`: answer, slow (past the check's timeout), or error (a 503)."""

    port: int
    breached: dict[str, int] = field(default_factory=lambda: {BREACHED_PASSWORD: 4211})
    padding: list[str] = field(default_factory=lambda: [PADDED_ONLY_PASSWORD])
    behaviour: str = "answer"
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/range/"

    def body(self, prefix: str, padded: bool) -> str:
        lines = [f"{sha1(p)[5:]}:{count}" for p, count in self.breached.items() if sha1(p).startswith(prefix)]
        if padded:
            lines += [f"{sha1(p)[5:]}:0" for p in self.padding if sha1(p).startswith(prefix)]
            lines += [f"{secrets.token_hex(18)[:35].upper()}:0" for _ in range(40)]
        return "\r\n".join(lines)


@pytest.fixture
def range_server() -> Iterator[RangeServer]:
    server = RangeServer(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.requests.append((self.path, dict(self.headers.items())))
            if server.behaviour == "slow":
                server.released.wait(SLOW_SECONDS)
            if server.behaviour == "error":
                self.send_error(503)
                return
            prefix = self.path.removeprefix("/range/")
            body = server.body(prefix, self.headers.get("Add-Padding") == "true").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", server.port), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="range-server", daemon=True)
    thread.start()
    yield server
    server.released.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def checking(make_client: MakeClient, range_server: RangeServer) -> Callable[..., Any]:
    """A client of an app whose breach check asks `range_server` (in the given mode)."""

    async def make(mode: str = "fail-open", **overrides: Any) -> Client:
        overrides.setdefault("hibp_range_url", range_server.url)
        return await make_client(breached_password_check=mode, **overrides)

    return make


def field_error(response: httpx.Response, status: int = 400) -> tuple[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "validation_error"
    [error] = problem["errors"]
    return error["field"], error["message"]


async def sign_up(client: Client, password: str) -> httpx.Response:
    return await client.post(REGISTER, json={"email": unique_email(), "password": password})


async def scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return samples(response.text)


# --- a range API that answers -----------------------------------------------------------------------------------


async def test_register_change_and_reset_refuse_a_breached_password(
    checking: Callable[..., Any], range_server: RangeServer, smtp: MailSink
) -> None:
    client = await checking("fail-closed", **smtp.settings)  # an answering API: fail-closed changes nothing
    assert field_error(await sign_up(client, BREACHED_PASSWORD)) == ("password", BREACHED)
    assert "breach" in BREACHED

    email = unique_email()
    await register(client, email)  # PASSWORD: in no breach the server knows
    change = await client.post(CHANGE, json={"currentPassword": PASSWORD, "newPassword": BREACHED_PASSWORD})
    assert field_error(change) == ("newPassword", BREACHED)
    assert (await client.post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 200

    token = await request_token(client, smtp, email)
    assert field_error(await reset(client, token, BREACHED_PASSWORD)) == ("password", BREACHED)
    assert (await reset(client, token, CLEAN_PASSWORD)).status_code == 204  # the refusal left the link usable
    assert (await client.post(LOGIN, json={"email": email, "password": CLEAN_PASSWORD})).status_code == 200
    assert len(range_server.requests) == 5  # the two sign-ups, the two refusals, the accepted reset; never a login


async def test_a_password_in_no_breach_is_accepted_and_padding_lines_never_match(
    checking: Callable[..., Any], range_server: RangeServer
) -> None:
    client = await checking()
    assert (await sign_up(client, CLEAN_PASSWORD)).status_code == 201
    client.cookies.clear()
    assert (await sign_up(client, PADDED_ONLY_PASSWORD)).status_code == 201
    # The second answer did name the suffix, as a padding line.
    suffix = sha1(PADDED_ONLY_PASSWORD)[5:]
    assert f"{suffix}:0" in range_server.body(sha1(PADDED_ONLY_PASSWORD)[:5], padded=True)


async def test_the_request_carries_the_5_digit_prefix_alone_and_asks_for_padding(
    checking: Callable[..., Any], range_server: RangeServer
) -> None:
    client = await checking()
    assert (await sign_up(client, CLEAN_PASSWORD)).status_code == 201
    [(path, headers)] = range_server.requests
    digest = sha1(CLEAN_PASSWORD)
    assert path == f"/range/{digest[:5]}"
    assert {k.lower(): v for k, v in headers.items()}["add-padding"] == "true"
    sent = path + repr(headers)
    assert digest[5:] not in sent.upper()
    assert digest[5:11] not in sent.upper()  # not even a part of the suffix
    assert CLEAN_PASSWORD not in sent


# --- a range API that cannot be reached ---------------------------------------------------------------------------


async def test_fail_open_accepts_when_the_api_is_unreachable_and_counts_the_miss(checking: Callable[..., Any]) -> None:
    nothing_there = f"http://127.0.0.1:{free_port()}/range/"
    client = await checking("fail-open", hibp_range_url=nothing_there, metrics_enabled=True)
    assert value(await scrape(client), MISSES, reason="unreachable") == 0
    assert (await sign_up(client, BREACHED_PASSWORD)).status_code == 201  # nobody could say it was breached
    # The bundled list of common passwords still applies.
    assert field_error(await sign_up(client, "password123")) == ("password", TOO_COMMON)
    assert value(await scrape(client), MISSES, reason="unreachable") == 1


async def test_fail_closed_refuses_with_503_after_the_timeout_and_counts_the_miss(
    checking: Callable[..., Any], range_server: RangeServer
) -> None:
    range_server.behaviour = "slow"
    client = await checking("fail-closed", metrics_enabled=True)
    started = time.monotonic()
    response = await sign_up(client, CLEAN_PASSWORD)
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "password_check_unavailable"
    assert "breach" in problem["detail"]
    assert 1.9 < elapsed < SLOW_SECONDS - 1  # the 2 s timeout, not the server's delay
    assert value(await scrape(client), MISSES, reason="timeout") == 1


async def test_fail_closed_refuses_when_the_api_answers_an_error(
    checking: Callable[..., Any], range_server: RangeServer, smtp: MailSink
) -> None:
    client = await checking("fail-closed", metrics_enabled=True, **smtp.settings)
    email = unique_email()
    await register(client, email)
    range_server.behaviour = "error"
    change = await client.post(CHANGE, json={"currentPassword": PASSWORD, "newPassword": CLEAN_PASSWORD})
    assert change.status_code == 503
    assert change.json()["code"] == "password_check_unavailable"
    token = await request_token(client, smtp, email)
    assert (await reset(client, token, CLEAN_PASSWORD)).status_code == 503
    assert value(await scrape(client), MISSES, reason="status") == 2
    # Nothing changed: the password still signs in, and the link still works once the API answers again.
    assert (await client.post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 200
    range_server.behaviour = "answer"
    assert (await reset(client, token, CLEAN_PASSWORD)).status_code == 204


async def test_fail_open_accepts_on_a_timeout(checking: Callable[..., Any], range_server: RangeServer) -> None:
    range_server.behaviour = "slow"
    client = await checking("fail-open", metrics_enabled=True)
    assert (await sign_up(client, BREACHED_PASSWORD)).status_code == 201
    assert value(await scrape(client), MISSES, reason="timeout") == 1


async def test_off_never_calls_the_api(checking: Callable[..., Any], range_server: RangeServer) -> None:
    client = await checking("off")
    assert (await sign_up(client, BREACHED_PASSWORD)).status_code == 201
    assert range_server.requests == []


async def test_nothing_about_the_check_is_logged(checking: Callable[..., Any], range_server: RangeServer) -> None:
    client = await checking("fail-open", log_level="DEBUG")
    with every_log_line() as lines:
        assert field_error(await sign_up(client, BREACHED_PASSWORD)) == ("password", BREACHED)
        assert (await sign_up(client, CLEAN_PASSWORD)).status_code == 201
    assert len(range_server.requests) == 2
    logged = "\n".join(lines)
    assert lines  # the capture works: the sign-ups' own lines (the audit log) are there
    for password in (BREACHED_PASSWORD, CLEAN_PASSWORD):
        assert password not in logged
        assert sha1(password)[:5] not in logged  # not even the prefix that was sent (httpx's own request log)
        assert sha1(password)[5:] not in logged


async def test_the_openapi_document_names_the_new_code(client: Client) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    for path in ("/api/auth/register", "/api/auth/change-password", "/api/auth/reset-password"):
        codes = paths[path]["post"]["responses"]["503"]["content"]["application/problem+json"]["schema"]
        assert "password_check_unavailable" in codes["properties"]["code"]["enum"], path
    login_503 = paths["/api/auth/login"]["post"]["responses"]["503"]["content"]["application/problem+json"]
    assert "password_check_unavailable" not in login_503["schema"]["properties"]["code"]["enum"]


# --- settings -----------------------------------------------------------------------------------------------------

PRODUCTION = {"APP_ENV": "production", "SESSION_SECRET": "s" * 48}


def test_the_check_is_off_in_development_and_test_and_fails_open_in_production() -> None:
    assert load_settings({"APP_ENV": "test"}, env_file=None).breach_check == "off"
    assert load_settings({"APP_ENV": "development"}, env_file=None).breach_check == "off"
    production = load_settings(PRODUCTION, env_file=None)
    assert production.breach_check == "fail-open"
    assert production.hibp_range_url == "https://api.pwnedpasswords.com/range/"
    assert (production.password_min_length_single_factor, production.password_min_length_with_mfa) == (8, 8)
    chosen = load_settings({**PRODUCTION, "BREACHED_PASSWORD_CHECK": "off"}, env_file=None)
    assert chosen.breach_check == "off"


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("BREACHED_PASSWORD_CHECK", "sometimes", "BREACHED_PASSWORD_CHECK"),
        ("HIBP_RANGE_URL", "ftp://mirror.example/range/", "HIBP_RANGE_URL"),
        ("HIBP_RANGE_URL", "mirror.example/range/", "HIBP_RANGE_URL"),
        ("HIBP_RANGE_URL", "https://:443/range/", "HIBP_RANGE_URL"),
        ("PASSWORD_MIN_LENGTH_SINGLE_FACTOR", "7", "PASSWORD_MIN_LENGTH_SINGLE_FACTOR"),
        ("PASSWORD_MIN_LENGTH_SINGLE_FACTOR", "65", "PASSWORD_MIN_LENGTH_SINGLE_FACTOR"),
        ("PASSWORD_MIN_LENGTH_WITH_MFA", "7", "PASSWORD_MIN_LENGTH_WITH_MFA"),
        ("PASSWORD_MIN_LENGTH_WITH_MFA", "9", "PASSWORD_MIN_LENGTH_WITH_MFA"),  # above the single-factor 8
    ],
)
def test_bad_values_stop_the_settings_naming_the_setting(name: str, value: str, named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings({**PRODUCTION, name: value}, env_file=None)


def test_an_operators_mirror_over_http_is_accepted() -> None:
    settings = load_settings({**PRODUCTION, "HIBP_RANGE_URL": "http://hibp-mirror.internal:8080/range/"}, env_file=None)
    assert settings.hibp_range_url == "http://hibp-mirror.internal:8080/range/"


# --- minimum lengths ----------------------------------------------------------------------------------------------

TWELVE = "violet gecko"  # 12 characters, in no list
SIXTEEN = "violet gecko sky"


async def test_15_for_a_single_factor_refuses_12_characters_at_sign_up_but_an_existing_password_signs_in(
    make_client: MakeClient, make_settings: Callable[..., Settings]
) -> None:
    assert len(TWELVE) == 12
    before = await make_client()  # today's rule, 8
    email = unique_email()
    await register(before, email, TWELVE)

    strict = await make_client(make_settings(password_min_length_single_factor=15))
    assert field_error(await sign_up(strict, TWELVE)) == ("password", "must be at least 15 characters")
    assert (await strict.post(LOGIN, json={"email": email, "password": TWELVE})).status_code == 200
    assert (await sign_up(strict, SIXTEEN)).status_code == 201


async def test_with_mfa_on_a_change_takes_the_with_mfa_minimum(
    make_client: MakeClient, make_settings: Callable[..., Settings], db: AsyncEngine
) -> None:
    assert len(PASSWORD) >= 15
    settings = make_settings(password_min_length_single_factor=15, password_min_length_with_mfa=10)
    with_mfa = await make_client(settings)
    email = unique_email("mfa")
    await register(with_mfa, email)
    await enable_mfa(with_mfa, email, db)
    nine = await with_mfa.post(CHANGE, json={"currentPassword": PASSWORD, "newPassword": "violet gk"})
    assert field_error(nine) == ("newPassword", "must be at least 10 characters")
    twelve = await with_mfa.post(CHANGE, json={"currentPassword": PASSWORD, "newPassword": TWELVE})
    assert twelve.status_code == 204, twelve.text

    single = await make_client(settings)
    await register(single)
    refused = await single.post(CHANGE, json={"currentPassword": PASSWORD, "newPassword": TWELVE})
    assert field_error(refused) == ("newPassword", "must be at least 15 characters")


async def test_a_reset_takes_the_minimum_of_the_account_as_the_reset_leaves_it(
    make_client: MakeClient, make_settings: Callable[..., Settings], smtp: MailSink, db: AsyncEngine
) -> None:
    settings = make_settings(password_min_length_single_factor=15, password_min_length_with_mfa=10, **smtp.settings)
    client = await make_client(settings)

    kept = unique_email("kept")
    await register(client, kept)
    await enable_mfa(client, kept, db)
    await turned_on_days_ago(db, kept, 2)  # older than RESET_REMOVES_MFA_ENABLED_WITHIN: the reset keeps it
    token = await request_token(client, smtp, kept)
    assert (await reset(client, token, TWELVE)).status_code == 204

    client.cookies.clear()
    removed = unique_email("removed")
    await register(client, removed)
    await enable_mfa(client, removed, db)  # just now: the reset turns it off
    token = await request_token(client, smtp, removed)
    assert field_error(await reset(client, token, TWELVE)) == ("password", "must be at least 15 characters")
    # Below either minimum: refused before the link is even looked up.
    assert field_error(await reset(client, token, "violet gk")) == ("password", "must be at least 10 characters")
    assert (await reset(client, token, SIXTEEN)).status_code == 204  # the refusals left the link usable
    signed_in = await client.post(LOGIN, json={"email": removed, "password": SIXTEEN})
    assert signed_in.status_code == 200  # no second step: two-factor sign-in went with the reset
