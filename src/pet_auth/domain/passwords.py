"""Password policy and hashing: argon2id for new hashes, bcrypt hashes from the Node era still verify.

A password is the same password in whichever Unicode form a keyboard typed it: it is hashed, verified and counted
in NFC (composed "é", not "e" + U+0301). Hashes made before that may be of another form, so a password not in NFC
that fails in NFC is also tried as given; a match that way asks for a rehash (of the NFC form).

A failed check takes one time class whatever the stored hash: a bcrypt check runs bcrypt whatever the password's
length, and every failure answers no sooner than a bcrypt check at the Node version's cost would, once per form
of the password tried (twice for a password not in NFC, whatever the account). Otherwise the time of a failed
sign-in would tell an argon2 account, a legacy (bcrypt) one and an unknown address apart.

A new password (register, change, reset) must pass `PasswordPolicy`: a length that depends on whether it will be the
account's only factor, no control characters, not on the bundled list of common passwords, then not in the corpus of
breached passwords (the `BreachedPasswords` port), as BREACHED_PASSWORD_CHECK says. Passwords already set are never
judged again: a shorter one keeps working until it is changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import gzip
import os
import statistics
import sys
import threading
import time
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TypeVar

import argon2
import bcrypt

from pet_auth.domain.errors import FieldError, InvalidInput, PasswordCheckUnavailable
from pet_auth.domain.ports import BreachedPasswords

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
HASH_THREAD_NICENESS = 10
HASH_THREAD_NAME = "password-hash"
TOO_COMMON = "is too common: it appears in lists of leaked passwords; choose another"
BREACHED = "has appeared in a data breach, so attackers will try it early; choose another, used nowhere else"
# The Node version hashed with bcrypt at this cost; its users may be imported at any time.
LEGACY_BCRYPT_COST = 10
BCRYPT_MAX_BYTES = 72
T = TypeVar("T")


@cache
def common_passwords() -> frozenset[str]:
    """The bundled list of ~20,000 common passwords (Django's list, lower-cased)."""
    data = resources.files("pet_auth.domain").joinpath("common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode().split())


def check_password_policy(password: str, field: str = "password", *, min_length: int = MIN_PASSWORD_LENGTH) -> None:
    """Length in characters (not bytes) of the NFC form, no composition rules, no common passwords."""
    password = unicodedata.normalize("NFC", password)
    if len(password) < min_length:
        message = f"must be at least {min_length} characters"
    elif len(password) > MAX_PASSWORD_LENGTH:
        message = f"must be at most {MAX_PASSWORD_LENGTH} characters"
    elif any(unicodedata.category(ch) == "Cc" for ch in password):
        message = "must not contain control characters"
    elif password.lower() in common_passwords():
        message = TOO_COMMON
    else:
        return
    raise InvalidInput(FieldError(field, message))


class BreachCheck(enum.Enum):
    """BREACHED_PASSWORD_CHECK: what a new password meets when the corpus of breached passwords cannot be asked."""

    OFF = "off"  # never asked: the bundled list alone
    FAIL_OPEN = "fail-open"  # the bundled list alone, this time
    FAIL_CLOSED = "fail-closed"  # refused for now (PasswordCheckUnavailable, 503)


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """The rules for a new password. NIST SP 800-63B-4 §3.1.1.2: at least 15 characters for a password that is the
    only factor (PASSWORD_MIN_LENGTH_SINGLE_FACTOR=15), at least 8 for one used with a second factor; no other
    composition rule; checked against commonly used and breached passwords."""

    min_length_single_factor: int = MIN_PASSWORD_LENGTH
    min_length_with_mfa: int = MIN_PASSWORD_LENGTH
    breach_check: BreachCheck = BreachCheck.OFF
    breached: BreachedPasswords | None = None

    def min_length(self, *, mfa: bool | None) -> int:
        """The minimum for an account with two-factor sign-in on (True), off (False), or not known yet (None: the
        lower of the two, a first cheap check before the account is read)."""
        if mfa is None:
            return min(self.min_length_with_mfa, self.min_length_single_factor)
        return self.min_length_with_mfa if mfa else self.min_length_single_factor

    def check(self, password: str, field: str = "password", *, mfa: bool | None) -> None:
        """The cheap rules: length, characters, the bundled list of common passwords."""
        check_password_policy(password, field, min_length=self.min_length(mfa=mfa))

    async def check_not_breached(self, password: str, field: str = "password") -> None:
        """Not in the corpus of breached passwords (as BREACHED_PASSWORD_CHECK says); after `check`, before hashing.
        The password is asked about in NFC, the form that is hashed."""
        if self.breach_check is BreachCheck.OFF or self.breached is None:
            return
        appearances = await self.breached.appearances(unicodedata.normalize("NFC", password))
        if appearances is None:
            if self.breach_check is BreachCheck.FAIL_CLOSED:
                raise PasswordCheckUnavailable
            return  # fail-open: the bundled list has had its say
        if appearances > 0:
            raise InvalidInput(FieldError(field, BREACHED))


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    needs_rehash: bool = False


class PasswordHasher:
    """Hashes run on a small dedicated thread pool: argon2 and bcrypt release the GIL, the event loop stays free."""

    def __init__(self, threads: int, *, time_cost: int = 2, memory_cost_kib: int = 19 * 1024) -> None:
        self._argon = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=1, type=argon2.Type.ID
        )
        self._pool = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix=HASH_THREAD_NAME, initializer=_prepare_hash_thread
        )
        # Verifying unknown emails against this keeps their timing close to known ones.
        self._dummy_hash = self._argon.hash("dummy password for timing equalization")
        # A legacy check (bcrypt, cost 10) takes about three argon2 checks: failures are padded to its duration.
        self._failure_floor_seconds = estimate_bcrypt_check_seconds(LEGACY_BCRYPT_COST)

    async def hash(self, password: str) -> str:
        """An argon2id hash of the password's NFC form."""
        return await self._run(self._argon.hash, unicodedata.normalize("NFC", password))

    async def verify(self, password_hash: str, password: str) -> Verification:
        """Check a password; a mismatch answers no sooner than a legacy bcrypt check per form of the password tried
        would (a sleep: no CPU)."""
        started = time.perf_counter()
        verification = await self._run(self._verify, password_hash, password)
        if not verification.ok:
            # A form tried costs up to one bcrypt check; how many forms depends on the password alone.
            floor = self._failure_floor_seconds * len(_forms(password))
            await asyncio.sleep(floor - (time.perf_counter() - started))
        return verification

    async def verify_dummy(self, password: str) -> None:
        """The work and time of a failed check, for an address without an account."""
        await self.verify(self._dummy_hash, password)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _run(self, fn: Callable[..., T], *args: str) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _verify(self, password_hash: str, password: str) -> Verification:
        nfc, *as_given = _forms(password)
        if password_hash.startswith(_BCRYPT_PREFIXES):
            return Verification(ok=_bcrypt_matches(password_hash, nfc, *as_given), needs_rehash=True)
        if self._argon_matches(password_hash, nfc):
            return Verification(ok=True, needs_rehash=self._argon.check_needs_rehash(password_hash))
        if any(self._argon_matches(password_hash, form) for form in as_given):
            # A hash made before passwords were normalized, of the form as typed: replaced by one of the NFC form.
            return Verification(ok=True, needs_rehash=True)
        return Verification(ok=False)

    def _argon_matches(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon.verify(password_hash, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False


# The stored hash of an account without a password (it signs in with passkeys only): no password matches it, and a
# check against it takes as long as a failed one.
NO_PASSWORD = ""


def _forms(password: str) -> tuple[str, ...]:
    """The forms of a password to check: its NFC form, then the password as given if that differs."""
    nfc = unicodedata.normalize("NFC", password)
    return (nfc,) if nfc == password else (nfc, password)


def _prepare_hash_thread() -> None:
    """Hash threads run at a lower CPU priority (nice +10) than the event loop: during a login storm the CPU
    goes to other requests first, and the hashes take what is left (all of it when nothing else runs). They also
    carry their name to the operating system (`top -H`, `ps -L`, and `make bench`'s CPU per thread)."""
    if sys.platform == "linux":  # only there does setpriority on a thread id lower that one thread
        native_id = threading.get_native_id()
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, native_id, HASH_THREAD_NICENESS)
        with contextlib.suppress(OSError), open(f"/proc/self/task/{native_id}/comm", "w") as comm:
            comm.write(HASH_THREAD_NAME)


def _bcrypt_matches(password_hash: str, *forms: str) -> bool:
    """As the Node version checked: bcrypt reads only the first 72 bytes (UTF-8) of a password, so a longer one
    matches by them, as it always did there; its sign-in then replaces the hash with argon2id of the whole password.
    Forms whose first 72 bytes are the same are checked once."""
    prefixes = dict.fromkeys(form.encode()[:BCRYPT_MAX_BYTES] for form in forms)
    try:
        return any(bcrypt.checkpw(prefix, password_hash.encode()) for prefix in prefixes)
    except ValueError:  # not a well-formed bcrypt hash
        return False


def estimate_bcrypt_check_seconds(cost: int, samples: int = 5) -> float:
    """How long a bcrypt check at `cost` takes here. Its work doubles with each step of cost, so a few checks at
    cost 4 (about a millisecond each) scaled up give it without spending a full check at startup."""
    sample_hash = bcrypt.hashpw(b"calibration", bcrypt.gensalt(4))
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        bcrypt.checkpw(b"not the password", sample_hash)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * float(1 << (cost - 4))
