"""Repositories: every SQL statement of the service lives here, named for what it means."""

from __future__ import annotations

import secrets
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, bindparam, delete, exists, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from pet_auth.db.models import (
    EmailTokenRow,
    MfaRecoveryCodeRow,
    PasswordResetTokenRow,
    SecurityEventRow,
    UserMfaRow,
    UserRow,
    WebauthnCredentialRow,
)
from pet_auth.domain.errors import EmailTaken
from pet_auth.domain.models import (
    Credentials,
    LockedAccount,
    MfaRecord,
    NewPasskey,
    Passkey,
    PasskeyDescriptor,
    PasskeyOwner,
    Profile,
    User,
)
from pet_auth.domain.passwords import NO_PASSWORD
from pet_auth.domain.security_events import EventKind, EventPage, RecordedEvent, SecurityEvent

_MFA_ENABLED = exists().where(UserMfaRow.user_id == UserRow.id, UserMfaRow.enabled_at.is_not(None)).label("mfa_enabled")
# The profile's fields kept as a users column of the same name (a field added to both needs no change here); the
# others are derived below.
_PLAIN_PROFILE_FIELDS = tuple(field.name for field in fields(Profile) if field.name in UserRow.__table__.c)
# The users row's own columns of a User; a new user has no second factor, so its row is all it needs.
_OWN_USER_COLUMNS = (
    UserRow.id,
    *(getattr(UserRow, name) for name in _PLAIN_PROFILE_FIELDS),
    UserRow.email_verified_at,
    UserRow.profile_version,
)
_USER_COLUMNS = (*_OWN_USER_COLUMNS, _MFA_ENABLED)
# Every sign-in runs this one: built once, its compiled-cache key is computed once too (building the statement
# per call cost more event-loop time than the rest of the query).
_CREDENTIALS_BY_EMAIL = select(*_USER_COLUMNS, UserRow.password_hash, UserRow.credential_version).where(
    UserRow.email == bindparam("email")
)


def _user(row: Any) -> User:  # a Row of _USER_COLUMNS (a new user's lacks mfa_enabled)
    columns = row._mapping
    profile = Profile(
        **{name: columns[name] for name in _PLAIN_PROFILE_FIELDS},
        email_verified=row.email_verified_at is not None,
        mfa_enabled=columns.get("mfa_enabled", False),
    )
    return User(id=row.id, profile=profile, profile_version=row.profile_version)


class UserRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, email: str, password_hash: str) -> Credentials:
        """Insert a user; the unique constraint on the canonical email decides races: a duplicate is `EmailTaken`."""
        statement = (
            insert(UserRow)
            .values(email=email, password_hash=password_hash)
            .returning(*_OWN_USER_COLUMNS, UserRow.credential_version)
        )
        try:
            async with self._connection.begin_nested():
                row = (await self._connection.execute(statement)).one()
        except IntegrityError as exc:
            raise EmailTaken from exc
        return Credentials(user=_user(row), password_hash=password_hash, version=row.credential_version)

    async def get_credentials_by_email(self, email: str) -> Credentials | None:
        row = (await self._connection.execute(_CREDENTIALS_BY_EMAIL, {"email": email})).one_or_none()
        if row is None:
            return None
        return Credentials(user=_user(row), password_hash=row.password_hash, version=row.credential_version)

    async def get(self, user_id: int) -> User | None:
        row = (await self._connection.execute(select(*_USER_COLUMNS).where(UserRow.id == user_id))).one_or_none()
        return None if row is None else _user(row)

    async def get_id_by_email(self, email: str) -> int | None:
        return await self._connection.scalar(select(UserRow.id).where(UserRow.email == email))

    async def lock(self, user_id: int) -> LockedAccount | None:
        """The user's row, locked until the transaction ends. Every transaction that changes a user's credentials,
        links or second factor takes this lock first: one lock order, so no two of them deadlock."""
        statement = (
            select(
                UserRow.credential_version,
                UserRow.email,
                UserRow.email_verified_at,
                (UserRow.password_hash != NO_PASSWORD).label("has_password"),
            )
            .where(UserRow.id == user_id)
            .with_for_update()
        )
        row = (await self._connection.execute(statement)).one_or_none()
        if row is None:
            return None
        return LockedAccount(row.credential_version, row.email, row.email_verified_at is not None, row.has_password)

    async def change_password_hash(
        self, user_id: int, password_hash: str, *, verified_version: int | None, proves_email: bool = False
    ) -> int | None:
        """Set a new password and advance the credential version, only if the version is still `verified_version`
        (None: whatever it is, for a reset, whose link is the proof); the new version, or None when it had moved.
        The row stays locked until the transaction ends, so a concurrent sign-in that waits on
        `lock_credential_version` sees the outcome. `proves_email`: the change came through a link mailed to the
        address (a reset)."""
        values: dict[str, Any] = {"password_hash": password_hash, "credential_version": UserRow.credential_version + 1}
        if proves_email:
            values["email_verified_at"] = func.coalesce(UserRow.email_verified_at, func.now())
            values["profile_version"] = UserRow.profile_version + 1
        return await self._advance(user_id, verified_version, values)

    async def _advance(self, user_id: int, verified_version: int | None, values: dict[str, Any]) -> int | None:
        condition = [UserRow.id == user_id]
        if verified_version is not None:
            condition.append(UserRow.credential_version == verified_version)
        statement = update(UserRow).where(*condition).values(**values).returning(UserRow.credential_version)
        return await self._connection.scalar(statement)

    async def mark_email_verified(self, user_id: int, email: str) -> User | None:
        """Mark the address verified, if it is still the user's; the user, or None when it is not."""
        statement = (
            update(UserRow)
            .where(UserRow.id == user_id, UserRow.email == email)
            .values(
                email_verified_at=func.coalesce(UserRow.email_verified_at, func.now()),
                profile_version=UserRow.profile_version + 1,
            )
            .returning(*_USER_COLUMNS)
        )
        row = (await self._connection.execute(statement)).one_or_none()
        return None if row is None else _user(row)

    async def change_email(self, user_id: int, email: str) -> Credentials | None:
        """Move the account to a verified new address, a credential change (the version advances); `EmailTaken`
        if another account has it."""
        statement = (
            update(UserRow)
            .where(UserRow.id == user_id)
            .values(
                email=email,
                email_verified_at=func.now(),
                profile_version=UserRow.profile_version + 1,
                credential_version=UserRow.credential_version + 1,
            )
            .returning(*_USER_COLUMNS, UserRow.credential_version)
        )
        try:
            async with self._connection.begin_nested():
                row = (await self._connection.execute(statement)).one_or_none()
        except IntegrityError as exc:
            raise EmailTaken from exc
        return None if row is None else Credentials(_user(row), password_hash="", version=row.credential_version)

    async def delete(self, user_id: int, verified_version: int) -> bool:
        """Delete the user if the credential version is still `verified_version`; their tokens go with them (ON
        DELETE CASCADE)."""
        statement = (
            delete(UserRow)
            .where(UserRow.id == user_id, UserRow.credential_version == verified_version)
            .returning(UserRow.id)
        )
        return (await self._connection.execute(statement)).one_or_none() is not None

    async def advance_credential_version(self, user_id: int, verified_version: int | None) -> int | None:
        """A credential change that keeps the password (two-factor sign-in turned on or off, new recovery codes, a
        first proof of the address), under the same condition as `change_password_hash`."""
        return await self._advance(user_id, verified_version, {"credential_version": UserRow.credential_version + 1})

    async def webauthn_user_handle(self, user_id: int) -> bytes | None:
        """The user's handle; the first call stores a new one, in one statement under the row's lock: concurrent first
        calls all return the handle that was stored. Later calls only read it."""
        stored = await self._connection.scalar(select(UserRow.webauthn_user_handle).where(UserRow.id == user_id))
        if stored is not None:
            return bytes(stored)
        statement = (
            update(UserRow)
            .where(UserRow.id == user_id)
            .values(webauthn_user_handle=func.coalesce(UserRow.webauthn_user_handle, secrets.token_bytes(64)))
            .returning(UserRow.webauthn_user_handle)
        )
        return await self._connection.scalar(statement)

    async def upgrade_password_hash(self, user_id: int, verified_hash: str, new_hash: str) -> bool:
        """Replace the hash of the same password (a stronger scheme), only if it is still the one verified: a
        credential change that committed meanwhile wins."""
        statement = (
            update(UserRow)
            .where(UserRow.id == user_id, UserRow.password_hash == verified_hash)
            .values(password_hash=new_hash)
            .returning(UserRow.id)
        )
        return (await self._connection.execute(statement)).one_or_none() is not None

    async def credential_version(self, user_id: int) -> int | None:
        return await self._connection.scalar(select(UserRow.credential_version).where(UserRow.id == user_id))

    async def lock_credential_version(self, user_id: int) -> int | None:
        """The committed credential version, waiting for a credential change in flight to end first; no change
        can start until this transaction ends."""
        statement = select(UserRow.credential_version).where(UserRow.id == user_id).with_for_update(read=True)
        return await self._connection.scalar(statement)


class ResetTokenRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def replace_for_user(self, user_id: int, token_hash: str, expires_at: datetime) -> None:
        """Store a new token and drop every earlier one of the user, used or not."""
        # Locking the user row serializes concurrent requests, so that one live token remains, not two.
        await self._connection.execute(select(UserRow.id).where(UserRow.id == user_id).with_for_update())
        await self._connection.execute(delete(PasswordResetTokenRow).where(PasswordResetTokenRow.user_id == user_id))
        await self._connection.execute(
            insert(PasswordResetTokenRow).values(user_id=user_id, token_hash=token_hash, expires_at=expires_at)
        )

    async def live_user(self, token_hash: str) -> int | None:
        """The user of a live token (unused, unexpired); None for any other."""
        statement = select(PasswordResetTokenRow.user_id).where(
            PasswordResetTokenRow.token_hash == token_hash,
            PasswordResetTokenRow.used_at.is_(None),
            PasswordResetTokenRow.expires_at > func.now(),
        )
        return await self._connection.scalar(statement)

    async def consume(self, token_hash: str) -> int | None:
        """Mark a live token used and return its user id; of two concurrent calls only one gets the id."""
        statement = (
            update(PasswordResetTokenRow)
            .where(
                PasswordResetTokenRow.token_hash == token_hash,
                PasswordResetTokenRow.used_at.is_(None),
                PasswordResetTokenRow.expires_at > func.now(),
            )
            .values(used_at=func.now())
            .returning(PasswordResetTokenRow.user_id)
        )
        return await self._connection.scalar(statement)

    async def delete_for_user(self, user_id: int, keep_token_hash: str | None = None) -> None:
        """End the user's reset links (but the one being used, which stays as its record of use)."""
        statement = delete(PasswordResetTokenRow).where(PasswordResetTokenRow.user_id == user_id)
        if keep_token_hash is not None:
            statement = statement.where(PasswordResetTokenRow.token_hash != keep_token_hash)
        await self._connection.execute(statement)

    async def purge_dead(self) -> int:
        """Delete used and expired tokens of every user; returns how many went."""
        result = await self._connection.execute(
            delete(PasswordResetTokenRow)
            .where((PasswordResetTokenRow.used_at.is_not(None)) | (PasswordResetTokenRow.expires_at <= func.now()))
            .returning(PasswordResetTokenRow.id)
        )
        return len(result.all())


