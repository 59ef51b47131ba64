"""An authenticator app for the tests: TOTP codes computed from the secret the API hands out, with RFC 6238 written
out again here (not the service's code), and two-factor sign-in turned on through the API."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pet_auth.domain.emails import normalize_email
from tests.support.clients import PASSWORD

SETUP = "/api/auth/mfa/totp/setup"
CONFIRM = "/api/auth/mfa/totp/confirm"
STEP = 30


def code_at(secret: str, step: int) -> str:
    """RFC 6238 (HMAC-SHA1, 6 digits) from the base32 secret, independently of pet_auth.domain.totp."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, step.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(int.from_bytes(digest[offset : offset + 4], 'big') & 0x7FFFFFFF) % 1_000_000:06d}"


async def current_step(margin: float = 8) -> int:
    """The current 30-second step, with at least `margin` seconds of it left (else the next one), so that the
    server is still in it when the codes computed from it arrive."""
    left = STEP - time.time() % STEP
    if left < margin:
        await asyncio.sleep(left + 0.05)
    return int(time.time() // STEP)


@dataclass
class Mfa:
    email: str
    secret: str
    recovery_codes: list[str]
    confirmed_step: int  # the step of the code that turned it on: no code of it or before is accepted again


async def mark_verified(db: AsyncEngine, email: str) -> None:
    """Arranged in the database: setting up an authenticator needs a verified address, and the tests of codes are
    not about mail (the verification links have tests of their own)."""
    async with db.begin() as connection:
        statement = text("UPDATE users SET email_verified_at = now() WHERE email = :email")
        await connection.execute(statement, {"email": normalize_email(email)})


async def enable_mfa(client: httpx.AsyncClient, email: str, db: AsyncEngine) -> Mfa:
    await mark_verified(db, email)
    setup = await client.post(SETUP, json={"currentPassword": PASSWORD})
    assert setup.status_code == 200, setup.text
    secret = setup.json()["secret"]
    step = await current_step()
    # The previous step's code: the current step and the next stay free for the test's own sign-ins.
    confirm = await client.post(CONFIRM, json={"code": code_at(secret, step - 1)})
    assert confirm.status_code == 200, confirm.text
    return Mfa(email, secret, confirm.json()["recoveryCodes"], step - 1)


async def turned_on_days_ago(db: AsyncEngine, email: str, days: int) -> None:
    async with db.begin() as connection:
        await connection.execute(
            text(
                "UPDATE user_mfa SET enabled_at = now() - make_interval(days => :days) "
                "WHERE user_id = (SELECT id FROM users WHERE email = :email)"
            ),
            {"days": days, "email": email},
        )
