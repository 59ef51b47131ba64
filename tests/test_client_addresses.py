"""Which client a request counts against: IPv6 per /64, forwarded headers only from FORWARDED_ALLOW_IPS."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from pet_auth.config import Settings
from pet_auth.domain.clients import client_network
from tests.support.clients import PASSWORD, unique_email
from tests.support.live_server import live_server

LOGIN = "/api/auth/login"
LIMIT = 3
# The rule is the app's (app_from_env), so it holds under either server.
SERVERS = pytest.mark.parametrize("http_server", ["uvicorn", "granian"])


@pytest.mark.parametrize(
    ("ip", "counted_as"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("unknown", "unknown"),
    ],
)
def test_an_ipv6_client_is_counted_per_64(ip: str, counted_as: str) -> None:
    assert client_network(ip) == counted_as


def _failed_logins(http: httpx.Client, forwarded_for: list[str]) -> list[int]:
    """One failed sign-in (each for a new address, so only the per-client limit counts) per X-Forwarded-For."""
    return [
        http.post(
            LOGIN,
            json={"email": unique_email("nobody"), "password": PASSWORD},
            headers={"X-Forwarded-For": address},
        ).status_code
        for address in forwarded_for
    ]


@SERVERS
def test_ipv6_clients_behind_a_trusted_proxy_share_a_limit_per_64(
    make_settings: Callable[..., Settings], http_server: str
) -> None:
    settings = make_settings(rate_limit_login_per_ip=LIMIT, forwarded_allow_ips="127.0.0.1", http_server=http_server)
    with live_server(settings) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        same_64 = [f"2001:db8:1:2::{n:x}" for n in range(1, LIMIT + 2)]
        assert _failed_logins(http, same_64) == [401] * LIMIT + [429]
        # Another /64, and an IPv4 client, are other clients: the proxy's word is believed.
        assert _failed_logins(http, ["2001:db8:1:3::1", "203.0.113.7"]) == [401, 401]


@SERVERS
def test_an_untrusted_client_rotating_x_forwarded_for_stays_one_client(
    make_settings: Callable[..., Settings], http_server: str
) -> None:
    # FORWARDED_ALLOW_IPS unset: no proxy is trusted, not even one on this host.
    settings = make_settings(rate_limit_login_per_ip=LIMIT, http_server=http_server)
    assert settings.forwarded_allow_ips == ""
    with live_server(settings) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        rotating = [f"198.51.100.{n}" for n in range(1, LIMIT + 3)]
        assert _failed_logins(http, rotating) == [401] * LIMIT + [429, 429]


@SERVERS
def test_a_client_not_in_forwarded_allow_ips_is_not_believed(
    make_settings: Callable[..., Settings], http_server: str
) -> None:
    settings = make_settings(rate_limit_login_per_ip=LIMIT, forwarded_allow_ips="192.0.2.1", http_server=http_server)
    with live_server(settings) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        rotating = [f"198.51.100.{n}" for n in range(1, LIMIT + 2)]
        assert _failed_logins(http, rotating) == [401] * LIMIT + [429]
