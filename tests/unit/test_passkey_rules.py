"""Passkeys' rules on the fakes (tests/unit/fakes.py), with the software authenticator of tests/support/webauthn.py:
adding or removing one is a credential change made in one transaction (the lock first, then the version, then the
sessions); the last way to sign in stays; a reset keeps passkeys but those added within its window, and says which;
a sign-in stores a session only for the credential version it read with the passkey."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pet_auth.domain.errors import (
    CredentialsChanged,
    LastSignInMethod,
    PasskeyChallengeInvalid,
    PasskeyLimitReached,
    PasskeyNotFound,
    PasskeyNotRecognized,
    PasskeySignInInvalid,
)
from pet_auth.domain.models import Passkey, PasskeyOwner
from pet_auth.domain.notices import PasskeyAdded, PasskeyRemoved, PasswordChanged
from pet_auth.domain.passkeys import MAX_PASSKEYS, passkey_name
from pet_auth.domain.ports import Outcome
from pet_auth.domain.security_events import EventKind
from tests.support.webauthn import SoftwareAuthenticator
from tests.unit.fakes import (
    ADA_ID,
    CLIENT,
    FRONTEND_URL,
    LIMITS,
    NEW_PASSWORD,
    FakePasskeys,
    Fakes,
    in_order,
    transactions,
)


@pytest.fixture
def authenticator() -> SoftwareAuthenticator:
    return SoftwareAuthenticator(origin=FRONTEND_URL)


async def signed_in(fakes: Fakes) -> str:
    """Ada's account (address verified) and a session's handle."""
    await fakes.add_account()
    return fakes.sessions.handle(await fakes.sign_in())


async def add_passkey(
    fakes: Fakes, authenticator: SoftwareAuthenticator, handle: str, name: str = "phone"
) -> tuple[Passkey, str]:
    """A passkey added from the session `handle`; the passkey, and the caller's new session handle."""
    options = await fakes.passkeys.registration_options(fakes.current(), handle)
    registered = await fakes.passkeys.register(fakes.current(), handle, authenticator.create(options), name, CLIENT)
    await fakes.spawned.run()
    return registered.passkey, fakes.sessions.handle(registered.renewed.session_token)


async def test_adding_a_passkey_is_a_credential_change_in_one_transaction(
    fakes: Fakes, authenticator: SoftwareAuthenticator
) -> None:
    handle = await signed_in(fakes)
    other = await fakes.sign_in()
    fakes.journal.clear()

    passkey, _ = await add_passkey(fakes, authenticator, handle)

    assert passkey.name == "phone"
    [*_, added] = transactions(fakes.journal)
    assert in_order(
        added,
        "begin",
        f"lock user {ADA_ID}",
        f"passkey {passkey.id} of user {ADA_ID} added",
        f"version of user {ADA_ID} advanced: version 2",
        f"sessions of user {ADA_ID} ended at version 2",
        "commit",
    )
    assert other not in fakes.sessions.live
    assert [s.credential_version for s in fakes.sessions.of(ADA_ID)] == [2]  # the caller's renewed one
    assert EventKind.PASSKEY_ADDED in fakes.db.tables.events(ADA_ID)
    [notice] = fakes.notifier.of(PasskeyAdded)
    assert (notice.name, notice.device) == ("phone", CLIENT.known_device)


async def test_the_eleventh_passkey_is_refused(fakes: Fakes, authenticator: SoftwareAuthenticator) -> None:
    handle = await signed_in(fakes)
    for n in range(MAX_PASSKEYS):
        _, handle = await add_passkey(fakes, authenticator, handle, name=f"key {n}")
    with pytest.raises(PasskeyLimitReached):
        await fakes.passkeys.registration_options(fakes.current(), handle)


