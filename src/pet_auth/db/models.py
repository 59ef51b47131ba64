"""Tables, mapped with SQLAlchemy 2. Alembic migrations own the schema; these must agree with them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Identity(always=True), primary_key=True)
    # Always in the canonical form of domain/emails.py, so equality is the lookup and the unique constraint.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    # Deferred: only the login and password-change paths ask for it.
    password_hash: Mapped[str] = mapped_column(Text, deferred=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Advanced by every credential change, in the transaction that makes it; a session is only stored for the
    # version it was verified against (see redis_store/sessions.py).
    credential_version: Mapped[int] = mapped_column(BigInteger, server_default=text("1"))
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Advanced by every change of what a session shows of the user (address, verification), so that a sign-in that
    # read the user before the change cannot put the old profile back in Redis (see redis_store/sessions.py).
    profile_version: Mapped[int] = mapped_column(BigInteger, server_default=text("1"))
    # The WebAuthn user handle (64 random bytes), made the first time the user registers a passkey.
    webauthn_user_handle: Mapped[bytes | None] = mapped_column(LargeBinary, unique=True)


class PasswordResetTokenRow(Base):
    __tablename__ = "password_reset_tokens"

    id: Mapped[int] = mapped_column(Identity(always=True), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # HMAC-SHA256 of the token; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EmailTokenRow(Base):
    """A link mailed to prove an address: `verify` (the account's address) or `change` (a new address)."""

    __tablename__ = "email_tokens"
    __table_args__ = (CheckConstraint("purpose IN ('verify', 'change')", name="purpose"),)

    id: Mapped[int] = mapped_column(Identity(always=True), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    # The address the link was mailed to: it proves that one only.
    email: Mapped[str] = mapped_column(String(254))
    # The user's credential version when it was issued: once that moves on, the link is refused.
    credential_version: Mapped[int] = mapped_column(BigInteger)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class UserMfaRow(Base):
    """A user's TOTP authenticator. `enabled_at` is NULL while a setup waits for its first code."""

    __tablename__ = "user_mfa"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    # AES-256-GCM: 12-byte nonce, then the sealed 20-byte secret (domain/secret_box.py); never the secret in clear.
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    enabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The 30-second step of the last code accepted: no code of that step or an earlier one is accepted again.
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MfaRecoveryCodeRow(Base):
    """An unused recovery code; using one deletes its row."""

    __tablename__ = "mfa_recovery_codes"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_mfa.user_id", ondelete="CASCADE"), primary_key=True)
    # HMAC-SHA256 of the user id and the code: the codes themselves are shown once and never stored.
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SecurityEventRow(Base):
    """An entry of a user's activity log (domain/security_events.py); it goes with the account."""

    __tablename__ = "security_events"
    __table_args__ = (
        # The per-user cursor, newest first: `WHERE user_id = ? AND id < ? ORDER BY id DESC`.
        Index("ix_security_events_user_id_id", "user_id", "id"),
        # The retention purge.
        Index("ix_security_events_occurred_at", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The client's network (an IPv4 /24, an IPv6 /64), never its address; NULL when it had none.
    network: Mapped[str | None] = mapped_column(String(43))
    # The short device description of the sessions list ("Firefox 133 on Windows"), never the raw User-Agent.
    device: Mapped[str] = mapped_column(String(64))
    # A few plain facts (counts, flags); never a secret.
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class WebauthnCredentialRow(Base):
    """A passkey of a user (domain/passkeys.py); it goes with the account."""

    __tablename__ = "webauthn_credentials"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    # The credential's COSE public key, as the authenticator gave it: public, but the one that verifies sign-ins.
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    # The authenticator's signature counter as last seen (0: it keeps none, as synced passkeys do).
    sign_count: Mapped[int] = mapped_column(BigInteger)
    transports: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    aaguid: Mapped[str] = mapped_column(String(36))
    backup_eligible: Mapped[bool] = mapped_column(Boolean)
    backed_up: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
