"""Recovery codes: ten single-use codes, `xxxxx-xxxxx`, for when the authenticator is lost.

Ten characters of Crockford's base32 alphabet (digits and lower-case letters without i, l, o and u) are 50 random
bits; what people misread is forgiven on input (o is 0, i and l are 1, case, spaces and hyphens do not matter).
Stored as HMAC-SHA256 under a key of their own: 50 bits from a CSPRNG need no slow hash, only a secret one.
"""

from __future__ import annotations

import secrets

from pet_auth.domain.tokens import keyed_digest

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
COUNT = 10
LENGTH = 10  # 10 x 5 bits
_MISREAD = str.maketrans({"o": "0", "i": "1", "l": "1"})


def new_codes() -> list[str]:
    codes = ["".join(secrets.choice(ALPHABET) for _ in range(LENGTH)) for _ in range(COUNT)]
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def normalize(text: str) -> str | None:
    """The code in its canonical form (10 characters, no hyphen); None if `text` cannot be one."""
    code = "".join(text.lower().replace("-", "").split()).translate(_MISREAD)
    return code if len(code) == LENGTH and all(character in ALPHABET for character in code) else None


def code_hash(key: bytes, user_id: int, normalized_code: str) -> str:
    """Keyed per user, so that equal codes of two users are stored apart."""
    return keyed_digest(key, f"{user_id}:{normalized_code}")
