"""Two-factor sign-in's rules on the fakes (tests/unit/fakes.py): wrong codes count against the account's budget for
codes (apart from the password's) and change nothing; turning it on is a credential change; a code works once; a
pending sign-in ends at its fifth wrong code, and with any credential change since its password."""

from __future__ import annotations

import time

import pytest

from pet_auth.domain.errors import (
    CodeAlreadyUsed,
    EmailNotVerified,
    InvalidCode,
    InvalidSignInCode,
    MfaExpired,
    SignInCodeAlreadyUsed,
)
from pet_auth.domain.mfa import MAX_WRONG_CODES, RecoveryCodes
from pet_auth.domain.models import MfaChallenge, SignIn
from pet_auth.domain.ports import Outcome
from pet_auth.domain.security_events import EventKind
from tests.support.authenticator import STEP, code_at
from tests.unit.fakes import (
    ADA_EMAIL,
    ADA_ID,
    CLIENT,
    IP,
    LIMITS,
    PASSWORD,
    Fakes,
    in_order,
    transactions,
)


def now_step() -> int:
    return int(time.time() // STEP)


def wrong_code(secret: str) -> str:
    """A code of none of the steps the service may accept around now."""
    near = {code_at(secret, now_step() + drift) for drift in range(-2, 3)}
    return next(code for code in (f"{n:06d}" for n in range(100)) if code not in near)


async def set_up(fakes: Fakes) -> tuple[str, str]:
    """A signed-in session (its token) with an authenticator set up, not yet confirmed; and the secret (base32)."""
    await fakes.add_account()
    laptop = await fakes.sign_in()
    setup = await fakes.mfa.begin_setup(fakes.current(), None, PASSWORD, CLIENT, None)
    fakes.journal.clear()
    return laptop, setup.secret


async def turned_on(fakes: Fakes) -> tuple[str, int, RecoveryCodes]:
    """Two-factor sign-in on with the current step's code: the secret, that step, the recovery codes."""
    laptop, secret = await set_up(fakes)
    step = now_step()
    codes = await fakes.mfa.confirm_setup(fakes.current(), fakes.sessions.handle(laptop), code_at(secret, step), CLIENT)
    await fakes.spawned.run()
    return secret, step, codes


async def password_step(fakes: Fakes) -> str:
    challenge = await fakes.auth.login(ADA_EMAIL, PASSWORD, CLIENT, None, None)
    assert isinstance(challenge, MfaChallenge)
    return challenge.token


async def test_confirm_with_a_wrong_code_counts_a_failure_and_turns_nothing_on(fakes: Fakes) -> None:
    laptop, secret = await set_up(fakes)
    with pytest.raises(InvalidCode):
        await fakes.mfa.confirm_setup(fakes.current(), fakes.sessions.handle(laptop), wrong_code(secret), CLIENT)
    # Under the codes' own subject: a right password must not forget wrong codes.
    assert fakes.limiter.begun[-1] == ((LIMITS.login_per_account, "user:7:1:mfa"), (LIMITS.login_per_ip, IP))
    assert fakes.limiter.ended[-1] is Outcome.FAILURE
    assert fakes.db.tables.mfa[ADA_ID].enabled_at is None
    assert fakes.row().credential_version == 1
    assert transactions(fakes.journal)[-1][-1] == "rollback"
    assert laptop in fakes.sessions.live


async def test_confirm_with_a_right_code_turns_it_on_as_a_credential_change(fakes: Fakes) -> None:
    laptop, secret = await set_up(fakes)
    step = now_step()
    codes = await fakes.mfa.confirm_setup(fakes.current(), fakes.sessions.handle(laptop), code_at(secret, step), CLIENT)
    [confirm] = transactions(fakes.journal)
    assert in_order(
        confirm,
        "begin",
        "lock user 7",
        "lock second factor of user 7",
        f"code of step {step} used",
        "second factor of user 7 on",
        "event mfa_enabled for user 7",
        "version of user 7 advanced: version 2",
        "sessions of user 7 ended at version 2",
        "commit",
    ), confirm
    assert fakes.limiter.ended[-1] is Outcome.SUCCESS
    assert len(codes.codes) == 10
    assert fakes.user().profile.mfa_enabled
    assert laptop not in fakes.sessions.live
    assert [session.credential_version for session in fakes.sessions.of(ADA_ID)] == [2]
    assert codes.renewed.session_token in fakes.sessions.live


async def test_setup_needs_a_verified_address(fakes: Fakes) -> None:
    await fakes.add_account(verified=False)
    with pytest.raises(EmailNotVerified):
        await fakes.mfa.begin_setup(fakes.current(), None, PASSWORD, CLIENT, None)
    assert fakes.db.tables.mfa == {}


async def test_a_code_works_once(fakes: Fakes) -> None:
    secret, step, _ = await turned_on(fakes)
    pending = await password_step(fakes)
    # The code that turned it on: its own answer (wait for the next code), counted as any wrong code.
    with pytest.raises(SignInCodeAlreadyUsed):
        await fakes.mfa.complete_sign_in(pending, code_at(secret, step), None, CLIENT, None, None)
    assert fakes.limiter.begun[-1][0] == (LIMITS.login_per_account, "user:7:2:mfa")
    assert fakes.limiter.ended[-1] is Outcome.FAILURE
    assert fakes.pending.wrong_codes[pending] == 1
    # Its transaction rolled back; the refusal is logged in one of its own.
    assert fakes.db.tables.events(ADA_ID)[-1] is EventKind.SIGN_IN_FAILED

    sign_in = await fakes.mfa.complete_sign_in(pending, code_at(secret, step + 1), None, CLIENT, None, None)
    assert isinstance(sign_in, SignIn)
    assert fakes.sessions.live[sign_in.session_token].credential_version == 2
    assert pending not in fakes.pending.pending  # completed once
    with pytest.raises(MfaExpired):
        await fakes.mfa.complete_sign_in(pending, code_at(secret, step + 1), None, CLIENT, None, None)


async def test_a_used_code_is_told_apart_from_a_wrong_one_and_counts_the_same(fakes: Fakes) -> None:
    secret, step, codes = await turned_on(fakes)
    laptop = codes.renewed.session_token
    fakes.db.tables.mfa[ADA_ID].last_used_step = step + 1  # as if the next step's code was used meanwhile
    for code, refusal in ((code_at(secret, step + 1), CodeAlreadyUsed), (wrong_code(secret), InvalidCode)):
        with pytest.raises(refusal) as refused:
            await fakes.mfa.disable(fakes.current(), fakes.sessions.handle(laptop), PASSWORD, code, CLIENT, None)
        assert type(refused.value) is refusal
        assert fakes.limiter.ended[-1] is Outcome.FAILURE
        assert fakes.db.tables.mfa[ADA_ID].enabled_at is not None
    assert "next code" in CodeAlreadyUsed.detail
    # A code of a step older than the last used one, within the window, is refused as used.
    with pytest.raises(CodeAlreadyUsed):
        await fakes.mfa.disable(
            fakes.current(), fakes.sessions.handle(laptop), PASSWORD, code_at(secret, step), CLIENT, None
        )


async def test_a_recovery_code_works_once(fakes: Fakes) -> None:
    _, _, codes = await turned_on(fakes)
    sign_in = await fakes.mfa.complete_sign_in(await password_step(fakes), None, codes.codes[0], CLIENT, None, None)
    assert isinstance(sign_in, SignIn)
    assert "recovery code email" in await fakes.spawned.run()
    with pytest.raises(InvalidSignInCode):
        await fakes.mfa.complete_sign_in(await password_step(fakes), None, codes.codes[0], CLIENT, None, None)
    assert len(fakes.db.tables.mfa[ADA_ID].recovery_codes) == 9


async def test_the_fifth_wrong_code_ends_the_pending_sign_in(fakes: Fakes) -> None:
    secret, step, _ = await turned_on(fakes)
    pending = await password_step(fakes)
    for _ in range(MAX_WRONG_CODES):
        with pytest.raises(InvalidSignInCode):
            await fakes.mfa.complete_sign_in(pending, wrong_code(secret), None, CLIENT, None, None)
    assert fakes.limiter.ended[-MAX_WRONG_CODES:] == [Outcome.FAILURE] * MAX_WRONG_CODES
    with pytest.raises(MfaExpired):  # even with a right code: the password must be given again
        await fakes.mfa.complete_sign_in(pending, code_at(secret, step + 1), None, CLIENT, None, None)


async def test_a_pending_sign_in_from_before_a_credential_change_expires(fakes: Fakes) -> None:
    secret, step, _ = await turned_on(fakes)
    pending = await password_step(fakes)
    sessions = set(fakes.sessions.live)
    fakes.change_committed_elsewhere()  # a reset, or two-factor sign-in turned off and on again
    with pytest.raises(MfaExpired):
        await fakes.mfa.complete_sign_in(pending, code_at(secret, step + 1), None, CLIENT, None, None)
    assert pending not in fakes.pending.pending
    assert fakes.db.tables.mfa[ADA_ID].last_used_step == step  # the code was not spent
    assert set(fakes.sessions.live) == sessions  # and no session started
