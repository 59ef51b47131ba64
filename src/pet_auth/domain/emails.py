"""Email normalization: one account per address, whatever its case or surrounding spaces."""

from __future__ import annotations

import re

from pet_auth.domain.errors import FieldError, InvalidInput

MAX_EMAIL_LENGTH = 254
# Pragmatic syntax check: one @, no whitespace or control characters, a dot in the domain.
_EMAIL = re.compile(r"[^\s@\x00-\x1f\x7f]+@[^\s@\x00-\x1f\x7f.]+(\.[^\s@\x00-\x1f\x7f.]+)+")


def normalize_email(raw: str, field: str = "email") -> str:
    email = raw.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidInput(FieldError(field, f"must be at most {MAX_EMAIL_LENGTH} characters"))
    if not _EMAIL.fullmatch(email):
        raise InvalidInput(FieldError(field, "must be a valid email address"))
    return email
