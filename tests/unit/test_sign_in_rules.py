"""Sign-in's rules through the domain's ports, with in-memory fakes (tests/unit/fakes.py; no server): what a sign-in
counts and under which subject, that a rehash never overwrites a change, the device tokens, and the links' shape.

The integration suite (tests/*.py, real PostgreSQL and Redis) stays the main one; these pin the rules themselves.
"""

from __future__ import annotations

from typing import Any

import bcrypt
import pytest

from pet_auth.domain.email_links import EmailLinks
from pet_auth.domain.errors import CredentialsChanged, InvalidCredentials, InvalidLink
from pet_auth.domain.ports import Outcome
from tests.unit.fakes import (
    ADA_EMAIL,
    ADA_ID,
    CLIENT,
    LIMITS,
    PASSWORD,
    Fakes,
    HookedHasher,
    Spawned,
    Unused,
)


def legacy_hash() -> str:
    return bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()


async def test_a_legacy_hash_is_replaced_over_the_hash_verified(fakes: Fakes) -> None:
    await fakes.add_account()
    legacy = fakes.row().password_hash = legacy_hash()
    await fakes.auth.authenticate(ADA_EMAIL, PASSWORD, CLIENT, None)
    assert fakes.row().password_hash.startswith("$argon2id$")
    assert "hash of user 7 upgraded" in fakes.journal
    assert (await fakes.hasher.verify(fakes.row().password_hash, PASSWORD)).ok
    assert fakes.row().password_hash != legacy


async def test_a_rehash_never_overwrites_a_change_made_meanwhile(fakes: Fakes, hasher: HookedHasher) -> None:
    await fakes.add_account()
    fakes.row().password_hash = legacy_hash()

    def reset_committed() -> None:  # while this sign-in hashed the password again
        fakes.row().password_hash = "$argon2id$ the reset's own hash"

    hasher.after_hash = reset_committed
    await fakes.auth.authenticate(ADA_EMAIL, PASSWORD, CLIENT, None)
    assert fakes.row().password_hash == "$argon2id$ the reset's own hash"
    assert "hash of user 7 not upgraded" in fakes.journal


async def test_sign_ins_count_under_the_account_and_its_credential_version(fakes: Fakes) -> None:
    await fakes.add_account()
    fakes.row().credential_version = 3
    await fakes.auth.authenticate(ADA_EMAIL, PASSWORD, CLIENT, None)
    with pytest.raises(InvalidCredentials):
        await fakes.auth.authenticate(ADA_EMAIL, "not the password", CLIENT, None)
    with pytest.raises(InvalidCredentials):
        await fakes.auth.authenticate("nobody@example.com", PASSWORD, CLIENT, None)
    subjects = [checks[0] for checks in fakes.limiter.begun]
    assert subjects == [
        (LIMITS.login_per_account, "user:7:3"),
        (LIMITS.login_per_account, "user:7:3"),
        (LIMITS.login_per_account, "email:nobody@example.com"),
    ]
    assert fakes.limiter.ended == [Outcome.SUCCESS, Outcome.FAILURE, Outcome.FAILURE]


async def test_a_known_device_is_counted_on_its_own_and_only_for_its_account(fakes: Fakes) -> None:
    await fakes.add_account()
    own, someone_elses = fakes.devices.issue(ADA_ID, 1), fakes.devices.issue(ADA_ID + 1, 1)
    _, device_id = await fakes.auth.authenticate(ADA_EMAIL, PASSWORD, CLIENT, own)
    await fakes.auth.authenticate(ADA_EMAIL, PASSWORD, CLIENT, someone_elses)
    assert device_id == own.split(".")[3]
    assert [checks[0] for checks in fakes.limiter.begun] == [
        (LIMITS.login_per_device, f"user:7:1:device:{device_id}"),
        (LIMITS.login_per_account, "user:7:1"),
    ]


async def test_a_device_token_ends_with_the_credentials_it_was_issued_under(fakes: Fakes) -> None:
    await fakes.add_account()
    issued_before_a_reset = fakes.devices.issue(ADA_ID, 1)
    fakes.change_committed_elsewhere()
    _, device_id = await fakes.auth.authenticate(ADA_EMAIL, PASSWORD, CLIENT, issued_before_a_reset)
    assert device_id is None
    assert [checks[0] for checks in fakes.limiter.begun] == [(LIMITS.login_per_account, "user:7:2")]


@pytest.mark.parametrize("part", range(5))
def test_a_device_token_with_any_part_altered_is_no_device(fakes: Fakes, part: int) -> None:
    token = fakes.devices.issue(ADA_ID, 4)
    parts = token.split(".")
    parts[part] = "9" if part < 3 else ("A" * 22 if parts[part] != "A" * 22 else "B" * 22)
    assert fakes.devices.device_of(token, ADA_ID, 4) is not None
    assert fakes.devices.device_of(".".join(parts), ADA_ID, 4) is None


async def test_an_attempt_cut_short_counts_as_nothing(fakes: Fakes, hasher: HookedHasher) -> None:
    await fakes.add_account()

    def outage() -> None:
        raise ConnectionResetError("the hash never got an answer")

    hasher.after_verify = outage
    with pytest.raises(ConnectionResetError):
        await fakes.auth.authenticate(ADA_EMAIL, PASSWORD, CLIENT, None)
    assert fakes.limiter.ended == [Outcome.ABANDONED]


async def test_a_sign_in_whose_credentials_changed_before_its_session_was_stored_loses(fakes: Fakes) -> None:
    await fakes.add_account()
    credentials, _ = await fakes.auth.authenticate(ADA_EMAIL, PASSWORD, CLIENT, None)
    # A reset commits between the password check and the session: it ends the sessions of version 1.
    fakes.change_committed_elsewhere()
    await fakes.sessions.credentials_changed(ADA_ID, 2)
    with pytest.raises(CredentialsChanged):
        await fakes.auth.finish_login(credentials, CLIENT, None, None)
    assert fakes.sessions.of(ADA_ID) == []
    assert "lock user 7 to read its version" in fakes.journal


async def test_a_credential_change_that_never_committed_locks_no_one_out(fakes: Fakes) -> None:
    await fakes.add_account()
    credentials, _ = await fakes.auth.authenticate(ADA_EMAIL, PASSWORD, CLIENT, None)
    # A change ended the sessions in Redis, then its transaction rolled back: the version is still 1.
    await fakes.sessions.credentials_changed(ADA_ID, 2)
    sign_in = await fakes.auth.finish_login(credentials, CLIENT, None, None)
    assert fakes.sessions.live[sign_in.session_token].credential_version == 1


@pytest.mark.parametrize("token", ["", "short", "!" * 43, "a" * 44, "a" * 42])
async def test_a_link_token_of_the_wrong_shape_is_refused_without_a_lookup(fakes: Fakes, token: str) -> None:
    links = EmailLinks(
        notifier=Unused(),
        spawn=Spawned(),
        secret=b"k" * 32,
        frontend_url="https://pets.example",
        verify_ttl=60,
        change_ttl=60,
    )
    no_lookups: Any = Unused()
    with pytest.raises(InvalidLink):
        await links.consume(no_lookups, token, "verify")
