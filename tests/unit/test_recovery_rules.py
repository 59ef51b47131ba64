"""Password reset's rules on the fakes (tests/unit/fakes.py): the link is consumed and the credential version advanced
in one transaction, under the lock on the user's row, and every session ends inside it; what fails undoes it all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pet_auth.domain.errors import InvalidInput, InvalidToken
from pet_auth.domain.notices import PasswordChanged
from pet_auth.domain.password_reset import PasswordResetService
from pet_auth.domain.passwords import BreachCheck, PasswordPolicy
from pet_auth.domain.ports import Collaborators
from pet_auth.domain.security_events import EventKind
from tests.unit.fakes import (
    ADA_EMAIL,
    ADA_ID,
    CLIENT,
    LIMITS,
    NEW_PASSWORD,
    PASSWORD,
    FakeDatabase,
    FakeLimiter,
    Fakes,
    HookedHasher,
    MfaRow,
    Spawned,
    Unused,
    in_order,
    transactions,
)


async def test_a_reset_consumes_the_link_and_advances_the_version_under_the_lock_and_ends_sessions(
    fakes: Fakes,
) -> None:
    await fakes.add_account()
    laptop, phone = await fakes.sign_in(), await fakes.sign_in()
    token = await fakes.reset_token()
    fakes.journal.clear()

    await fakes.password_reset.reset(token, NEW_PASSWORD, CLIENT)

    [reset] = transactions(fakes.journal)
    assert in_order(
        reset,
        "begin",
        "lock user 7",  # first, as every credential change
        "reset link consumed",
        "password of user 7 changed: version 2",
        "event password_reset for user 7",
        "sessions of user 7 ended at version 2",  # inside the transaction: a Redis failure undoes the reset
        "commit",
    ), reset
    assert fakes.row().credential_version == 2
    assert (await fakes.hasher.verify(fakes.row().password_hash, NEW_PASSWORD)).ok
    assert laptop not in fakes.sessions.live
    assert phone not in fakes.sessions.live
    assert fakes.sessions.of(ADA_ID) == []  # the reset signs no one in
    assert await fakes.spawned.run() == ["password changed email"]
    assert fakes.notifier.of(PasswordChanged) == [PasswordChanged(ADA_EMAIL, this_device_kept=False)]


async def test_a_link_works_once(fakes: Fakes) -> None:
    await fakes.add_account()
    token = await fakes.reset_token()
    await fakes.password_reset.reset(token, NEW_PASSWORD, CLIENT)
    with pytest.raises(InvalidToken):
        await fakes.password_reset.reset(token, "yet another fine passphrase", CLIENT)
    assert (await fakes.hasher.verify(fakes.row().password_hash, NEW_PASSWORD)).ok
    assert fakes.row().credential_version == 2


async def test_a_reset_that_cannot_end_the_sessions_changes_nothing_and_the_link_stays_usable(fakes: Fakes) -> None:
    await fakes.add_account()
    session = await fakes.sign_in()
    token = await fakes.reset_token()
    fakes.sessions.down = True
    with pytest.raises(ConnectionError):
        await fakes.password_reset.reset(token, NEW_PASSWORD, CLIENT)
    assert transactions(fakes.journal)[-1][-1] == "rollback"
    assert fakes.row().credential_version == 1
    assert (await fakes.hasher.verify(fakes.row().password_hash, PASSWORD)).ok
    assert session in fakes.sessions.live
    assert EventKind.PASSWORD_RESET not in fakes.db.tables.events(ADA_ID)

    fakes.sessions.down = False
    await fakes.password_reset.reset(token, NEW_PASSWORD, CLIENT)
    assert fakes.row().credential_version == 2
    assert fakes.sessions.of(ADA_ID) == []


async def test_a_reset_ends_the_links_mailed_before_it_but_its_own_record(fakes: Fakes) -> None:
    await fakes.add_account()
    await fakes.addresses.request_change(fakes.current(), None, PASSWORD, "ada@new.example", CLIENT, None)
    token = await fakes.reset_token()
    await fakes.password_reset.reset(token, NEW_PASSWORD, CLIENT)
    assert fakes.db.tables.email_tokens == {}
    assert [row.used for row in fakes.db.tables.reset_tokens.values()] == [True]


@pytest.mark.parametrize(
    ("verified", "turned_on", "removed"),
    [
        # The first proof of the address: whoever set it up knew the password, and may not own the mailbox.
        (False, timedelta(days=30), True),
        # A verified address: only a second factor turned on shortly before (a phisher's, maybe) goes.
        (True, timedelta(days=30), False),
        (True, timedelta(hours=1), True),
    ],
)
async def test_a_reset_removes_a_second_factor_it_cannot_trust(
    fakes: Fakes, verified: bool, turned_on: timedelta, removed: bool
) -> None:
    await fakes.add_account(verified=verified)
    turned_on_at = datetime.now(UTC) - turned_on
    fakes.db.tables.mfa[ADA_ID] = MfaRow(b"sealed", created_at=turned_on_at, enabled_at=turned_on_at)
    token = await fakes.reset_token()
    await fakes.password_reset.reset(token, NEW_PASSWORD, CLIENT)
    assert (ADA_ID not in fakes.db.tables.mfa) == removed
    assert fakes.row().email_verified  # the link proved the mailbox
    await fakes.spawned.run()
    [changed] = fakes.notifier.of(PasswordChanged)
    assert changed.mfa_removed == removed


async def test_a_password_too_short_for_the_account_the_reset_leaves_undoes_the_reset(hasher: HookedHasher) -> None:
    fakes = Fakes(hasher, PasswordPolicy(min_length_single_factor=15, min_length_with_mfa=8))
    try:
        # An unverified address: the reset removes the second factor, so the password becomes the only factor.
        await fakes.add_account(verified=False)
        now = datetime.now(UTC)
        fakes.db.tables.mfa[ADA_ID] = MfaRow(b"sealed", created_at=now, enabled_at=now)
        token = await fakes.reset_token()
        with pytest.raises(InvalidInput):
            await fakes.password_reset.reset(token, "ten chars!", CLIENT)
        assert transactions(fakes.journal)[-1][-1] == "rollback"
        assert ADA_ID in fakes.db.tables.mfa
        assert fakes.row().credential_version == 1
        assert not fakes.row().email_verified
        assert "sessions of user 7 ended at version 2" not in fakes.journal
        await fakes.password_reset.reset(token, "fifteen chars, or more", CLIENT)  # the link stays usable
        assert fakes.row().credential_version == 2
    finally:
        fakes.spawned.close()


async def test_a_reset_with_a_token_that_is_not_live_hashes_no_password_and_asks_no_breach_corpus() -> None:
    class NoBreachCorpus:
        async def appearances(self, password: str) -> int | None:
            raise AssertionError("asked about a password for a token that is not live")

    shared = Collaborators(
        db=FakeDatabase([]),
        limiter=FakeLimiter(),
        limits=LIMITS,
        sessions=Unused(),
        notifier=Unused(),
        spawn=Spawned(),
        audit=Unused(),  # type: ignore[arg-type]
    )
    password_reset = PasswordResetService(
        shared,
        hasher=Unused(),  # type: ignore[arg-type]
        secret=b"r" * 32,
        frontend_url="https://pets.example",
        token_ttl=60,
        removes_mfa_enabled_within=timedelta(days=1),
        policy=PasswordPolicy(breach_check=BreachCheck.FAIL_CLOSED, breached=NoBreachCorpus()),
    )
    with pytest.raises(InvalidToken):
        await password_reset.reset("x" * 43, "a brand new passphrase", CLIENT)
