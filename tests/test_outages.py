"""Dependency outages: private Redis and PostgreSQL servers, stopped and started again while the app runs.

Every endpoint that needs the stopped dependency answers 503 `service_unavailable` (problem+json), never a 500 or a
dropped connection; `/ready` names the dependency; everything recovers by itself once the server is back.
The machine's shared servers are never touched: each test starts its own on a free port.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from pet_auth.config import Settings
from pet_auth.keys import derive_keys
from tests.support.authenticator import code_at, current_step, enable_mfa
from tests.support.clients import PASSWORD, Client, MakeClient, register, unique_email
from tests.support.database import alembic_config
from tests.support.live_server import live_server
from tools.devinfra import PrivatePostgres, PrivateRedis, find_postgres_programs, find_redis_server, free_port

STARTUP_TIMEOUT = 20.0


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, f"{response.request.method} {response.request.url}: {response.text}"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "service_unavailable"


def _wait_for(ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not start")


class RestartableRedis:
    """A private Redis of this test alone (make dev's, keeping nothing on disk); stop() and start() keep the port."""

    def __init__(self, directory: Path, program: Path) -> None:
        self.server = PrivateRedis(directory, program, durable=False)
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.server.start(self.port)

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def private_redis() -> Iterator[RestartableRedis]:
    program = find_redis_server()
    if program is None:
        pytest.skip("needs the redis-server program")
    with tempfile.TemporaryDirectory() as directory:
        server = RestartableRedis(Path(directory), program)
        server.start()
        try:
            yield server
        finally:
            server.stop()


class RestartablePostgres:
    """A PostgreSQL cluster of this module alone (make dev's, without fsync); stop() and start() keep the port."""

    def __init__(self, directory: Path, programs: Path) -> None:
        self.server = PrivatePostgres(directory, programs, durable=False)
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self.server.start(self.port)

    def stop(self, mode: str = "fast", wait: bool = True) -> None:
        # Fast shutdown disconnects every client, so the app's pooled connections break.
        self.server.stop(mode, wait)

    def wait_stopped(self) -> None:
        _wait_for(lambda: not (self.server.data / "postmaster.pid").exists(), "the shutdown")


@pytest.fixture(scope="module")
async def private_postgres() -> AsyncIterator[RestartablePostgres]:
    programs = find_postgres_programs()
    if programs is None:
        pytest.skip("needs the PostgreSQL server programs (initdb, pg_ctl)")
    directory = Path(tempfile.mkdtemp(prefix="pet_auth_pg_"))
    server = RestartablePostgres(directory, programs)
    try:
        await asyncio.to_thread(server.start)
        url = server.url.replace("postgresql://", "postgresql+asyncpg://")
        await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
        yield server
    finally:
        await asyncio.to_thread(server.stop, "immediate")
        shutil.rmtree(directory, ignore_errors=True)


async def _signed_in_requests(client: Client, session_handle: str) -> list[httpx.Response]:
    """One request to every endpoint that reads the session (the client carries the cookie)."""
    return [
        await client.get("/api/auth/me"),
        await client.get("/api/auth/sessions/"),
        await client.delete(f"/api/auth/sessions/{session_handle}"),
        await client.post("/api/auth/sessions/revoke-others"),
        await client.post("/api/auth/change-password", json={"currentPassword": PASSWORD, "newPassword": "x" * 20}),
        await client.post("/api/auth/logout"),
    ]


async def _anonymous_requests(client: Client, reset_token: str) -> list[httpx.Response]:
    """One request to every endpoint that needs Redis without a session: limits, session writes, session ends."""
    fresh = {"email": unique_email(), "password": PASSWORD}
    return [
        await client.post("/api/auth/login", json=fresh),
        await client.post("/api/auth/register", json=fresh),
        await client.post("/api/auth/forgot-password", json={"email": fresh["email"]}),
        await client.post("/api/auth/reset-password", json={"token": reset_token, "password": "a new passphrase!"}),
    ]


async def _add_reset_token(db: AsyncEngine, settings: Settings, user_id: int) -> str:
    token = secrets.token_urlsafe(32)
    token_hash = hmac.new(derive_keys(settings.session_secret).reset_token, token.encode(), hashlib.sha256).hexdigest()
    async with db.begin() as connection:
        await connection.execute(
            text("INSERT INTO password_reset_tokens (user_id, token_hash, expires_at) VALUES (:u, :h, :e)"),
            {"u": user_id, "h": token_hash, "e": datetime.now(UTC) + timedelta(hours=1)},
        )
    return token


async def test_a_redis_outage_is_a_503_everywhere_and_recovers_by_itself(
    make_client: MakeClient, make_settings: Callable[..., Settings], private_redis: RestartableRedis, db: AsyncEngine
) -> None:
    settings = make_settings(redis_url=private_redis.url)
    client = await make_client(settings)
    email = unique_email()
    user = await register(client, email)
    (session,) = (await client.get("/api/auth/sessions/")).json()["sessions"]
    token = await _add_reset_token(db, settings, user["id"])
    cookie = client.cookies[settings.session_cookie_name]

    private_redis.stop()
    for response in await _signed_in_requests(client, session["id"]):
        assert_unavailable(response)
    # The cookie survives a failed request: nothing said the session ended.
    assert client.cookies[settings.session_cookie_name] == cookie
    signed_in = httpx.Cookies(client.cookies)
    client.cookies.clear()
    for response in await _anonymous_requests(client, token):
        assert_unavailable(response)
    # What needs no Redis still works: no session cookie to read, so no user.
    assert (await client.get("/api/auth/me")).status_code == 401
    client.cookies = signed_in
    ready = await client.get("/ready")
    assert_unavailable(ready)
    assert "redis" in ready.json()["detail"]
    assert "postgresql" not in ready.json()["detail"]
    assert (await client.get("/health")).status_code == 200

    private_redis.start()  # same port, empty: the private server kept nothing
    assert (await client.get("/ready")).status_code == 200
    me = await client.get("/api/auth/me")
    assert me.status_code == 401  # the session is gone with the old server's memory...
    assert settings.session_cookie_name not in client.cookies  # ...and its cookie is expired
    login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    assert (await client.get("/api/auth/me")).json()["user"]["email"] == email
    client.cookies.clear()
    await register(client)
    # The reset refused during the outage committed nothing: its token still works.
    response = await client.post("/api/auth/reset-password", json={"token": token, "password": "a new passphrase!"})
    assert response.status_code == 204, response.text


async def _wait_for_lock_wait(db: AsyncEngine, query_prefix: str) -> None:
    """Until a backend of this database waits on a lock while running a statement starting with `query_prefix`."""
    async with db.connect() as connection:
        for _ in range(500):
            waiting = await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE :prefix"
                ),
                {"prefix": f"{query_prefix}%"},
            )
            if waiting:
                return
            await connection.rollback()  # pg_stat_activity is a snapshot taken once per transaction
            await asyncio.sleep(0.01)
    raise AssertionError(f"no backend ever waited on a lock for {query_prefix!r}")