class EmailTokenRepository:
    """Links mailed to prove an address, by purpose: `verify` (the account's address), `change` (a new one)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def replace_for_user(
        self, user_id: int, purpose: str, email: str, token_hash: str, expires_at: datetime, credential_version: int
    ) -> None:
        """Store a new link, issued under `credential_version`, and end the user's earlier ones of the same
        purpose (the caller holds the lock on the user's row)."""
        await self.delete_for_user(user_id, purpose)
        await self._connection.execute(
            insert(EmailTokenRow).values(
                user_id=user_id,
                purpose=purpose,
                email=email,
                token_hash=token_hash,
                expires_at=expires_at,
                credential_version=credential_version,
            )
        )

    async def live_user(self, token_hash: str, purpose: str) -> int | None:
        """The user of a live link of this purpose (unused, unexpired); None for any other."""
        statement = select(EmailTokenRow.user_id).where(
            EmailTokenRow.token_hash == token_hash,
            EmailTokenRow.purpose == purpose,
            EmailTokenRow.used_at.is_(None),
            EmailTokenRow.expires_at > func.now(),
        )
        return await self._connection.scalar(statement)

    async def consume(self, token_hash: str, purpose: str, credential_version: int) -> str | None:
        """Mark a live link used if it was issued under `credential_version` (the user's current one); the address
        it was mailed to. Of two concurrent calls only one gets it."""
        statement = (
            update(EmailTokenRow)
            .where(
                EmailTokenRow.token_hash == token_hash,
                EmailTokenRow.purpose == purpose,
                EmailTokenRow.credential_version == credential_version,
                EmailTokenRow.used_at.is_(None),
                EmailTokenRow.expires_at > func.now(),
            )
            .values(used_at=func.now())
            .returning(EmailTokenRow.email)
        )
        return await self._connection.scalar(statement)

    async def delete_for_user(self, user_id: int, purpose: str | None = None) -> None:
        statement = delete(EmailTokenRow).where(EmailTokenRow.user_id == user_id)
        if purpose is not None:
            statement = statement.where(EmailTokenRow.purpose == purpose)
        await self._connection.execute(statement)

    async def purge_dead(self) -> int:
        result = await self._connection.execute(
            delete(EmailTokenRow)
            .where((EmailTokenRow.used_at.is_not(None)) | (EmailTokenRow.expires_at <= func.now()))
            .returning(EmailTokenRow.id)
        )
        return len(result.all())


_MFA_COLUMNS = (UserMfaRow.secret_ciphertext, UserMfaRow.enabled_at, UserMfaRow.last_used_step, UserMfaRow.created_at)


class MfaRepository:
    """A user's TOTP authenticator (`user_mfa`) and recovery codes (`mfa_recovery_codes`)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get(self, user_id: int) -> MfaRecord | None:
        return await self._record(select(*_MFA_COLUMNS).where(UserMfaRow.user_id == user_id))

    async def lock(self, user_id: int) -> MfaRecord | None:
        """The record, locked until the transaction ends: every use of the user's codes waits for the one before,
        so a code is accepted once however many requests carry it."""
        return await self._record(select(*_MFA_COLUMNS).where(UserMfaRow.user_id == user_id).with_for_update())

    async def _record(self, statement: Any) -> MfaRecord | None:
        row = (await self._connection.execute(statement)).one_or_none()
        if row is None:
            return None
        return MfaRecord(
            secret_ciphertext=row.secret_ciphertext,
            enabled=row.enabled_at is not None,
            last_used_step=row.last_used_step,
            created_at=row.created_at,
        )

    async def begin_setup(self, user_id: int, secret_ciphertext: bytes) -> bool:
        """Store a new secret awaiting its first code, over any earlier unconfirmed one; False (and nothing
        stored) when two-factor sign-in is already on."""
        statement = (
            upsert(UserMfaRow)
            .values(user_id=user_id, secret_ciphertext=secret_ciphertext)
            .on_conflict_do_update(
                index_elements=[UserMfaRow.user_id],
                set_={"secret_ciphertext": secret_ciphertext, "last_used_step": None, "created_at": func.now()},
                where=UserMfaRow.enabled_at.is_(None),
            )
            .returning(UserMfaRow.user_id)
        )
        return (await self._connection.execute(statement)).one_or_none() is not None

    async def enable(self, user_id: int, code_hashes: list[str]) -> None:
        await self._connection.execute(
            update(UserMfaRow).where(UserMfaRow.user_id == user_id).values(enabled_at=func.now())
        )
        await self.replace_recovery_codes(user_id, code_hashes)

    async def use_step(self, user_id: int, step: int) -> None:
        await self._connection.execute(
            update(UserMfaRow).where(UserMfaRow.user_id == user_id).values(last_used_step=step)
        )

    async def use_recovery_code(self, user_id: int, code_hash: str) -> bool:
        """Delete the code if it is one of the user's; of concurrent uses of one code only one gets True."""
        statement = (
            delete(MfaRecoveryCodeRow)
            .where(MfaRecoveryCodeRow.user_id == user_id, MfaRecoveryCodeRow.code_hash == code_hash)
            .returning(MfaRecoveryCodeRow.user_id)
        )
        return (await self._connection.execute(statement)).one_or_none() is not None

    async def count_recovery_codes(self, user_id: int) -> int:
        statement = select(func.count()).where(MfaRecoveryCodeRow.user_id == user_id)
        return int(await self._connection.scalar(statement) or 0)

    async def replace_recovery_codes(self, user_id: int, code_hashes: list[str]) -> None:
        await self._connection.execute(delete(MfaRecoveryCodeRow).where(MfaRecoveryCodeRow.user_id == user_id))
        await self._connection.execute(
            insert(MfaRecoveryCodeRow), [{"user_id": user_id, "code_hash": code_hash} for code_hash in code_hashes]
        )

    async def delete_enabled_after(self, user_id: int, since: datetime | None) -> bool:
        """Two-factor sign-in off if it was turned on after `since` (None: whenever), and a setup not confirmed;
        whether it was on."""
        statement = delete(UserMfaRow).where(UserMfaRow.user_id == user_id).returning(UserMfaRow.enabled_at)
        if since is not None:
            statement = statement.where((UserMfaRow.enabled_at > since) | UserMfaRow.enabled_at.is_(None))
        enabled_at = (await self._connection.execute(statement)).scalar_one_or_none()
        return enabled_at is not None

    async def delete(self, user_id: int) -> None:
        """Two-factor sign-in off: the secret goes, and the recovery codes with it (ON DELETE CASCADE)."""
        await self._connection.execute(delete(UserMfaRow).where(UserMfaRow.user_id == user_id))


_EVENT_COLUMNS = (
    SecurityEventRow.id,
    SecurityEventRow.kind,
    SecurityEventRow.occurred_at,
    SecurityEventRow.network,
    SecurityEventRow.device,
    SecurityEventRow.detail,
)
# Rows of a kind this release does not know (written by a newer one, before a rollback) are not shown.
_KNOWN_KINDS = [kind.value for kind in EventKind]


class SecurityEventRepository:
    """A user's activity log (`security_events`), newest first."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, user_id: int, event: SecurityEvent) -> None:
        """Record an event of the user, in one statement that takes a key-share lock on the user's row: a deletion
        of the account in flight ends first, and then nothing is recorded (no foreign-key error)."""
        user = (
            select(
                UserRow.id,
                literal(event.kind.value, String()),
                literal(event.network, String()),
                literal(event.device, String()),
                literal(dict(event.detail), JSONB()),
            )
            .where(UserRow.id == user_id)
            .with_for_update(read=True, key_share=True)
        )
        columns = ["user_id", "kind", "network", "device", "detail"]
        await self._connection.execute(insert(SecurityEventRow).from_select(columns, user))

    async def page_for_user(self, user_id: int, before: int | None, limit: int) -> EventPage:
        """Up to `limit` of the user's events older than the event `before` (None: the newest), newest first."""
        statement = (
            select(*_EVENT_COLUMNS)
            .where(SecurityEventRow.user_id == user_id, SecurityEventRow.kind.in_(_KNOWN_KINDS))
            .order_by(SecurityEventRow.id.desc())
            .limit(limit + 1)  # one more tells whether another page follows
        )
        if before is not None:
            statement = statement.where(SecurityEventRow.id < before)
        rows = (await self._connection.execute(statement)).all()
        events = [
            RecordedEvent(
                id=row.id,
                kind=EventKind(row.kind),
                occurred_at=row.occurred_at,
                network=row.network,
                device=row.device,
                detail=row.detail,
            )
            for row in rows[:limit]
        ]
        return EventPage(events, next_before=events[-1].id if len(rows) > limit else None)

    async def purge_older_than(self, days: int) -> int:
        """Delete every user's events older than `days` days; returns how many went."""
        statement = delete(SecurityEventRow).where(SecurityEventRow.occurred_at < func.now() - timedelta(days=days))
        result = await self._connection.execute(statement)
        return int(result.rowcount)


_PASSKEY_COLUMNS = (
    WebauthnCredentialRow.id,
    WebauthnCredentialRow.name,
    WebauthnCredentialRow.created_at,
    WebauthnCredentialRow.last_used_at,
    WebauthnCredentialRow.backed_up,
    WebauthnCredentialRow.transports,
)


def _passkey(row: Any) -> Passkey:
    return Passkey(
        id=row.id,
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        backed_up=row.backed_up,
        transports=tuple(row.transports),
    )


class PasskeyRepository:
    """A user's passkeys (`webauthn_credentials`)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def list_for_user(self, user_id: int) -> list[Passkey]:
        statement = (
            select(*_PASSKEY_COLUMNS).where(WebauthnCredentialRow.user_id == user_id).order_by(WebauthnCredentialRow.id)
        )
        return [_passkey(row) for row in (await self._connection.execute(statement)).all()]

    async def descriptors_for_user(self, user_id: int) -> list[PasskeyDescriptor]:
        statement = (
            select(WebauthnCredentialRow.credential_id, WebauthnCredentialRow.transports)
            .where(WebauthnCredentialRow.user_id == user_id)
            .order_by(WebauthnCredentialRow.id)
        )
        rows = (await self._connection.execute(statement)).all()
        return [PasskeyDescriptor(row.credential_id, tuple(row.transports)) for row in rows]

    async def count_for_user(self, user_id: int) -> int:
        statement = select(func.count()).where(WebauthnCredentialRow.user_id == user_id)
        return int(await self._connection.scalar(statement) or 0)

    async def add(self, user_id: int, passkey: NewPasskey) -> Passkey | None:
        """The unique constraint on the credential id decides races: a duplicate stores nothing."""
        statement = (
            upsert(WebauthnCredentialRow)
            .values(
                user_id=user_id,
                credential_id=passkey.credential_id,
                public_key=passkey.public_key,
                sign_count=passkey.sign_count,
                transports=list(passkey.transports),
                aaguid=passkey.aaguid,
                backup_eligible=passkey.backup_eligible,
                backed_up=passkey.backed_up,
                name=passkey.name,
            )
            .on_conflict_do_nothing(index_elements=[WebauthnCredentialRow.credential_id])
            .returning(*_PASSKEY_COLUMNS)
        )
        row = (await self._connection.execute(statement)).one_or_none()
        return None if row is None else _passkey(row)

    async def get_for_sign_in(self, credential_id: bytes) -> PasskeyOwner | None:
        statement = (
            select(
                WebauthnCredentialRow.id.label("passkey_id"),
                WebauthnCredentialRow.public_key,
                WebauthnCredentialRow.sign_count,
                UserRow.webauthn_user_handle,
                UserRow.credential_version,
                *_USER_COLUMNS,
            )
            .join(UserRow, UserRow.id == WebauthnCredentialRow.user_id)
            .where(WebauthnCredentialRow.credential_id == credential_id)
        )
        row = (await self._connection.execute(statement)).one_or_none()
        if row is None:
            return None
        return PasskeyOwner(
            passkey_id=row.passkey_id,
            public_key=row.public_key,
            sign_count=row.sign_count,
            user_handle=row.webauthn_user_handle,
            credentials=Credentials(_user(row), password_hash="", version=row.credential_version),
        )

    async def record_use(self, passkey_id: int, user_id: int, sign_count: int, backed_up: bool) -> bool:
        stored = WebauthnCredentialRow.sign_count
        statement = (
            update(WebauthnCredentialRow)
            .where(
                WebauthnCredentialRow.id == passkey_id,
                WebauthnCredentialRow.user_id == user_id,
                (stored < sign_count) | ((stored == 0) & (literal(sign_count) == 0)),
            )
            .values(sign_count=sign_count, backed_up=backed_up, last_used_at=func.now())
            .returning(WebauthnCredentialRow.id)
        )
        return (await self._connection.execute(statement)).one_or_none() is not None

    async def rename(self, user_id: int, passkey_id: int, name: str) -> Passkey | None:
        statement = (
            update(WebauthnCredentialRow)
            .where(WebauthnCredentialRow.id == passkey_id, WebauthnCredentialRow.user_id == user_id)
            .values(name=name)
            .returning(*_PASSKEY_COLUMNS)
        )
        row = (await self._connection.execute(statement)).one_or_none()
        return None if row is None else _passkey(row)

    async def delete(self, user_id: int, passkey_id: int) -> Passkey | None:
        statement = (
            delete(WebauthnCredentialRow)
            .where(WebauthnCredentialRow.id == passkey_id, WebauthnCredentialRow.user_id == user_id)
            .returning(*_PASSKEY_COLUMNS)
        )
        row = (await self._connection.execute(statement)).one_or_none()
        return None if row is None else _passkey(row)

    async def delete_added_after(self, user_id: int, since: datetime | None) -> list[str]:
        statement = (
            delete(WebauthnCredentialRow)
            .where(WebauthnCredentialRow.user_id == user_id)
            .returning(WebauthnCredentialRow.id, WebauthnCredentialRow.name)
        )
        if since is not None:
            statement = statement.where(WebauthnCredentialRow.created_at > since)
        rows = sorted((await self._connection.execute(statement)).all())
        return [row.name for row in rows]
