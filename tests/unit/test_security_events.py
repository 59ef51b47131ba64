"""The activity log's rules: where a client was (never its address), how an event is built, and that the failure
reaching the account's limit logs a lock, through the ports with in-memory fakes (tests/unit/fakes.py)."""

from __future__ import annotations

import pytest

from pet_auth.domain.clients import display_network
from pet_auth.domain.errors import InvalidCredentials
from pet_auth.domain.models import Client
from pet_auth.domain.security_events import (
    MAX_DEVICE_LENGTH,
    EventKind,
    SecurityEvent,
    activity_link,
    security_event,
)
from tests.unit.fakes import ADA_EMAIL, ADA_ID, LIMITS, Fakes


@pytest.mark.parametrize(
    ("ip", "network"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("198.51.100.255", "198.51.100.0/24"),
        ("::ffff:198.51.100.9", "198.51.100.0/24"),  # an IPv4 address in IPv6 form
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),  # the zone goes too
        ("unknown", None),
        ("testclient", None),
        ("", None),
    ],
)
def test_a_client_is_shown_by_its_network_never_its_address(ip: str, network: str | None) -> None:
    assert display_network(ip) == network


def test_an_event_takes_the_network_and_the_device_and_no_more() -> None:
    client = Client(ip="203.0.113.77", device="x" * 300, known_device=None)
    event = security_event(EventKind.SIGN_IN, client, secondFactor="totp")
    assert event == SecurityEvent(
        EventKind.SIGN_IN, "203.0.113.0/24", "x" * MAX_DEVICE_LENGTH, {"secondFactor": "totp"}
    )
    assert "203.0.113.77" not in repr(event)


def test_the_activity_page_is_on_the_frontend() -> None:
    assert activity_link("https://pets.example/") == "https://pets.example/security"


async def test_the_failure_that_reaches_the_account_limit_logs_a_lock_and_a_device_limit_none(fakes: Fakes) -> None:
    await fakes.add_account()
    fakes.limiter.reached_by_failures = True
    client = Client(ip="192.0.2.1", device="curl/8.5.0")
    with pytest.raises(InvalidCredentials):
        await fakes.auth.authenticate(ADA_EMAIL, "not the password", client, None)
    [(user_id, locked)] = fakes.db.tables.security_events
    assert (user_id, locked.kind, dict(locked.detail)) == (ADA_ID, EventKind.ACCOUNT_LOCKED, {"factor": "password"})
    assert locked.network == "192.0.2.0/24"

    # A device's own limit locks that device only: no event. An unknown address has no account to log.
    await fakes.auth.account_locked(ADA_ID, (LIMITS.login_per_device, "user:7:1:device:x"), client, factor="password")
    with pytest.raises(InvalidCredentials):
        await fakes.auth.authenticate("nobody@example.com", "not the password", client, None)
    assert len(fakes.db.tables.security_events) == 1