async def test_a_registration_challenge_is_bound_to_its_session_and_used_once(
    fakes: Fakes, authenticator: SoftwareAuthenticator
) -> None:
    handle = await signed_in(fakes)
    credential = authenticator.create(await fakes.passkeys.registration_options(fakes.current(), handle))
    with pytest.raises(PasskeyChallengeInvalid):
        await fakes.passkeys.register(fakes.current(), "another session", credential, None, CLIENT)
    await fakes.passkeys.register(fakes.current(), handle, credential, None, CLIENT)
    with pytest.raises(PasskeyChallengeInvalid):
        await fakes.passkeys.register(fakes.current(), handle, credential, None, CLIENT)


async def test_removing_the_last_way_to_sign_in_is_refused(fakes: Fakes, authenticator: SoftwareAuthenticator) -> None:
    """Every account has a password today; one without (passwordless, to come) keeps its last passkey."""
    handle = await signed_in(fakes)
    first, handle = await add_passkey(fakes, authenticator, handle, name="first")
    second, handle = await add_passkey(fakes, authenticator, handle, name="second")
    fakes.row().password_hash = ""  # a passkey-only account
    fakes.journal.clear()

    renewed = await fakes.passkeys.delete(fakes.current(), handle, first.id, CLIENT)  # another passkey remains
    handle = fakes.sessions.handle(renewed.session_token)
    with pytest.raises(LastSignInMethod):
        await fakes.passkeys.delete(fakes.current(), handle, second.id, CLIENT)

    assert [p.name for p in await fakes.passkeys.list_passkeys(ADA_ID)] == ["second"]
    assert transactions(fakes.journal)[-1][-1] == "rollback"
    assert fakes.row().credential_version == 4  # two additions and one removal
    await fakes.spawned.run()
    assert [n.name for n in fakes.notifier.of(PasskeyRemoved)] == ["first"]


async def test_the_last_passkey_of_an_account_with_a_password_goes(
    fakes: Fakes, authenticator: SoftwareAuthenticator
) -> None:
    handle = await signed_in(fakes)
    only, handle = await add_passkey(fakes, authenticator, handle)
    await fakes.passkeys.delete(fakes.current(), handle, only.id, CLIENT)
    assert await fakes.passkeys.list_passkeys(ADA_ID) == []
    assert EventKind.PASSKEY_REMOVED in fakes.db.tables.events(ADA_ID)


async def test_another_users_passkey_is_not_found(fakes: Fakes, authenticator: SoftwareAuthenticator) -> None:
    handle = await signed_in(fakes)
    passkey, handle = await add_passkey(fakes, authenticator, handle)
    await fakes.add_account("bob@example.com", user_id=8)
    bob_handle = fakes.sessions.handle(await fakes.sign_in("bob@example.com"))
    with pytest.raises(PasskeyNotFound):
        await fakes.passkeys.delete(fakes.current(8), bob_handle, passkey.id, CLIENT)
    with pytest.raises(PasskeyNotFound):
        await fakes.passkeys.rename(8, passkey.id, "mine")
    for impossible in (0, -1, 2**63):
        with pytest.raises(PasskeyNotFound):
            await fakes.passkeys.rename(ADA_ID, impossible, "x")


async def test_a_reset_keeps_older_passkeys_and_names_them(fakes: Fakes, authenticator: SoftwareAuthenticator) -> None:
    handle = await signed_in(fakes)
    old, handle = await add_passkey(fakes, authenticator, handle, name="Old laptop")
    await add_passkey(fakes, authenticator, handle, name="Just added")
    fakes.db.tables.passkeys[old.id].created_at -= timedelta(days=2)
    token = await fakes.reset_token()

    await fakes.password_reset.reset(token, NEW_PASSWORD, CLIENT)
    await fakes.spawned.run()

    assert [p.name for p in await fakes.passkeys.list_passkeys(ADA_ID)] == ["Old laptop"]
    [notice] = fakes.notifier.of(PasswordChanged)
    assert (notice.passkeys_kept, notice.passkeys_removed) == (("Old laptop",), ("Just added",))


