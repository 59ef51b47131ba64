"""The account's activity log: security events, kept in PostgreSQL for the user to review (`GET /security-events`).

An event records a change (or a refused second factor) of the user's own account: its kind, when, roughly where
(the client's /24 or /64, domain/clients.py) and from what (the short device description of the sessions list),
with a small detail of plain facts: never a password, token, code, cookie or full address.

An event is written in the transaction of the change it records, so a change that fails (or rolls back) leaves
none. Some actions have no transaction: a sign-in (sessions live in Redis), ending sessions, a lock (the limits
live in Redis), a wrong second factor (its transaction rolls back). Their events are written by `record_alone`, in a
small transaction of its own right after the action succeeded.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pet_auth.domain.clients import display_network
from pet_auth.domain.models import Client

if TYPE_CHECKING:
    from pet_auth.domain.ports import UnitOfWork

# Where the SPA shows the activity log; every notice about the account's security links to it.
ACTIVITY_PATH = "/security"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_DEVICE_LENGTH = 64
# Ids are PostgreSQL bigints: a cursor past the largest is no id at all.
MAX_EVENT_ID = 2**63 - 1

# A fact about the event: a count, a flag, a method's name. Never a secret.
DetailValue = int | bool | str


class EventKind(enum.StrEnum):
    SIGN_IN = "sign_in"
    # The password was right, the second factor was not.
    SIGN_IN_FAILED = "sign_in_failed"
    # A sign-in from a browser without a device cookie for the account (it comes with its `sign_in`).
    NEW_DEVICE = "new_device"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a kind, not a password
    PASSWORD_RESET = "password_reset"  # noqa: S105 - likewise
    PASSWORD_REMOVED = "password_removed"  # noqa: S105 - likewise
    EMAIL_CHANGE_REQUESTED = "email_change_requested"
    EMAIL_CHANGED = "email_changed"
    EMAIL_VERIFIED = "email_verified"
    MFA_ENABLED = "mfa_enabled"
    MFA_DISABLED = "mfa_disabled"
    RECOVERY_CODE_USED = "recovery_code_used"
    RECOVERY_CODES_REGENERATED = "recovery_codes_regenerated"
    SESSION_ENDED = "session_ended"
    OTHER_SESSIONS_REVOKED = "other_sessions_revoked"
    # Failed attempts reached the account's limit (for browsers without a device cookie for it) in a window.
    ACCOUNT_LOCKED = "account_locked"
    PASSKEY_ADDED = "passkey_added"
    PASSKEY_REMOVED = "passkey_removed"


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """An event as the domain builds it; the database gives it its id and time."""

    kind: EventKind
    network: str | None
    device: str
    detail: Mapping[str, DetailValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as stored."""

    id: int
    kind: EventKind
    occurred_at: datetime
    network: str | None
    device: str
    detail: Mapping[str, DetailValue]


@dataclass(frozen=True, slots=True)
class EventPage:
    """Events newest first; `next_before` is the cursor of the next (older) page, None after the last."""

    events: list[RecordedEvent]
    next_before: int | None


def security_event(kind: EventKind, client: Client, **detail: DetailValue) -> SecurityEvent:
    """The event of `kind` by `client`: its network (never its address) and device description."""
    return SecurityEvent(kind, display_network(client.ip), client.device[:MAX_DEVICE_LENGTH], detail)


async def record_alone(db: UnitOfWork, user_id: int, *events: SecurityEvent) -> None:
    """The events of an action that has no transaction of its own (its state lives in Redis), in a small one, once
    the action has succeeded. Nothing is written for an account deleted meanwhile."""
    async with db.transaction() as repos:
        for event in events:
            await repos.security_events.add(user_id, event)


def activity_link(frontend_url: str) -> str:
    return f"{frontend_url.rstrip('/')}{ACTIVITY_PATH}"


def now_in_words() -> str:
    """The time for a notice: to the minute, in UTC."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
