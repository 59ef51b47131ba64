"""The console mailer is for development: in production it never writes a message body (a reset link) to the log."""

from __future__ import annotations

import pytest

from pet_auth.mail import ConsoleMailer
from pet_auth.mail.messages import reset_link_message

LINK = "http://localhost:5173/reset-password?token=secret-token-value"


async def test_console_mailer_shows_the_link_in_development(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="pet_auth.mail")
    await ConsoleMailer(reveal_body=True).send(reset_link_message("a@x.io", LINK, 60))
    assert "secret-token-value" in caplog.text


async def test_console_mailer_withholds_the_body_in_production(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="pet_auth.mail")
    await ConsoleMailer(reveal_body=False).send(reset_link_message("a@x.io", LINK, 60))
    assert "a@x.io" in caplog.text
    assert "secret-token-value" not in caplog.text
