"""The corpus of breached passwords: Have I Been Pwned's range API, by k-anonymity (the `BreachedPasswords` port).

Only the first 5 hex digits of the password's SHA-1 leave the process (`GET <HIBP_RANGE_URL><PREFIX>`); the answer
lists the suffixes (the other 35 digits) of every breached password under that prefix, `SUFFIX:COUNT` a line, and
the match is made here. `Add-Padding: true` asks for padding lines (random suffixes with count 0) so that the size of
the answer does not tell the prefix either; a count of 0 is never a match.

A check that cannot be made (no answer within 2 s, a connection error, a status other than 200, a body with no
range line in it, or one past 1 MiB) answers None and counts one miss in
`pet_auth_breached_password_check_misses_total{reason}` when metrics are on; BREACHED_PASSWORD_CHECK decides the rest
(domain/passwords.py). Nothing is logged: neither the password nor its hash, not even the prefix.
"""

from __future__ import annotations

import asyncio
import hashlib
import re

import httpx
from prometheus_client import CollectorRegistry, Counter

TIMEOUT_SECONDS = 2.0
PREFIX_LENGTH = 5
# A padded answer is about 1,000 lines of 40 bytes or so; a body far beyond that is no range answer.
MAX_BODY_BYTES = 1 << 20
_LINE = re.compile(r"([0-9A-Fa-f]{35}):([0-9]+)")


def create_client() -> httpx.AsyncClient:
    """The one HTTP client of the process's checks (its connections are reused); closed at shutdown."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(TIMEOUT_SECONDS),
        follow_redirects=False,
        headers={"User-Agent": "pet_auth (breached password check)"},
    )


def miss_counter(registry: CollectorRegistry) -> Counter:
    return Counter(
        "pet_auth_breached_password_check_misses",
        "New passwords that could not be checked against the corpus of breached passwords, by reason.",
        ["reason"],
        registry=registry,
    )


def sha1_split(password: str) -> tuple[str, str]:
    """The password's SHA-1 (of its UTF-8), upper-case hex, as the prefix that is sent and the suffix that is not."""
    digest = hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()
    return digest[:PREFIX_LENGTH], digest[PREFIX_LENGTH:]


def parse_range(body: str) -> dict[str, int] | None:
    """The suffixes of a range answer with their counts; padding lines (count 0) are left out. None when no line
    of the body is a range line (an error page answered with 200, say): that is no answer."""
    found: dict[str, int] = {}
    any_line = False
    for line in body.splitlines():
        match = _LINE.fullmatch(line.strip())
        if match is None:
            continue
        any_line = True
        count = int(match[2])
        if count > 0:
            suffix = match[1].upper()
            found[suffix] = found.get(suffix, 0) + count
    return found if any_line else None


class _Miss(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PwnedPasswords:
    def __init__(self, client: httpx.AsyncClient, range_url: str, misses: Counter | None = None) -> None:
        self._client, self._range_url, self._misses = client, range_url, misses

    async def appearances(self, password: str) -> int | None:
        prefix, suffix = sha1_split(password)
        try:
            # The whole exchange, a slow trickle of a body included, within the timeout.
            async with asyncio.timeout(TIMEOUT_SECONDS):
                found = await self._range(prefix)
        except (TimeoutError, httpx.TimeoutException):
            self._missed("timeout")
        except httpx.HTTPError:  # refused, reset, a name that does not resolve, a malformed answer
            self._missed("unreachable")
        except _Miss as miss:
            self._missed(miss.reason)
        else:
            return found.get(suffix, 0)
        return None

    async def _range(self, prefix: str) -> dict[str, int]:
        async with self._client.stream("GET", self._range_url + prefix, headers={"Add-Padding": "true"}) as response:
            if response.status_code != 200:
                raise _Miss("status")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise _Miss("malformed")
        found = parse_range(body.decode("utf-8", errors="replace"))
        if found is None:
            raise _Miss("malformed")
        return found

    def _missed(self, reason: str) -> None:
        if self._misses is not None:
            self._misses.labels(reason).inc()
