"""The rules of the breached-password check without a server: the range format (padding lines ignored), the SHA-1
split, what each BREACHED_PASSWORD_CHECK mode does with a check that could not be made, and the minimum lengths."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field

import pytest

from pet_auth.domain.errors import InvalidInput, PasswordCheckUnavailable
from pet_auth.domain.passwords import BREACHED, BreachCheck, PasswordPolicy
from pet_auth.pwned import parse_range, sha1_split

# SHA-1("password") = 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8, the example of Have I Been Pwned's documentation.
PASSWORD_SUFFIX = "1E4C9B93F3F0682250B6CF8331B7EE68FD8"


def test_the_sha1_is_split_into_the_5_digit_prefix_sent_and_the_35_digit_suffix_kept() -> None:
    assert sha1_split("password") == ("5BAA6", PASSWORD_SUFFIX)
    prefix, suffix = sha1_split("héllo wörld, a passphrase")
    assert (
        prefix + suffix == hashlib.sha1("héllo wörld, a passphrase".encode(), usedforsecurity=False).hexdigest().upper()
    )
    assert len(prefix) == 5
    assert len(suffix) == 35


def test_a_range_answer_gives_the_counts_of_its_suffixes() -> None:
    body = (
        f"0018A45C4D1DEF81644B54AB7F969B88D65:21\r\n{PASSWORD_SUFFIX}:10434004\r\n00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2"
    )
    assert parse_range(body) == {
        "0018A45C4D1DEF81644B54AB7F969B88D65": 21,
        PASSWORD_SUFFIX: 10434004,
        "00D4F6E8FA6EECAD2A3AA415EEC418D38EC": 2,
    }


def test_padding_lines_of_count_0_are_no_match() -> None:
    body = f"{PASSWORD_SUFFIX}:0\r\n0018A45C4D1DEF81644B54AB7F969B88D65:3\r\n"
    assert parse_range(body) == {"0018A45C4D1DEF81644B54AB7F969B88D65": 3}
    # An answer of padding alone is still an answer: nothing under the prefix was breached.
    assert parse_range(f"{PASSWORD_SUFFIX}:0") == {}


def test_lower_case_suffixes_and_stray_lines_are_tolerated() -> None:
    body = f"\n{PASSWORD_SUFFIX.lower()}:5\nnot a range line\n{'A' * 34}:9\n{'B' * 36}:9\n"
    assert parse_range(body) == {PASSWORD_SUFFIX: 5}


def test_a_body_without_a_single_range_line_is_no_answer() -> None:
    assert parse_range("") is None
    assert parse_range("<html><body>Service temporarily unavailable</body></html>") is None


@dataclass
class FakeCorpus:
    """The port: a fixed answer, and the passwords it was asked about."""

    answer: int | None
    asked: list[str] = field(default_factory=list)

    async def appearances(self, password: str) -> int | None:
        self.asked.append(password)
        return self.answer


async def test_a_breached_password_is_refused_on_its_field_saying_so() -> None:
    policy = PasswordPolicy(breach_check=BreachCheck.FAIL_OPEN, breached=FakeCorpus(3))
    with pytest.raises(InvalidInput) as refused:
        await policy.check_not_breached("a password from a breach", "newPassword")
    [error] = refused.value.errors
    assert error.field == "newPassword"
    assert error.message == BREACHED
    assert "breach" in error.message


async def test_a_password_in_no_breach_is_accepted_in_every_mode() -> None:
    for mode in (BreachCheck.FAIL_OPEN, BreachCheck.FAIL_CLOSED):
        await PasswordPolicy(breach_check=mode, breached=FakeCorpus(0)).check_not_breached("a fresh passphrase")


async def test_a_check_that_could_not_be_made_fails_open_or_closed_as_set() -> None:
    await PasswordPolicy(breach_check=BreachCheck.FAIL_OPEN, breached=FakeCorpus(None)).check_not_breached("pw-pw-pw")
    closed = PasswordPolicy(breach_check=BreachCheck.FAIL_CLOSED, breached=FakeCorpus(None))
    with pytest.raises(PasswordCheckUnavailable):
        await closed.check_not_breached("pw-pw-pw")


async def test_off_never_asks() -> None:
    corpus = FakeCorpus(7)
    await PasswordPolicy(breach_check=BreachCheck.OFF, breached=corpus).check_not_breached("a password from a breach")
    assert corpus.asked == []


async def test_the_corpus_is_asked_about_the_nfc_form() -> None:
    corpus = FakeCorpus(0)
    policy = PasswordPolicy(breach_check=BreachCheck.FAIL_OPEN, breached=corpus)
    await policy.check_not_breached(unicodedata.normalize("NFD", "crème brûlée"))
    assert corpus.asked == ["crème brûlée"]


def test_the_minimum_length_depends_on_the_second_factor() -> None:
    policy = PasswordPolicy(min_length_single_factor=15, min_length_with_mfa=10)
    twelve = "violet gecko"
    assert len(twelve) == 12
    policy.check(twelve, mfa=True)
    policy.check(twelve, mfa=None)  # the account not known yet: the lower minimum
    with pytest.raises(InvalidInput, match="at least 15 characters"):
        policy.check(twelve, mfa=False)
    with pytest.raises(InvalidInput, match="at least 10 characters"):
        policy.check("violet gk", "newPassword", mfa=True)
    with pytest.raises(InvalidInput, match="at least 10 characters"):
        policy.check("violet gk", mfa=None)
    # The defaults: 8 either way, today's rule.
    PasswordPolicy().check("violet g", mfa=False)
