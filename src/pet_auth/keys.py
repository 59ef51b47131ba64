"""One key per purpose, each derived from SESSION_SECRET.

A digest made for one purpose is then never valid for another (a rate-limit key or an audit line's email hash
tells nothing about a session digest or a reset-token hash), and a purpose can change how it uses its key on its
own. Each key is HMAC-SHA256(SESSION_SECRET, label): with a secret of at least 32 random bytes, that is a
pseudo-random function of the label (HKDF's expand step, one block), so no new package is needed.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

# Changing a label changes its key: every digest made with the old one stops matching.
_LABELS = {
    "session_digest": "pet_auth/v1/session-digest",
    "reset_token": "pet_auth/v1/reset-token",
    "rate_limit": "pet_auth/v1/rate-limit-subject",
    "audit": "pet_auth/v1/audit-email",
    # The label device cookies were first signed under (issue 13): the cookies already issued stay genuine.
    "device_cookie": "pet_auth device cookie",
    "email_link": "pet_auth/v1/email-link",
    "mfa_pending": "pet_auth/v1/mfa-pending-sign-in",
    "webauthn_challenge": "pet_auth/v1/webauthn-challenge",
}


@dataclass(frozen=True, slots=True, repr=False)
class Keys:
    session_digest: bytes  # Redis field of a session: HMAC(key, cookie value)
    reset_token: bytes  # stored hash of a password reset token
    rate_limit: bytes  # Redis key of a rate-limit subject (email, client network)
    audit: bytes  # email hash in the audit log and in the console mailer's production line
    device_cookie: bytes  # signs device cookies
    email_link: bytes  # stored hash of a verification or address-change link's token
    mfa_pending: bytes  # Redis key of a pending two-factor sign-in
    webauthn_challenge: bytes  # Redis key of a passkey challenge (by session handle or flow token)


def derive_keys(secret: str) -> Keys:
    master = secret.encode()
    return Keys(**{purpose: hmac.digest(master, label.encode(), "sha256") for purpose, label in _LABELS.items()})


def derive_mfa_keys(mfa_encryption_key: bytes | None, session_secret: str) -> tuple[bytes, bytes]:
    """The AES-256-GCM key of stored TOTP secrets and the key of recovery-code hashes, each derived for its purpose
    from MFA_ENCRYPTION_KEY, or from SESSION_SECRET without it. Both guard data kept in PostgreSQL: when the root
    changes, stored secrets no longer open and codes no longer match (the users must set two-factor sign-in up
    again), hence a root of their own that can outlive a change of SESSION_SECRET."""
    root = mfa_encryption_key or session_secret.encode()
    return (
        hmac.digest(root, b"pet_auth mfa secret encryption", "sha256"),
        hmac.digest(root, b"pet_auth mfa recovery codes", "sha256"),
    )
