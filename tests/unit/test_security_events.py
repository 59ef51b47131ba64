"""The activity log's rules: where a client was (never its address), how an event is built, and that the failure
reaching the account's limit logs a lock, through the ports with in-memory fakes."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from pet_auth.domain.clients import display_network
from pet_auth.domain.errors import InvalidCredentials
from pet_auth.domain.models import Client
from pet_auth.domain.passwords import PasswordHasher
from pet_auth.domain.ports import Check, Outcome
from pet_auth.domain.security_events import (
    MAX_DEVICE_LENGTH,
    EventKind,
    EventPage,
    SecurityEvent,
    activity_link,
    security_event,
)
from tests.unit.test_rules import ADA, LIMITS, PASSWORD, FakeLimiter, FakeUsers, auth_service, hasher

__all__ = ["hasher"]  # the fixture, shared with test_rules


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


@dataclass
class FakeEvents:
    added: list[tuple[int, SecurityEvent]] = field(default_factory=list)

    async def add(self, user_id: int, event: SecurityEvent) -> None:
        self.added.append((user_id, event))

    async def page_for_user(self, user_id: int, before: int | None, limit: int) -> EventPage:
        raise AssertionError("unexpected")

    async def purge_older_than(self, days: int) -> int:
        raise AssertionError("unexpected")


@dataclass
class ReachingLimiter(FakeLimiter):
    """A limiter whose failures reach every limit at once."""

    async def end_attempt(self, attempt: str, outcome: Outcome, *checks: Check) -> tuple[Check, ...]:
        await super().end_attempt(attempt, outcome, *checks)
        return checks if outcome is Outcome.FAILURE else ()


async def test_the_failure_that_reaches_the_account_limit_logs_a_lock_and_a_device_limit_none(
    hasher: PasswordHasher,
) -> None:
    events = FakeEvents()
    auth = auth_service(FakeUsers(ADA, await hasher.hash(PASSWORD)), ReachingLimiter(), hasher, events)
    client = Client(ip="192.0.2.1", device="curl/8.5.0")
    with pytest.raises(InvalidCredentials):
        await auth.authenticate(ADA.profile.email, "not the password", client, None)
    [(user_id, locked)] = events.added
    assert (user_id, locked.kind, dict(locked.detail)) == (ADA.id, EventKind.ACCOUNT_LOCKED, {"factor": "password"})
    assert locked.network == "192.0.2.0/24"

    # A device's own limit locks that device only: no event. An unknown address has no account to log.
    await auth.account_locked(ADA.id, (LIMITS.login_per_device, "user:7:1:device:x"), client, factor="password")
    with pytest.raises(InvalidCredentials):
        await auth.authenticate("nobody@example.com", "not the password", client, None)
    assert len(events.added) == 1
