"""Prometheus metrics: off by default (404), counters that move with the calls made, the bearer token enforced,
and counts summed over worker processes."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from pet_auth.config import Settings
from tests.support.clients import PASSWORD, MakeClient, forget_device, register, unique_email
from tests.support.live_server import live_server
from tests.support.metrics import samples, value
from tests.support.recovery import NEW_PASSWORD, request_token, reset
from tests.support.smtp import running_sink
from tools.devinfra import free_port

LOGIN = "/api/auth/login"
TOKEN = "metrics-token-" + "y" * 20


async def test_metrics_are_off_unless_enabled(make_client: MakeClient) -> None:
    client = await make_client()
    assert (await client.get("/metrics")).status_code == 404


async def test_the_counters_follow_the_calls(make_client: MakeClient) -> None:
    client = await make_client(metrics_enabled=True, rate_limit_login_per_account=2)

    async def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = await client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; version=1.0.0; charset=utf-8"
        return samples(response.text)

    before = await scrape()
    email = unique_email()
    await register(client, email)
    assert (await client.get("/api/auth/me")).status_code == 200
    assert (await client.post("/api/auth/logout")).status_code == 204
    assert (await client.post("/api/auth/logout")).status_code == 204  # signed out already: no revocation
    assert (await client.post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 200
    assert (await client.post("/api/auth/sessions/revoke-others")).status_code == 204
    forget_device(client)
    client.cookies.clear()
    for expected in (401, 401, 429):
        assert (await client.post(LOGIN, json={"email": email, "password": "not the password"})).status_code == expected
    after = await scrape()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("pet_auth_registrations_total") == 1
    assert moved("pet_auth_logins_total", outcome="success") == 1
    assert moved("pet_auth_logins_total", outcome="failure") == 2
    assert moved("pet_auth_logins_total", outcome="rate_limited") == 1
    assert moved("pet_auth_logins_total", outcome="unavailable") == 0
    assert moved("pet_auth_session_revocations_total", reason="logout") == 1
    assert moved("pet_auth_session_revocations_total", reason="revoke_others") == 1
    assert moved("pet_auth_rate_limited_total", route=LOGIN) == 1
    me = {"method": "GET", "route": "/api/auth/me"}
    assert moved("pet_auth_request_duration_seconds_count", **me) == 1
    assert moved("pet_auth_request_duration_seconds_bucket", le="+Inf", **me) == 1
    assert moved("pet_auth_request_duration_seconds_count", method="POST", route=LOGIN) == 4


async def test_the_token_is_required_when_set(make_client: MakeClient) -> None:
    client = await make_client(metrics_enabled=True, metrics_token=TOKEN)
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
        refused = await client.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["code"] == "not_authenticated"
        assert "pet_auth_" not in refused.text
    allowed = await client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert allowed.status_code == 200
    assert "pet_auth_logins_total" in allowed.text


def test_several_workers_sum_their_counts(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(metrics_enabled=True, rate_limit_register_per_ip=1000)
    registrations = 12
    with live_server(settings, workers=2) as server:
        for _ in range(registrations):
            # A connection each: the kernel spreads them over the two workers.
            with httpx.Client(base_url=server.url, timeout=10) as client:
                body = {"email": unique_email("worker"), "password": PASSWORD}
                assert client.post("/api/auth/register", json=body).status_code == 201
        scrapes = []
        for _ in range(4):
            with httpx.Client(base_url=server.url, timeout=10) as client:
                scrapes.append(value(samples(client.get("/metrics").text), "pet_auth_registrations_total"))
    assert scrapes == [registrations] * 4


async def test_a_sign_in_during_an_outage_counts_as_unavailable(make_client: MakeClient) -> None:
    client = await make_client(metrics_enabled=True, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    response = await client.post(LOGIN, json={"email": unique_email(), "password": PASSWORD})
    assert response.status_code == 503
    scraped = samples((await client.get("/metrics")).text)
    assert value(scraped, "pet_auth_logins_total", outcome="unavailable") == 1
    assert value(scraped, "pet_auth_logins_total", outcome="failure") == 0


async def test_each_kind_of_revocation_and_a_reset_are_counted(make_client: MakeClient) -> None:
    with running_sink() as smtp:
        laptop = await make_client(metrics_enabled=True, **smtp.settings)
        phone = await make_client(metrics_enabled=True, **smtp.settings)
        email = unique_email()
        await register(laptop, email)
        assert (await phone.post(LOGIN, json={"email": email, "password": PASSWORD})).status_code == 200
        listed = (await laptop.get("/api/auth/sessions")).json()["sessions"]
        other = next(session["id"] for session in listed if not session["current"])
        assert (await laptop.delete(f"/api/auth/sessions/{other}")).status_code == 204
        change = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
        assert (await laptop.post("/api/auth/change-password", json=change)).status_code == 204
        token = await request_token(phone, smtp, email)
        assert (await reset(phone, token, PASSWORD)).status_code == 204
        # Two apps, two registries (as two processes without a shared directory would have): their sum.
        scrapes = [samples((await client.get("/metrics")).text) for client in (laptop, phone)]
    scraped = {key: sum(scrape.get(key, 0.0) for scrape in scrapes) for key in {*scrapes[0], *scrapes[1]}}
    revocations = "pet_auth_session_revocations_total"
    assert value(scraped, revocations, reason="revoke_one") == 1
    assert value(scraped, revocations, reason="password_change") == 1
    assert value(scraped, revocations, reason="password_reset") == 1
    assert value(scraped, revocations, reason="logout") == 0
    assert value(scraped, "pet_auth_password_resets_total") == 1


@pytest.mark.parametrize(
    ("server", "workers", "token"),
    [("uvicorn", 1, ""), ("uvicorn", 2, ""), ("granian", 1, TOKEN)],
    ids=["uvicorn-in-process", "uvicorn-2-workers", "granian-worker-with-token"],
)
def test_metrics_bind_serves_every_workers_counts_on_an_internal_address_only(
    make_settings: Callable[..., Settings], server: str, workers: int, token: str
) -> None:
    # Production, which would refuse METRICS_ENABLED without a token, but for METRICS_BIND.
    internal = free_port()
    settings = make_settings(
        app_env="production",
        session_secret="p" * 48,
        http_server=server,
        metrics_enabled=True,
        metrics_token=token,
        metrics_bind=f"127.0.0.1:{internal}",
    )
    registrations = 6
    bearer = {"authorization": f"Bearer {token}"} if token else {}
    with live_server(settings, workers=workers) as live:
        for _ in range(registrations):
            # A connection each: with two workers, the kernel spreads them.
            with httpx.Client(base_url=live.url, timeout=10) as client:
                body = {"email": unique_email("internal"), "password": PASSWORD}
                assert client.post("/api/auth/register", json=body).status_code == 201
        with httpx.Client(base_url=live.url, timeout=10) as public:
            for headers in ({}, bearer):
                assert public.get("/metrics", headers=headers).status_code == 404
        with httpx.Client(base_url=f"http://127.0.0.1:{internal}", timeout=10) as scraper:
            if token:
                for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": token}):
                    refused = scraper.get("/metrics", headers=headers)
                    assert refused.status_code == 401
                    assert refused.headers["www-authenticate"] == "Bearer"
                    assert refused.json()["code"] == "not_authenticated"
                    assert "pet_auth_" not in refused.text
            scraped = [samples(scraper.get("/metrics", headers=bearer).raise_for_status().text) for _ in range(3)]
    for scrape in scraped:
        assert value(scrape, "pet_auth_registrations_total") == registrations
        register_route = {"method": "POST", "route": "/api/auth/register"}
        assert value(scrape, "pet_auth_request_duration_seconds_count", **register_route) == registrations
