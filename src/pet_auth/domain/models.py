"""Plain domain objects, free of HTTP and SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Profile:
    """The user's own fields that a session serves (`GET /me` answers from it, no SQL): one declaration, read from
    PostgreSQL (db/repositories.py), kept in Redis (redis_store/sessions.py) and shown (http/schemas.py `UserOut`)."""

    email: str
    created_at: datetime
    email_verified: bool = False
    # Sign-in asks for a second factor (a TOTP code or a recovery code) after the password.
    mfa_enabled: bool = False


@dataclass(frozen=True, slots=True)
class CurrentUser:
    """The signed-in user as their session knows them: what a request needs, no SQL. Writes read the user (and
    its profile version) from PostgreSQL."""

    id: int
    profile: Profile
    # When this session last proved a factor of the user (sign-in, re-authentication), seconds since the epoch;
    # 0 for never. Sensitive changes ask for a recent proof ("sudo mode", domain/sudo.py).
    proved_at: int = 0


@dataclass(frozen=True, slots=True)
class User:
    """A user as PostgreSQL has them."""

    id: int
    profile: Profile
    # Advanced by every change of the profile: signed-in sessions show the newest.
    profile_version: int


@dataclass(frozen=True, slots=True)
class Credentials:
    user: User
    password_hash: str
    # Advanced by every credential change; a session is stored only for the version it was verified against.
    version: int


@dataclass(frozen=True, slots=True)
class Client:
    """Who is calling: the client address and a short description of the device (`Firefox 133 on Windows`; for
    other clients their first product token, `curl/8.5.0`)."""

    ip: str
    device: str
    # The description when it names a known browser and system only, which is all a mail may show: `device` of
    # another client is text the client chose. None for any other client.
    known_device: str | None = None


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
    # None when the account's budget of new device cookies is spent: the client keeps the one it has.
    device_token: str | None
    # No valid device token for this account came with the sign-in.
    new_device: bool


@dataclass(frozen=True, slots=True)
class Renewed:
    """After a credential change made from a signed-in browser: its new session and device cookie (the change
    ended every session and device cookie of the account, this browser's too)."""

    session_token: str
    device_token: str


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One signed-in device as the user sees it; `handle` is public, never the cookie value."""

    handle: str
    created_at: datetime
    last_seen_at: datetime
    user_agent: str
    ip: str


@dataclass(frozen=True, slots=True)
class MfaChallenge:
    """A password accepted for an account with two-factor sign-in: no session yet. `token` (for the caller's
    cookie) names the pending sign-in that a code completes."""

    token: str


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    """What a password sign-in verified, kept until its second factor: the account, the credential version the
    password matched, and the device id of a genuine device cookie for the account, if one came with it."""

    user_id: int
    credential_version: int
    device_id: str | None


@dataclass(frozen=True, slots=True)
class MfaRecord:
    """A user's TOTP authenticator as stored: the sealed secret, whether it is on (a setup waits for its first
    code), and the step of the last code accepted."""

    secret_ciphertext: bytes
    enabled: bool
    last_used_step: int | None
    # When the setup began (or was replaced): an unconfirmed setup expires.
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LockedAccount:
    """A user's row as a credential change finds it, locked until its transaction ends."""

    credential_version: int
    email: str
    email_verified: bool
    # The account has a password to sign in with (every account has one today; passkey-only accounts may follow).
    has_password: bool = True


@dataclass(frozen=True, slots=True)
class Passkey:
    """A passkey as its owner sees it."""

    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    # Synced to the authenticator's cloud (its backup state, as last seen).
    backed_up: bool
    transports: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NewPasskey:
    """A passkey an authenticator has just made and the service verified, to be stored."""

    credential_id: bytes
    public_key: bytes  # COSE
    sign_count: int
    transports: tuple[str, ...]
    aaguid: str
    backup_eligible: bool
    backed_up: bool
    name: str


@dataclass(frozen=True, slots=True)
class PasskeyDescriptor:
    """A stored passkey as a ceremony names it to the browser (excluded from a registration, allowed to answer)."""

    credential_id: bytes
    transports: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PasskeyOwner:
    """A passkey with its owner's account, read in one statement: what a sign-in checks an assertion against, and
    the credential version its session will be stored for (a reset or a deletion committed since refuses it)."""

    passkey_id: int
    public_key: bytes
    sign_count: int
    user_handle: bytes | None
    credentials: Credentials  # no password hash: a passkey sign-in needs none


@dataclass(frozen=True, slots=True)
class IssuedChallenge:
    """A WebAuthn challenge as it was issued: to whom (None for an anonymous sign-in), and its bytes."""

    user_id: int | None
    challenge: bytes
