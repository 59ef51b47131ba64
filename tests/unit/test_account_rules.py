"""Change password's rules on the fakes (tests/unit/fakes.py): the change is conditional on the credential version
the current password was verified against, ends every session inside its transaction (the caller's included, which
gets a new one), and a change that loses to another starts nothing."""

from __future__ import annotations

import pytest

from pet_auth.domain.errors import InvalidCredentials, SessionEnded
from pet_auth.domain.notices import PasswordChanged
from pet_auth.domain.ports import Outcome
from pet_auth.domain.security_events import EventKind
from tests.unit.fakes import (
    ADA_EMAIL,
    ADA_ID,
    CLIENT,
    LIMITS,
    NEW_PASSWORD,
    PASSWORD,
    Fakes,
    HookedHasher,
    in_order,
    transactions,
)


async def test_a_change_ends_every_session_and_renews_only_the_caller(fakes: Fakes) -> None:
    await fakes.add_account()
    laptop, phone = await fakes.sign_in(), await fakes.sign_in()
    fakes.journal.clear()

    renewed = await fakes.account.change_password(
        fakes.current(), fakes.sessions.handle(laptop), PASSWORD, NEW_PASSWORD, CLIENT, None
    )

    [change] = transactions(fakes.journal)
    assert in_order(
        change,
        "begin",
        "password of user 7 changed: version 2",
        "event password_changed for user 7",  # written with the change, or not at all
        "sessions of user 7 ended at version 2",
        "commit",
    ), change
    assert in_order(fakes.journal, "commit", "session of user 7 started at version 2")
    assert [session.credential_version for session in fakes.sessions.of(ADA_ID)] == [2]
    assert renewed.session_token in fakes.sessions.live
    assert laptop not in fakes.sessions.live
    assert phone not in fakes.sessions.live
    assert fakes.devices.device_of(renewed.device_token, ADA_ID, 2) is not None
    assert (await fakes.hasher.verify(fakes.row().password_hash, NEW_PASSWORD)).ok
    assert fakes.limiter.hits[-1] == ((LIMITS.password_changes_per_account, "user:7"),)
    await fakes.spawned.run()
    assert fakes.notifier.of(PasswordChanged) == [PasswordChanged(ADA_EMAIL, this_device_kept=True)]


async def test_a_change_whose_verified_version_moved_is_refused_and_starts_no_session(
    fakes: Fakes, hasher: HookedHasher
) -> None:
    await fakes.add_account()
    laptop = await fakes.sign_in()
    fakes.journal.clear()
    # A reset commits while the new password is hashed, after the current one was verified at version 1.
    hasher.after_hash = fakes.change_committed_elsewhere

    with pytest.raises(InvalidCredentials):
        await fakes.account.change_password(
            fakes.current(), fakes.sessions.handle(laptop), PASSWORD, NEW_PASSWORD, CLIENT, None
        )

    assert fakes.row().credential_version == 2  # the reset's, not advanced again
    assert (await fakes.hasher.verify(fakes.row().password_hash, PASSWORD)).ok
    assert "password of user 7 not changed: version moved past 1" in fakes.journal
    assert transactions(fakes.journal)[-1][-1] == "rollback"
    assert not any(event.startswith("session of user 7 started") for event in fakes.journal)
    assert not any(event.startswith("sessions of user 7 ended") for event in fakes.journal)
    assert EventKind.PASSWORD_CHANGED not in fakes.db.tables.events(ADA_ID)  # rolled back with the change
    assert await fakes.spawned.run() == []  # no mail says it changed


async def test_a_change_from_a_session_ended_meanwhile_changes_nothing(fakes: Fakes) -> None:
    await fakes.add_account()
    laptop = await fakes.sign_in()
    handle = fakes.sessions.handle(laptop)
    await fakes.sessions.end_one_session(ADA_ID, handle)  # signed out in another tab
    with pytest.raises(SessionEnded):
        await fakes.account.change_password(fakes.current(), handle, PASSWORD, NEW_PASSWORD, CLIENT, None)
    assert transactions(fakes.journal)[-1][-1] == "rollback"
    assert fakes.row().credential_version == 1
    assert (await fakes.hasher.verify(fakes.row().password_hash, PASSWORD)).ok
    assert fakes.sessions.of(ADA_ID) == []


async def test_a_wrong_current_password_counts_as_a_failed_sign_in_and_changes_nothing(fakes: Fakes) -> None:
    await fakes.add_account()
    laptop = await fakes.sign_in()
    fakes.journal.clear()
    with pytest.raises(InvalidCredentials):
        await fakes.account.change_password(
            fakes.current(), fakes.sessions.handle(laptop), "not the password", NEW_PASSWORD, CLIENT, None
        )
    assert fakes.limiter.begun[-1][0] == (LIMITS.login_per_account, "user:7:1")
    assert fakes.limiter.ended[-1] is Outcome.FAILURE
    assert fakes.row().credential_version == 1
    assert laptop in fakes.sessions.live
    assert transactions(fakes.journal) == []  # nothing written
