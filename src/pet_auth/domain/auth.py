"""Sign-up and sign-in."""

from __future__ import annotations

from pet_auth.db.database import Database
from pet_auth.domain.audit import AuditLog
from pet_auth.domain.emails import normalize_email, sign_in_email
from pet_auth.domain.errors import InvalidCredentials, RateLimited
from pet_auth.domain.models import User
from pet_auth.domain.passwords import PasswordHasher, check_password_policy
from pet_auth.domain.ports import Limit, Limits, RateLimiter


class AuthService:
    def __init__(
        self, db: Database, hasher: PasswordHasher, limiter: RateLimiter, limits: Limits, audit: AuditLog
    ) -> None:
        self._db, self._hasher, self._limiter, self._limits, self._audit = db, hasher, limiter, limits, audit

    async def register(self, email: str, password: str, ip: str) -> User:
        email = normalize_email(email)
        check_password_policy(password)
        await self.limit("register", ip, email, (self._limits.register_per_ip, ip))
        password_hash = await self._hasher.hash(password)
        async with self._db.transaction() as repos:
            user = await repos.users.add(email, password_hash)
        self._audit.record("register", ip=ip, user_id=user.id)
        return user

    async def login(self, email: str, password: str, ip: str) -> User:
        user = await self.authenticate(email, password, ip)
        self._audit.record("login", ip=ip, user_id=user.id)
        return user

    def logged_out(self, user_id: int, ip: str) -> None:
        self._audit.record("logout", ip=ip, user_id=user_id)

    async def authenticate(self, email: str, password: str, ip: str) -> User:
        """Check a password under the login limits; a legacy (bcrypt) hash is replaced by argon2id."""
        email = sign_in_email(email)
        limits = self._limits
        await self.limit("login", ip, email, (limits.login_per_account, email), (limits.login_per_ip, ip))
        async with self._db.read() as repos:
            credentials = await repos.users.get_credentials_by_email(email)
        if credentials is None:
            await self._hasher.verify_dummy(password)
            self._audit.record("login_failed", ip=ip, email=email)
            raise InvalidCredentials
        verification = await self._hasher.verify(credentials.password_hash, password)
        if not verification.ok:
            self._audit.record("login_failed", ip=ip, user_id=credentials.user.id)
            raise InvalidCredentials
        if verification.needs_rehash:
            new_hash = await self._hasher.hash(password)
            async with self._db.transaction() as repos:
                await repos.users.set_password_hash(credentials.user.id, new_hash)
        await self._limiter.forgive(limits.login_per_account, email, refund=(limits.login_per_ip, ip))
        return credentials.user

    async def limit(self, action: str, ip: str, email: str, *checks: tuple[Limit, str]) -> None:
        try:
            await self._limiter.hit(*checks)
        except RateLimited:
            self._audit.record(f"{action}_rate_limited", ip=ip, email=email)
            raise
