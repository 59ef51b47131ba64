"""Proving an address, on the fakes (tests/unit/fakes.py): a change-of-address link is written under the credential
version the password was verified against and works only while that version is current; completing it, or a first
proof of the address, is a credential change that ends every session."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pet_auth.domain.errors import InvalidCredentials, InvalidLink
from pet_auth.domain.models import SessionRef
from pet_auth.domain.notices import ConfirmNewEmail, VerifyEmail
from tests.unit.fakes import (
    ADA_EMAIL,
    ADA_ID,
    CLIENT,
    IP,
    NEW_PASSWORD,
    PASSWORD,
    Fakes,
    HookedHasher,
    MfaRow,
    in_order,
    transactions,
)

NEW_EMAIL = "ada@new.example"


async def change_link(fakes: Fakes) -> str:
    """A change-of-address link for NEW_EMAIL, asked for with the password and mailed."""
    await fakes.addresses.request_change(fakes.current(), None, PASSWORD, NEW_EMAIL, CLIENT, None)
    await fakes.spawned.run()
    return fakes.notifier.token(ConfirmNewEmail)


async def test_a_change_link_issued_under_an_old_credential_version_is_refused(fakes: Fakes) -> None:
    await fakes.add_account()
    laptop = await fakes.sign_in()
    token = await change_link(fakes)
    # Then a new password, from a session: the version moves on (the link itself is not deleted by it).
    renewed = await fakes.account.change_password(
        fakes.current(), fakes.sessions.handle(laptop), PASSWORD, NEW_PASSWORD, CLIENT, None
    )
    assert [row.credential_version for row in fakes.db.tables.email_tokens.values()] == [1]
    fakes.journal.clear()

    with pytest.raises(InvalidLink):
        await fakes.addresses.confirm_change(token, CLIENT)

    assert fakes.journal == ["begin", "lock user 7", "change link not consumed at version 2", "rollback"]
    assert fakes.row().email == ADA_EMAIL
    assert fakes.row().credential_version == 2
    assert renewed.session_token in fakes.sessions.live


async def test_a_change_link_moves_the_account_and_ends_every_session(fakes: Fakes) -> None:
    await fakes.add_account()
    laptop = await fakes.sign_in()
    token = await change_link(fakes)
    await fakes.reset_token()  # mailed to the old address
    fakes.journal.clear()

    user = await fakes.addresses.confirm_change(token, CLIENT)

    [confirm] = transactions(fakes.journal)
    assert in_order(
        confirm,
        "begin",
        "lock user 7",
        "change link consumed",
        "address of user 7 changed: version 2",
        "reset links of user 7 deleted",
        "sessions of user 7 ended at version 2",
        "commit",
    ), confirm
    assert user.profile.email == NEW_EMAIL
    assert user.profile.email_verified
    assert laptop not in fakes.sessions.live
    assert fakes.db.tables.reset_tokens == {}
    with pytest.raises(InvalidLink):
        await fakes.addresses.confirm_change(token, CLIENT)


async def test_a_change_request_under_credentials_changed_meanwhile_writes_no_link(
    fakes: Fakes, hasher: HookedHasher
) -> None:
    await fakes.add_account()
    hasher.after_verify = fakes.change_committed_elsewhere  # a reset commits once the password is verified
    with pytest.raises(InvalidCredentials):
        await fakes.addresses.request_change(fakes.current(), None, PASSWORD, NEW_EMAIL, CLIENT, None)
    assert fakes.db.tables.email_tokens == {}
    assert await fakes.spawned.run() == []


async def test_the_first_proof_of_the_address_cleans_the_account_and_renews_the_caller(fakes: Fakes) -> None:
    await fakes.add_account(verified=False)
    laptop, phone = await fakes.sign_in(), await fakes.sign_in()
    # Set up by whoever knew the password, who may not own the mailbox.
    now = datetime.now(UTC)
    fakes.db.tables.mfa[ADA_ID] = MfaRow(b"sealed", created_at=now, enabled_at=now)
    await fakes.reset_token()
    await fakes.addresses.resend_verification(fakes.current(), IP)
    await fakes.spawned.run()
    token = fakes.notifier.token(VerifyEmail)

    verified = await fakes.addresses.verify(token, CLIENT, SessionRef(ADA_ID, fakes.sessions.handle(laptop)))

    assert verified.user.profile.email_verified
    assert not verified.user.profile.mfa_enabled
    assert ADA_ID not in fakes.db.tables.mfa
    assert fakes.db.tables.reset_tokens == {}
    assert fakes.db.tables.email_tokens == {}
    assert fakes.row().credential_version == 2
    assert verified.renewed is not None
    assert [token for token, session in fakes.sessions.live.items() if session.user_id == ADA_ID] == [
        verified.renewed.session_token
    ]
    assert phone not in fakes.sessions.live


async def test_a_verification_link_for_an_address_already_verified_changes_no_credentials(fakes: Fakes) -> None:
    await fakes.add_account(verified=False)
    await fakes.addresses.resend_verification(fakes.current(), IP)
    await fakes.spawned.run()
    first = fakes.notifier.token(VerifyEmail)
    laptop = await fakes.sign_in()
    fakes.row().email_verified = True  # proved meanwhile, by a reset
    verified = await fakes.addresses.verify(first, CLIENT, None)
    assert verified.renewed is None
    assert fakes.row().credential_version == 1
    assert laptop in fakes.sessions.live
    assert "sessions of user 7 show the new profile" in fakes.journal
