"""Email normalization: one account per address, whatever its case or surrounding spaces."""

from __future__ import annotations

import re
import unicodedata

from pet_auth.domain.errors import FieldError, InvalidInput

MAX_EMAIL_LENGTH = 254
# Pragmatic syntax check: one @, no whitespace or control characters, a dot in the domain.
_EMAIL = re.compile(r"[^\s@\x00-\x1f\x7f]+@[^\s@\x00-\x1f\x7f.]+(\.[^\s@\x00-\x1f\x7f.]+)+")


# Control, format (bidi overrides, zero-width), surrogate and private-use characters: an address holding one
# can look like another account's, and PostgreSQL cannot store a NUL at all.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})


def check_email_characters(email: str, field: str = "email") -> None:
    if any(unicodedata.category(ch) in _INVISIBLE_CATEGORIES for ch in email):
        raise InvalidInput(FieldError(field, "must not contain control or invisible characters"))


def normalize_email(raw: str, field: str = "email") -> str:
    email = raw.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidInput(FieldError(field, f"must be at most {MAX_EMAIL_LENGTH} characters"))
    check_email_characters(email, field)
    if not _EMAIL.fullmatch(email):
        raise InvalidInput(FieldError(field, "must be a valid email address"))
    return email
