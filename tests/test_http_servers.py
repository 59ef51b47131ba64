"""What `python -m pet_auth serve` promises under either HTTP server (HTTP_SERVER=uvicorn, the default, or
granian): it serves with its databases down, the body limit, graceful shutdown, WEB_CONCURRENCY workers, no access
log; and the one difference, the Server header, which is why uvicorn stays the default (docs/performance.md).
(The forwarded-header rule under both: tests/test_client_addresses.py.)"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest

from pet_auth.config import Settings
from tests.support.clients import PASSWORD, unique_email
from tests.support.live_server import live_server, worker_processes
from tools.devinfra import free_port

SERVERS = ["uvicorn", "granian"]
LOGIN = "/api/auth/login"


@pytest.mark.parametrize("server", SERVERS)
def test_it_serves_while_postgresql_and_redis_are_down(make_settings: Callable[..., Settings], server: str) -> None:
    nothing = free_port()  # nothing listens there
    settings = make_settings(
        http_server=server,
        database_url=f"postgresql://postgres@127.0.0.1:{nothing}/pet_auth",
        redis_url=f"redis://127.0.0.1:{nothing}/0",
    )
    with live_server(settings) as live:  # it answers /health
        ready = httpx.get(f"{live.url}/ready", timeout=30)
    assert ready.status_code == 503
    assert ready.json()["detail"] == "Unavailable: postgresql, redis."


@pytest.mark.parametrize("server", SERVERS)
def test_the_body_limit_and_the_media_type_hold(make_settings: Callable[..., Settings], server: str) -> None:
    with live_server(make_settings(http_server=server)) as live, httpx.Client(base_url=live.url, timeout=30) as http:
        too_large = http.post(LOGIN, content=b'{"email":"' + b"x" * 17 * 1024 + b'"}', headers=_json())
        assert too_large.status_code == 413
        assert too_large.json()["code"] == "request_too_large"
        not_json = http.post(LOGIN, content=b"email=a", headers={"Content-Type": "text/plain"})
        assert not_json.status_code == 415
        assert not_json.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("server", SERVERS)
def test_a_request_in_flight_at_shutdown_is_answered(make_settings: Callable[..., Settings], server: str) -> None:
    body = f'{{"email":"{unique_email("nobody")}","password":"{PASSWORD}"}}'.encode()
    with live_server(make_settings(http_server=server)) as live:
        address = urlsplit(live.url)
        with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
            # The request's head and half its body, then SIGTERM: the server stops while the request is in flight.
            head = (
                f"POST {LOGIN} HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            connection.sendall(head + body[: len(body) // 2])
            time.sleep(0.5)
            live.process.terminate()
            time.sleep(0.5)
            connection.sendall(body[len(body) // 2 :])
            answer = _read_response(connection)
        assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
        assert b'"code":"invalid_credentials"' in answer
        live.process.wait(timeout=15)  # and then it stops (uvicorn re-raises the SIGTERM: no exit status to check)


@pytest.mark.parametrize("server", SERVERS)
def test_web_concurrency_starts_that_many_workers(make_settings: Callable[..., Settings], server: str) -> None:
    with live_server(make_settings(http_server=server), workers=2) as live:
        assert len(worker_processes(live.process.pid)) == 2


@pytest.mark.parametrize("server", SERVERS)
def test_requests_are_not_logged(make_settings: Callable[..., Settings], server: str) -> None:
    with live_server(make_settings(http_server=server)) as live, httpx.Client(base_url=live.url, timeout=30) as http:
        assert http.get("/api/auth/me").status_code == 401
        assert http.get("/health").status_code == 200
        time.sleep(0.5)
        output = live.output()
    assert "/api/auth/me" not in output
    assert "/health" not in output


def test_uvicorn_sends_no_server_header(make_settings: Callable[..., Settings]) -> None:
    with live_server(make_settings(http_server="uvicorn")) as live:
        assert "server" not in httpx.get(f"{live.url}/health").headers


def test_granian_names_itself_in_a_server_header(make_settings: Callable[..., Settings]) -> None:
    """Why Granian is not the default. Should a release let it be turned off, this fails: choose again."""
    with live_server(make_settings(http_server="granian")) as live:
        assert httpx.get(f"{live.url}/health").headers["server"] == "granian"


def _json() -> dict[str, str]:
    return {"Content-Type": "application/json"}


def _read_response(connection: socket.socket) -> bytes:
    """One whole response (the head, then Content-Length bytes of body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body
