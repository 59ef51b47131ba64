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
    # Advanced by every credential change; a session is stored only for the version it was verified against.
    version: int


@dataclass(frozen=True, slots=True)
class Client:
    """Who is calling: the client address and a short description of the device (`Firefox 133 on Windows`)."""

    ip: str
    device: str


@dataclass(frozen=True, slots=True)
class SessionRef:
    """A signed-in session of a user; `handle` is its public name, never the cookie value."""

    user_id: int
    handle: str


@dataclass(frozen=True, slots=True)
class SignIn:
    """A completed sign-in: the session token and the device token for the caller's cookies."""

    user: User
    session_token: str
    device_token: str
    # No valid device token for this account came with the sign-in.
    new_device: bool


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One signed-in device as the user sees it; `handle` is public, never the cookie value."""

    handle: str
    created_at: datetime
    last_seen_at: datetime
    user_agent: str
    ip: str
