"""Plain domain objects, free of HTTP and SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Credentials:
    user: User
    password_hash: str


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One signed-in device as the user sees it; `handle` is public, never the cookie value."""

    handle: str
    created_at: datetime
    last_seen_at: datetime
    user_agent: str
    ip: str
