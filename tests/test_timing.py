"""A failed sign-in takes the same time class whatever the account: argon2, legacy bcrypt or none at all, and
whatever the password's length. Otherwise its timing would list which addresses have (legacy) accounts."""

from __future__ import annotations

import statistics
import time

import bcrypt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.clients import PASSWORD, MakeClient, register, unique_email

ROUNDS = 9
# The Node version hashed with bcrypt cost 10; its users may be imported at any time.
LEGACY_COST = 10
SHORT_WRONG = "wrong password"
LONG_WRONG = "w" * 80  # beyond bcrypt's 72 bytes


async def test_failed_sign_ins_take_the_same_time_class(make_client: MakeClient, db: AsyncEngine) -> None:
    client = await make_client(rate_limit_login_per_account=1000, rate_limit_login_per_ip=1000)
    argon2_email, legacy_email = unique_email("argon2"), unique_email("legacy")
    await register(client, argon2_email)
    client.cookies.clear()
    legacy_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(LEGACY_COST)).decode()
    async with db.begin() as connection:
        await connection.execute(
            text("INSERT INTO users (email, password_hash) VALUES (:e, :h)"), {"e": legacy_email, "h": legacy_hash}
        )
    attempts = {
        "argon2 account": (argon2_email, SHORT_WRONG),
        "unknown address": (unique_email("nobody"), SHORT_WRONG),
        "legacy account, short password": (legacy_email, SHORT_WRONG),
        "legacy account, 80-byte password": (legacy_email, LONG_WRONG),
        "argon2 account, 80-byte password": (argon2_email, LONG_WRONG),
    }
    samples: dict[str, list[float]] = {name: [] for name in attempts}
    # Interleaved rounds: a burst of load from elsewhere on the machine slows every kind alike.
    for _ in range(ROUNDS):
        for name, (email, password) in attempts.items():
            started = time.perf_counter()
            response = await client.post("/api/auth/login", json={"email": email, "password": password})
            samples[name].append(time.perf_counter() - started)
            assert response.status_code == 401, response.text
    medians = {name: statistics.median(values) * 1000 for name, values in samples.items()}
    report = ", ".join(f"{name} {ms:.1f} ms" for name, ms in medians.items())
    assert max(medians.values()) <= 3 * min(medians.values()), report
