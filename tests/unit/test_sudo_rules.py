"""Sudo mode's rules on the fakes (tests/unit/fakes.py): a sensitive change needs a proof of a factor within the
window, from the sign-in, a re-authentication or the current password given with it; each change restarts it."""

from __future__ import annotations

import pytest

from pet_auth.domain.errors import InvalidCredentials, ReauthenticationRequired
from pet_auth.domain.notices import PasswordChanged
from tests.unit.fakes import CLIENT, NEW_PASSWORD, PASSWORD, SUDO_WINDOW, Fakes


async def test_the_window_opens_at_sign_in_and_closes_after_it(fakes: Fakes) -> None:
    await fakes.add_account()
    laptop = await fakes.sign_in()
    await fakes.sudo.require(fakes.current(token=laptop))
    fakes.later(SUDO_WINDOW + 1)
    with pytest.raises(ReauthenticationRequired) as refused:
        await fakes.sudo.require(fakes.current(token=laptop))
    assert refused.value.methods == ("password",)


async def test_outside_the_window_a_change_without_the_password_is_refused_and_nothing_changes(fakes: Fakes) -> None:
    await fakes.add_account()
    laptop = await fakes.sign_in()
    fakes.later(SUDO_WINDOW + 1)
    version = fakes.row().credential_version
    with pytest.raises(ReauthenticationRequired):
        await fakes.account.change_password(
            fakes.current(token=laptop), fakes.sessions.handle(laptop), None, NEW_PASSWORD, CLIENT, None
        )
    assert fakes.row().credential_version == version
    await fakes.spawned.run()
    assert not fakes.notifier.of(PasswordChanged)


async def test_reauthenticating_restarts_the_window(fakes: Fakes) -> None:
    await fakes.add_account()
    laptop = await fakes.sign_in()
    fakes.later(SUDO_WINDOW + 1)
    handle = fakes.sessions.handle(laptop)
    with pytest.raises(InvalidCredentials):
        await fakes.sudo.with_password(fakes.current(token=laptop), handle, "not the password", CLIENT, None)
    with pytest.raises(ReauthenticationRequired):
        await fakes.sudo.require(fakes.current(token=laptop))
    fakes.seconds_passed = 0  # the proof below is recorded at the real time
    await fakes.sudo.with_password(fakes.current(token=laptop), handle, PASSWORD, CLIENT, None)
    await fakes.account.end_other_sessions(fakes.current(token=laptop), handle, CLIENT)


async def test_the_current_password_given_with_a_change_proves_it_outside_the_window(fakes: Fakes) -> None:
    await fakes.add_account()
    laptop = await fakes.sign_in()
    fakes.later(SUDO_WINDOW + 1)
    renewed = await fakes.account.change_password(
        fakes.current(token=laptop), fakes.sessions.handle(laptop), PASSWORD, NEW_PASSWORD, CLIENT, None
    )
    assert fakes.sessions.live[renewed.session_token].proved_at > 0
