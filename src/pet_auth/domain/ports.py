"""What the domain services need from the outside world, as interfaces."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from pet_auth.domain.models import SessionInfo


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    max_hits: int
    window_seconds: int
    # Subjects are client addresses, counted per network: an IPv6 client per /64 (see domain/clients.py).
    per_client_network: bool = False


@dataclass(frozen=True, slots=True)
class Limits:
    login_per_account: Limit
    login_per_ip: Limit
    register_per_ip: Limit
    forgot_per_ip: Limit
    forgot_per_email: Limit


class RateLimiter(Protocol):
    async def hit(self, *checks: tuple[Limit, str]) -> None:
        """Count one attempt against each (limit, subject); raise `RateLimited` when any is over."""

    async def forgive(self, limit: Limit, subject: str, refund: tuple[Limit, str] | None = None) -> None:
        """After a success: forget the attempts counted for a subject; take back the one attempt counted for
        `refund` (it succeeded, so it was no failure)."""


class SessionRegistry(Protocol):
    async def list_sessions(self, user_id: int) -> list[SessionInfo]: ...

    async def end_session(self, user_id: int, handle: str) -> bool: ...

    async def end_all_sessions(self, user_id: int, keep: str | None = None) -> int: ...


# Runs a coroutine after the response, off the request path.
Spawn = Callable[[Awaitable[None], str], None]
