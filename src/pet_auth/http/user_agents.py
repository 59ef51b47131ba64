"""A short description of a User-Agent header ("Firefox 133 on Linux"), what the sessions list shows.

The raw header is not stored: a browser's is over 100 bytes, kept with every session, and it is a fingerprint.
Telling one's own devices apart needs only the browser, its major version and the operating system.
"""

from __future__ import annotations

import re

MAX_LENGTH = 48

# Order matters: Edge, Opera and Samsung Internet also say Chrome; Chrome also says Safari.
_BROWSERS = (
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"\bOPR/(\d+)")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/(\d+)")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"\b(?:Chrome|CriOS)/(\d+)")),
    ("Safari", re.compile(r"\bVersion/(\d+)[\d.]* (?:Mobile/\S+ )?Safari/")),
)
# Order matters: Android says Linux; iOS says "like Mac OS X".
_SYSTEMS = (
    ("iOS", re.compile(r"\b(?:iPhone|iPad|iPod)\b")),
    ("Android", re.compile(r"\bAndroid\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("Linux", re.compile(r"\bLinux\b")),
)


def describe_user_agent(header: str) -> str:
    header = header[:512]  # bounds the regex work on a hostile header
    known = known_user_agent(header)
    if known is not None:
        return known
    # Not a browser we know ("curl/8.5.0", "okhttp/4.12.0"): its first product token.
    first, _, _ = header.strip().partition(" ")
    return "".join(character for character in first if character.isprintable())[:MAX_LENGTH]


def known_user_agent(header: str) -> str | None:
    """The description of a known browser (and system): made of our own names and its major version only, never
    of the header's text, so that a mail may show it. None for any other client."""
    header = header[:512]
    browser = next((f"{name} {match[1]}" for name, pattern in _BROWSERS if (match := pattern.search(header))), None)
    if browser is None:
        return None
    system = next((name for name, pattern in _SYSTEMS if pattern.search(header)), None)
    return (f"{browser} on {system}" if system else browser)[:MAX_LENGTH]