async def test_redis_failing_while_the_session_is_written_is_a_503(
    make_settings: Callable[..., Settings], private_redis: RestartableRedis, db: AsyncEngine
) -> None:
    """At register, the session is stored as the response starts (in the session middleware), after the handler.

    A lock on the users table holds the INSERT until Redis is stopped, so the only Redis call left to fail is
    that session write. (A real server: the in-process test client blocks the test's event loop per request.)
    """
    email = unique_email()
    with live_server(make_settings(redis_url=private_redis.url)) as server:
        async with db.connect() as blocker:
            await blocker.execute(text("BEGIN"))
            await blocker.execute(text("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE"))
            request = asyncio.create_task(
                asyncio.to_thread(
                    httpx.post, f"{server.url}/api/auth/register", json={"email": email, "password": PASSWORD}
                )
            )
            await _wait_for_lock_wait(db, "INSERT INTO users")
            private_redis.stop()
            await blocker.execute(text("ROLLBACK"))
            response = await request
        assert_unavailable(response)
        assert "set-cookie" not in response.headers
        assert response.headers["cache-control"] == "no-store"

        private_redis.start()
        # The account was created before the session write failed; signing in works once Redis is back.
        login = await asyncio.to_thread(
            httpx.post, f"{server.url}/api/auth/login", json={"email": email, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text


async def signed_in_on(make_client: MakeClient, postgres: RestartablePostgres) -> tuple[Client, dict[str, str]]:
    """A client of an app on the private PostgreSQL, signed in; its pool now holds connections."""
    client = await make_client(database_url=postgres.url)
    email = unique_email()
    await register(client, email)
    login = {"email": email, "password": PASSWORD}
    assert (await client.post("/api/auth/login", json=login)).status_code == 200
    return client, login


async def test_a_postgresql_outage_is_a_503_and_pooled_connections_recover(
    make_client: MakeClient, private_postgres: RestartablePostgres
) -> None:
    client, login = await signed_in_on(make_client, private_postgres)

    await asyncio.to_thread(private_postgres.stop)
    try:
        assert_unavailable(await client.post("/api/auth/login", json=login))
        assert_unavailable(
            await client.post("/api/auth/register", json={"email": unique_email(), "password": PASSWORD})
        )
        ready = await client.get("/ready")
        assert_unavailable(ready)
        assert "postgresql" in ready.json()["detail"]
        assert "redis" not in ready.json()["detail"]
        assert (await client.get("/health")).status_code == 200
        # The signed-in user is served from the session alone.
        assert (await client.get("/api/auth/me")).status_code == 200
    finally:
        await asyncio.to_thread(private_postgres.start)

    assert (await client.post("/api/auth/login", json=login)).status_code == 200
    assert (await client.get("/ready")).status_code == 200


async def test_sign_ins_during_a_postgresql_outage_are_not_counted_as_attempts(
    make_client: MakeClient, private_postgres: RestartablePostgres
) -> None:
    """Three times the account's limit of sign-ins answer 503 while PostgreSQL is down; once it is back, the
    right password signs in at once: an outage is not a lockout."""
    _, login = await signed_in_on(make_client, private_postgres)
    strangers = await make_client(database_url=private_postgres.url, rate_limit_login_per_account=3)
    wrong = {**login, "password": "not the password"}

    await asyncio.to_thread(private_postgres.stop)
    try:
        for body in (login, wrong) * 5:
            assert_unavailable(await strangers.post("/api/auth/login", json=body))
    finally:
        await asyncio.to_thread(private_postgres.start)

    assert (await strangers.post("/api/auth/login", json=login)).status_code == 200


async def test_a_postgresql_shutting_down_is_a_503(
    make_client: MakeClient, private_postgres: RestartablePostgres
) -> None:
    """A smart shutdown waits for its clients to leave and meanwhile refuses new connections with
    CannotConnectNowError (SQLSTATE 57P03), as a server starting up does."""
    client = await make_client(database_url=private_postgres.url)
    holder = await asyncpg.connect(private_postgres.url)  # keeps the server in its shutdown until closed
    try:
        await asyncio.to_thread(private_postgres.stop, "smart", wait=False)
        with pytest.raises(asyncpg.CannotConnectNowError):
            await asyncpg.connect(private_postgres.url)
        assert_unavailable(await client.post("/api/auth/login", json={"email": unique_email(), "password": PASSWORD}))
        assert_unavailable(
            await client.post("/api/auth/register", json={"email": unique_email(), "password": PASSWORD})
        )
    finally:
        await holder.close()
        await asyncio.to_thread(private_postgres.wait_stopped)
        await asyncio.to_thread(private_postgres.start)
    email = unique_email()
    await register(client, email)


async def test_a_postgresql_restart_between_requests_costs_no_request(
    make_client: MakeClient, private_postgres: RestartablePostgres
) -> None:
    """Every pooled connection dies with the restart; pool_pre_ping replaces them before use."""
    client, login = await signed_in_on(make_client, private_postgres)

    await asyncio.to_thread(private_postgres.stop)
    await asyncio.to_thread(private_postgres.start)

    assert (await client.post("/api/auth/login", json=login)).status_code == 200
    assert (
        await client.post("/api/auth/register", json={"email": unique_email(), "password": PASSWORD})
    ).status_code == 201


def test_redis_stopped_under_traffic_on_a_real_server(
    make_settings: Callable[..., Settings], private_redis: RestartableRedis
) -> None:
    """Real sockets, two workers, several clients: every request gets an HTTP answer, none a 500."""
    settings = make_settings(
        redis_url=private_redis.url, rate_limit_login_per_ip=100_000, rate_limit_login_per_account=100_000
    )
    with live_server(settings, workers=2) as server:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            email = unique_email()
            assert http.post("/api/auth/register", json={"email": email, "password": PASSWORD}).status_code == 201
            cookie = http.cookies[settings.session_cookie_name]

        statuses: Counter[tuple[str, int]] = Counter()
        failures: list[str] = []
        stop = threading.Event()

        def traffic() -> None:
            session_cookie = {settings.session_cookie_name: cookie}
            with httpx.Client(base_url=server.url, timeout=10, cookies=session_cookie) as own:
                while not stop.is_set():
                    try:
                        me = own.get("/api/auth/me")
                        login = own.post("/api/auth/login", json={"email": email, "password": "wrong password"})
                    except httpx.TransportError as exc:
                        failures.append(repr(exc))
                        continue
                    for name, response in (("me", me), ("login", login)):
                        statuses[(name, response.status_code)] += 1
                        if response.status_code == 503 and response.json()["code"] != "service_unavailable":
                            failures.append(response.text)

        threads = [threading.Thread(target=traffic) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            _wait_for(lambda: sum(statuses.values()) >= 20, "traffic")
            private_redis.stop()
            seen = sum(statuses.values())
            _wait_for(lambda: statuses[("me", 503)] >= 10 and sum(statuses.values()) >= seen + 40, "outage traffic")
        finally:
            stop.set()
            for thread in threads:
                thread.join()

        assert not failures, failures[:5]
        assert set(statuses) <= {("me", 200), ("me", 503), ("login", 401), ("login", 503)}, statuses
        assert statuses[("login", 503)] > 0

        private_redis.start()
        # Each worker reconnects by itself, with no restart: fresh connections, so that both serve some.
        _wait_for(lambda: httpx.get(f"{server.url}/ready", timeout=10).status_code == 200, "recovery")
        for _ in range(6):
            response = httpx.post(
                f"{server.url}/api/auth/login", json={"email": email, "password": "wrong password"}, timeout=10
            )
            assert response.status_code == 401, response.text


async def test_audit_log_lines_carry_no_secrets(
    make_client: MakeClient, make_settings: Callable[..., Settings], db: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(rate_limit_login_per_account=2, rate_limit_login_per_device=2)
    client = await make_client(settings)
    # The app's logging config replaced the root handlers (caplog's among them) as it started.
    audit_logger = logging.getLogger("pet_auth.audit")
    audit_logger.addHandler(caplog.handler)
    try:
        secrets_sent, user_id = await _audited_requests(client, settings, db)
    finally:
        audit_logger.removeHandler(caplog.handler)

    records = [record for record in caplog.records if record.name == "pet_auth.audit"]
    events = [json.loads(record.getMessage()) for record in records]
    assert [event["event"] for event in events] == [
        "register",
        "login_failed",
        "login",
        "reset_requested",
        "logout",
        "login_failed",
        "login_failed",
        "login_rate_limited",
        "reset_completed",
    ]
    for event in events:
        assert event["ip"] == "testclient"
        assert event.get("user_id") == user_id or len(event.get("email_hash", "")) == 16, event
    logged = "\n".join(record.getMessage() for record in records)
    for secret in secrets_sent:
        assert secret not in logged


async def _audited_requests(client: Client, settings: Settings, db: AsyncEngine) -> tuple[list[str], int]:
    """Every audited event once; returns what must never be logged (passwords, email, cookies, token)."""
    email, wrong = unique_email(), "wrong password"
    user = await register(client, email)
    cookies = [client.cookies[settings.session_cookie_name], client.cookies[settings.device_cookie_name]]
    assert (await client.post("/api/auth/login", json={"email": email, "password": wrong})).status_code == 401
    assert (await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})).status_code == 200
    cookies.append(client.cookies[settings.session_cookie_name])
    assert (await client.post("/api/auth/forgot-password", json={"email": email})).status_code == 202
    assert (await client.post("/api/auth/logout")).status_code == 204
    assert (await client.post("/api/auth/logout")).status_code == 204  # signed out already: nothing to audit
    statuses = [
        (await client.post("/api/auth/login", json={"email": email, "password": wrong})).status_code for _ in range(3)
    ]
    assert statuses == [401, 401, 429]
    token = await _add_reset_token(db, settings, user["id"])
    new_password = "another long passphrase"
    response = await client.post("/api/auth/reset-password", json={"token": token, "password": new_password})
    assert response.status_code == 204, response.text
    return [PASSWORD, wrong, new_password, email, token, *cookies], user["id"]


async def test_second_steps_during_a_postgresql_outage_count_nothing(
    make_client: MakeClient, private_postgres: RestartablePostgres
) -> None:
    """Twice the account's limit, and more than the five wrong codes a pending sign-in takes, answer 503 while
    PostgreSQL is down; once it is back, the pending sign-in is still there and a code completes it."""
    client = await make_client(database_url=private_postgres.url, rate_limit_login_per_account=3)
    email = unique_email()
    await register(client, email)
    private_db = create_async_engine(private_postgres.url.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        mfa = await enable_mfa(client, email, private_db)
    finally:
        await private_db.dispose()
    client.cookies.clear()
    assert (await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})).status_code == 202

    await asyncio.to_thread(private_postgres.stop)
    try:
        for _ in range(6):
            assert_unavailable(await client.post("/api/auth/login/mfa", json={"code": "000000"}))
    finally:
        await asyncio.to_thread(private_postgres.start)

    step = await current_step()
    response = await client.post("/api/auth/login/mfa", json={"code": code_at(mfa.secret, step)})
    assert response.status_code == 200, response.text
