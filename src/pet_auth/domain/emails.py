"""Email addresses: syntax checked by `email-validator`, one canonical form per mailbox.

The canonical form is NFC over the whole address, lower-cased, with the domain in its Unicode (IDNA-decoded) form:
`JOSÉ@Bücher.de`, `josé@bücher.de` written with a combining accent and `josé@xn--bcher-kva.de` are one address.
Comments, quoted local parts, IP-literal domains, display names and angle brackets, obsolete syntax and bad dots or
hyphens are refused: a mail system could deliver such an address to another mailbox than the one it seems to name.
"""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

from pet_auth.domain.errors import FieldError, InvalidInput

MAX_EMAIL_LENGTH = 254

# Control, format (bidi overrides, zero-width), surrogate and private-use characters: an address holding one
# can look like another account's, and PostgreSQL cannot store a NUL at all.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})


def check_email_characters(email: str, field: str = "email") -> None:
    if any(unicodedata.category(ch) in _INVISIBLE_CATEGORIES for ch in email):
        raise InvalidInput(FieldError(field, "must not contain control or invisible characters"))


def normalize_email(raw: str, field: str = "email") -> str:
    """The canonical form of an address; `InvalidInput` naming `field` when it is not a plain mailbox address.

    Every path that takes an address (sign-up, sign-in, forgot password, any lookup) goes through this function,
    and the stored addresses are in its form, so that one mailbox is one account and one rate-limit subject.
    """
    email = unicodedata.normalize("NFC", raw.strip()).lower()
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidInput(FieldError(field, f"must be at most {MAX_EMAIL_LENGTH} characters"))
    check_email_characters(email, field)
    try:
        # Syntax only: no DNS. Quoted local parts, domain literals and display names are off by these defaults,
        # stated here so that a change of the library's defaults cannot let them in.
        validated = validate_email(
            email,
            check_deliverability=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
            allow_empty_local=False,
        )
    except EmailNotValidError as exc:
        raise InvalidInput(FieldError(field, f"must be a valid email address: {exc}")) from None
    # The library NFC-normalizes the local part and gives the domain IDNA-decoded, lower-cased and NFC.
    canonical = f"{validated.local_part}@{validated.domain}"
    if len(canonical) > MAX_EMAIL_LENGTH:
        raise InvalidInput(FieldError(field, f"must be at most {MAX_EMAIL_LENGTH} characters"))
    return canonical


def sign_in_email(raw: str) -> str:
    """The address to look up at sign-in: its canonical form, or, for one that is not a valid address, the trimmed
    lower-cased text. Every stored address is canonical (migration 0005 made the old ones so), hence valid: no
    account has such a text, and the sign-in fails like one for an unknown address. Control and invisible
    characters stay a field error, as everywhere."""
    check_email_characters(raw)
    try:
        return normalize_email(raw)
    except InvalidInput:
        return unicodedata.normalize("NFC", raw.strip()).lower()
