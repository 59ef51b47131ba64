"""The password rules themselves (no server): one password whatever its Unicode form, and the hashes of earlier
releases and of the Node version still verify, then ask to be replaced."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

import argon2
import bcrypt
import pytest

from pet_auth.domain.errors import InvalidInput
from pet_auth.domain.passwords import PasswordHasher, Verification, check_password_policy

# One password, typed on two keyboards: composed "é" (NFC) and "e" + combining acute accent (NFD).
NFC = "café crème brûlée"
NFD = unicodedata.normalize("NFD", NFC)
# 100 bytes of UTF-8: the Node version's bcrypt read only the first 72.
LONG = ("crème brûlée, " * 6)[:82]


@pytest.fixture(scope="module")
def hasher() -> Iterator[PasswordHasher]:
    hasher = PasswordHasher(1, time_cost=1, memory_cost_kib=8)
    yield hasher
    hasher.close()


def test_the_examples_are_what_they_claim() -> None:
    assert NFC != NFD
    assert unicodedata.is_normalized("NFC", NFC)
    assert len(LONG.encode()) == 100
    assert unicodedata.is_normalized("NFC", LONG)


async def test_the_nfc_and_nfd_forms_verify_against_each_others_hash(hasher: PasswordHasher) -> None:
    assert await hasher.verify(await hasher.hash(NFC), NFD) == Verification(ok=True, needs_rehash=False)
    assert await hasher.verify(await hasher.hash(NFD), NFC) == Verification(ok=True, needs_rehash=False)


async def test_a_new_hash_is_of_the_nfc_form(hasher: PasswordHasher) -> None:
    # What a sign-in stores when it rehashes: argon2 of the NFC form, whichever form was typed.
    argon2.PasswordHasher().verify(await hasher.hash(NFD), NFC)


async def test_a_hash_of_the_nfd_form_verifies_given_that_form_and_asks_for_a_rehash(hasher: PasswordHasher) -> None:
    # As a release before normalization stored it: argon2id (the current parameters) of the form as typed.
    old_release = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=argon2.Type.ID).hash(NFD)
    assert await hasher.verify(old_release, NFD) == Verification(ok=True, needs_rehash=True)
    assert not (await hasher.verify(old_release, NFD + "!")).ok


async def test_a_legacy_bcrypt_hash_checks_the_first_72_bytes_as_node_did(hasher: PasswordHasher) -> None:
    legacy = bcrypt.hashpw(LONG.encode()[:72], bcrypt.gensalt(4)).decode()
    assert await hasher.verify(legacy, LONG) == Verification(ok=True, needs_rehash=True)
    assert not (await hasher.verify(legacy, "X" + LONG[1:])).ok
    assert not (await hasher.verify(legacy, LONG[:40])).ok


async def test_a_legacy_bcrypt_hash_of_the_nfd_form_verifies_given_that_form(hasher: PasswordHasher) -> None:
    nfd = unicodedata.normalize("NFD", LONG)  # the Node version hashed the bytes as typed
    legacy = bcrypt.hashpw(nfd.encode()[:72], bcrypt.gensalt(4)).decode()
    assert await hasher.verify(legacy, nfd) == Verification(ok=True, needs_rehash=True)
    nfc_legacy = bcrypt.hashpw(LONG.encode()[:72], bcrypt.gensalt(4)).decode()
    assert await hasher.verify(nfc_legacy, nfd) == Verification(ok=True, needs_rehash=True)


async def test_a_wrong_password_still_fails(hasher: PasswordHasher) -> None:
    current = await hasher.hash(NFC)
    for wrong in (NFC.upper(), NFC + " ", unicodedata.normalize("NFD", NFC.upper())):
        assert await hasher.verify(current, wrong) == Verification(ok=False)


def test_the_policy_counts_the_characters_of_the_nfc_form() -> None:
    seven = "é" * 7  # 14 code points in NFD
    with pytest.raises(InvalidInput, match="at least 8"):
        check_password_policy(unicodedata.normalize("NFD", seven))
    check_password_policy(unicodedata.normalize("NFD", "é" * 128))  # 256 code points in NFD, 128 characters