async def test_the_first_proof_of_the_address_removes_every_passkey(
    fakes: Fakes, authenticator: SoftwareAuthenticator
) -> None:
    handle = await signed_in(fakes)
    await add_passkey(fakes, authenticator, handle)
    fakes.row().email_verified = False  # as if the passkey had been added before the address was ever proved
    await fakes.password_reset.reset(await fakes.reset_token(), NEW_PASSWORD, CLIENT)
    assert await fakes.passkeys.list_passkeys(ADA_ID) == []


async def test_a_passkey_sign_in_loses_to_a_credential_change_committed_after_its_read(
    fakes: Fakes, authenticator: SoftwareAuthenticator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sign-in read the passkey and the version together; a change committed before its session is stored (a
    reset, the passkey's removal) ended the sessions at a later version: no session is stored."""
    handle = await signed_in(fakes)
    await add_passkey(fakes, authenticator, handle)
    flow = await fakes.passkeys.sign_in_options(CLIENT)
    credential = authenticator.get(flow.options)
    read = FakePasskeys.get_for_sign_in

    async def read_then_a_reset_commits(self: FakePasskeys, credential_id: bytes) -> PasskeyOwner | None:
        owner = await read(self, credential_id)
        version = fakes.row().credential_version
        await fakes.sessions.credentials_changed(ADA_ID, version + 1)  # as a reset does, inside its transaction
        fakes.change_committed_elsewhere()  # and it commits
        return owner

    monkeypatch.setattr(FakePasskeys, "get_for_sign_in", read_then_a_reset_commits)
    with pytest.raises(CredentialsChanged):
        await fakes.passkeys.sign_in(flow.token, credential, CLIENT, None, None)
    assert fakes.sessions.of(ADA_ID) == []


async def test_a_passkey_sign_in_counts_failures_and_needs_its_flows_challenge(
    fakes: Fakes, authenticator: SoftwareAuthenticator
) -> None:
    handle = await signed_in(fakes)
    await add_passkey(fakes, authenticator, handle)
    flow = await fakes.passkeys.sign_in_options(CLIENT)
    other = await fakes.passkeys.sign_in_options(CLIENT)
    with pytest.raises(PasskeyChallengeInvalid):
        await fakes.passkeys.sign_in(other.token, authenticator.get(flow.options), CLIENT, None, None)
    flow = await fakes.passkeys.sign_in_options(CLIENT)
    with pytest.raises(PasskeySignInInvalid):
        await fakes.passkeys.sign_in(
            flow.token, authenticator.get(flow.options, user_verified=False), CLIENT, None, None
        )
    stranger = SoftwareAuthenticator(origin=FRONTEND_URL)
    stranger.create({"rp": {"id": "pets.example"}, "user": {"id": "AAAA"}, "challenge": "AAAA"})
    flow = await fakes.passkeys.sign_in_options(CLIENT)
    with pytest.raises(PasskeyNotRecognized):
        await fakes.passkeys.sign_in(flow.token, stranger.get(flow.options), CLIENT, None, None)
    flow = await fakes.passkeys.sign_in_options(CLIENT)
    sign_in = await fakes.passkeys.sign_in(flow.token, authenticator.get(flow.options), CLIENT, None, None)
    assert sign_in.user.id == ADA_ID
    assert fakes.limiter.ended[-4:] == [Outcome.FAILURE] * 3 + [Outcome.SUCCESS]
    assert all(checks == ((LIMITS.login_per_ip, CLIENT.ip),) for checks in fakes.limiter.begun[-4:])


@pytest.mark.parametrize(
    ("raw", "required", "expected"),
    [("  Phone ", True, "Phone"), (None, False, "Passkey"), ("   ", False, "Passkey"), ("é" * 120, True, "é" * 120)],
)
def test_passkey_names(raw: str | None, required: bool, expected: str) -> None:
    assert passkey_name(raw, required=required) == expected


@pytest.mark.parametrize("raw", ["", "  ", "x" * 121, "a\tb", "\x7f"])
def test_bad_passkey_names(raw: str) -> None:
    with pytest.raises(Exception, match="name"):
        passkey_name(raw, required=True)
