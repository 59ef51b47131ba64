"""Repositories: every SQL statement of the service lives here, named for what it means."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from pet_auth.db.models import PasswordResetTokenRow, UserRow
from pet_auth.domain.errors import EmailTaken
from pet_auth.domain.models import Credentials, User

_USER_COLUMNS = (UserRow.id, UserRow.email, UserRow.created_at)
# Every sign-in runs this one: built once, its compiled-cache key is computed once too (building the statement
# per call cost more event-loop time than the rest of the query).
_CREDENTIALS_BY_EMAIL = select(*_USER_COLUMNS, UserRow.password_hash, UserRow.credential_version).where(
    UserRow.email == bindparam("email")
)


def _user(row: Any) -> User:  # a Row with id, email and created_at
    return User(id=row.id, email=row.email, created_at=row.created_at)


class UserRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, email: str, password_hash: str) -> Credentials:
        """Insert a user; the unique constraint on the canonical email decides races: a duplicate is `EmailTaken`."""
        statement = (
            insert(UserRow)
            .values(email=email, password_hash=password_hash)
            .returning(*_USER_COLUMNS, UserRow.credential_version)
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

    async def change_password_hash(self, user_id: int, password_hash: str) -> int:
        """Set a new password and advance the credential version; returns the new version. The row stays locked
        until the transaction ends, so a concurrent sign-in that waits on `lock_credential_version` sees the
        outcome."""
        statement = (
            update(UserRow)
            .where(UserRow.id == user_id)
            .values(password_hash=password_hash, credential_version=UserRow.credential_version + 1)
            .returning(UserRow.credential_version)
        )
        return int((await self._connection.execute(statement)).scalar_one())

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

    async def is_live(self, token_hash: str) -> bool:
        statement = select(PasswordResetTokenRow.id).where(
            PasswordResetTokenRow.token_hash == token_hash,
            PasswordResetTokenRow.used_at.is_(None),
            PasswordResetTokenRow.expires_at > func.now(),
        )
        return await self._connection.scalar(statement) is not None

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
