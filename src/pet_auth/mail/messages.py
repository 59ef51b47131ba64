"""The texts of the emails we send, plain and HTML."""

from __future__ import annotations

from html import escape

from pet_auth.mail.base import Message


def reset_link_message(to: str, link: str, ttl_minutes: int) -> Message:
    text = (
        "Someone asked to reset the password of your Pet Manager account.\n\n"
        f"Open this link within {ttl_minutes} minutes to choose a new password:\n{link}\n\n"
        "If it was not you, ignore this email: your password stays as it is."
    )
    html = (
        "<p>Someone asked to reset the password of your Pet Manager account.</p>"
        f'<p><a href="{escape(link)}">Choose a new password</a> (valid for {ttl_minutes} minutes).</p>'
        "<p>If it was not you, ignore this email: your password stays as it is.</p>"
    )
    return Message(to=to, subject="Reset your Pet Manager password", text=text, html=html)


def password_changed_message(to: str, *, this_device_kept: bool) -> Message:
    devices = "every other signed-in device" if this_device_kept else "every signed-in device"
    first = f"The password of your Pet Manager account was just changed, and {devices} was signed out."
    advice = "If it was not you, reset your password now and contact support."
    return Message(
        to=to,
        subject="Your Pet Manager password was changed",
        text=f"{first}\n\n{advice}",
        html=f"<p>{escape(first)}</p><p>{escape(advice)}</p>",
    )
