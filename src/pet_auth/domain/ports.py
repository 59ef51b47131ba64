"""What the domain services need from the outside world, as interfaces."""

from __future__ import annotations

import enum
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from pet_auth.domain.models import Client, PendingSignIn, SessionInfo, SessionRef, User


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    max_hits: int
    window_seconds: int
    # For sign-in limits: a successful attempt forgets the failures counted so far (the account's, the
    # device's); it never does for a client address shared by many accounts.
    cleared_by_success: bool = False
    # Subjects are client addresses, counted per network: an IPv6 client per /64 (see domain/clients.py).
    per_client_network: bool = False


@dataclass(frozen=True, slots=True)
class Limits:
    login_per_account: Limit
    login_per_device: Limit
    login_per_ip: Limit
    register_per_ip: Limit
    forgot_per_ip: Limit
    forgot_per_email: Limit
    email_links_per_account: Limit


Check = tuple[Limit, str]  # a limit and the subject it is counted for


class Outcome(enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    # Ended without an answer on the password (an outage): it counts as nothing.
    ABANDONED = "abandoned"


class RateLimiter(Protocol):
    async def hit(self, *checks: Check) -> None:
        """Count one attempt against each check; raise `RateLimited` when any is over."""

    async def begin_attempt(self, *checks: Check) -> str:
        """Reserve a place for one sign-in attempt under each check, returning its id. Failures counted plus
        attempts in flight never exceed a limit: while attempts in flight hold the rest of the budget, this
        waits for them; when the failures alone reach it, it raises `RateLimited`."""

    async def end_attempt(self, attempt: str, outcome: Outcome, *checks: Check) -> None:
        """Release the attempt's place; count it as a failure, or forget earlier failures on success."""


class SessionRegistry(Protocol):
    async def start(
        self, user: User, credential_version: int, client: Client, replaces: SessionRef | None, *, force: bool = False
    ) -> str:
        """Store a new session and return its token (the cookie value). Raises `CredentialsChanged` when the
        user's credentials were changed past `credential_version`, unless `force` (the caller has just
        confirmed the version with the database)."""

    async def profile_changed(self, user: User) -> None:
        """Show the user's new fields (address, verification) in every session of theirs at once."""

    async def credentials_changed(self, user_id: int, credential_version: int) -> None:
        """End every session of the user, and refuse any session later offered for an earlier version."""

    async def list_sessions(self, user_id: int) -> list[SessionInfo]: ...

    async def end_session(self, user_id: int, handle: str) -> bool: ...

    async def end_all_sessions(self, user_id: int, keep: str | None = None) -> int: ...


class PendingSignIns(Protocol):
    """Sign-ins whose password was accepted and whose second factor is awaited; each lives a few minutes."""

    async def start(self, pending: PendingSignIn) -> str:
        """Keep a pending sign-in; return the token that names it (for the caller's cookie)."""

    async def get(self, token: str) -> PendingSignIn | None: ...

    async def failed(self, token: str, most: int) -> None:
        """Count a wrong code; the pending sign-in ends at the `most`th."""

    async def end(self, token: str) -> bool:
        """End it; False when it had already ended (used, expired, or too many wrong codes)."""


# Runs a coroutine after the response, off the request path.
Spawn = Callable[[Coroutine[Any, Any, None], str], None]
