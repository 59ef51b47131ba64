"""The sessions list names a device by browser, major version and system, never by the raw User-Agent; a mail names
known browsers and systems only."""

from __future__ import annotations

import pytest

from pet_auth.http.user_agents import MAX_LENGTH, describe_user_agent, known_user_agent

CHROME_LINUX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


@pytest.mark.parametrize(
    ("header", "described"),
    [
        (CHROME_LINUX, "Chrome 131 on Linux"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox 133 on Windows"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
            "Safari/537.36 Edg/131.0.2903.86",
            "Edge 131 on Windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/18.1 Safari/605.1.15",
            "Safari 18 on macOS",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/18.1 Mobile/15E148 Safari/604.1",
            "Safari 18 on iOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
            "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
            "Samsung Internet 26 on Android",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 "
            "OPR/115.0.0.0",
            "Opera 115 on Linux",
        ),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 Chrome/131.0.0.0 Safari/537.36",
            "Chrome 131 on ChromeOS",
        ),
        ("curl/8.5.0", "curl/8.5.0"),
        ("okhttp/4.12.0 extra words", "okhttp/4.12.0"),
        ("", ""),
    ],
)
def test_a_user_agent_is_described_by_browser_version_and_system(header: str, described: str) -> None:
    assert describe_user_agent(header) == described


def test_an_unknown_client_is_cut_short_and_printable() -> None:
    described = describe_user_agent("x" * 300 + "\x07 tail")
    assert len(described) == MAX_LENGTH
    assert described.isprintable()
    assert describe_user_agent("bell\x07/1.0") == "bell/1.0"


@pytest.mark.parametrize(
    ("header", "known"),
    [
        (CHROME_LINUX, "Chrome 131 on Linux"),
        ("Mozilla/5.0 (compatible) Firefox/133.0", "Firefox 133"),  # a browser on no system we know
        ("curl/8.5.0", None),
        ("EvilBot/6.6 (+https://phish.example/login) Windows", None),
        ("<a href='https://phish.example'>Chrome</a>/131", None),
        ("", None),
    ],
)
def test_a_known_description_is_made_of_our_own_names_and_a_version(header: str, known: str | None) -> None:
    """What a mail may show: None for any client that is not a browser we know, whatever its header says."""
    assert known_user_agent(header) == known


def test_a_known_description_of_a_hostile_header_is_names_and_digits_only() -> None:
    known = known_user_agent("Firefox/" + "9" * 600 + " <script> Windows")
    assert known is not None
    assert len(known) <= MAX_LENGTH
    assert known.startswith("Firefox 999")
    assert "<" not in known
