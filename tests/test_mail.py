"""The console mailer is for development: in production it logs neither the recipient nor the body."""

from __future__ import annotations

import pytest

from pet_auth.mail import ConsoleMailer
from pet_auth.mail.messages import reset_link_message

LINK = "http://localhost:5173/reset-password?token=secret-token-value"


def _hash(address: str) -> str:
    return f"hash-of-{len(address)}-characters"


async def test_console_mailer_shows_the_link_in_development(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="pet_auth.mail")
    await ConsoleMailer(reveal=True, address_hash=_hash).send(reset_link_message("a@x.io", LINK, 60))
    assert "secret-token-value" in caplog.text
    assert "a@x.io" in caplog.text


async def test_console_mailer_withholds_address_and_body_in_production(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="pet_auth.mail")
    await ConsoleMailer(reveal=False, address_hash=_hash).send(reset_link_message("a@x.io", LINK, 60))
    assert "a@x.io" not in caplog.text
    assert "secret-token-value" not in caplog.text
    assert "hash-of-6-characters" in caplog.text
