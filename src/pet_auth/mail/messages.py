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


def _notice(to: str, subject: str, *paragraphs: str) -> Message:
    return Message(
        to=to,
        subject=subject,
        text="\n\n".join(paragraphs),
        html="".join(f"<p>{escape(paragraph)}</p>" for paragraph in paragraphs),
    )


_NOT_YOU = "If it was not you, reset your password now and contact support."


def mfa_enabled_message(to: str) -> Message:
    return _notice(
        to,
        "Two-factor sign-in is on for your Pet Manager account",
        "Two-factor sign-in was just turned on for your Pet Manager account: signing in now also asks for a code "
        "from your authenticator app, or one of your recovery codes. Every other signed-in device was signed out.",
        _NOT_YOU,
    )


def mfa_disabled_message(to: str) -> Message:
    return _notice(
        to,
        "Two-factor sign-in is off for your Pet Manager account",
        "Two-factor sign-in was just turned off for your Pet Manager account: signing in now asks for your "
        "password only. Every other signed-in device was signed out.",
        _NOT_YOU,
    )


def recovery_codes_replaced_message(to: str) -> Message:
    return _notice(
        to,
        "New recovery codes for your Pet Manager account",
        "New recovery codes were just made for your Pet Manager account; the earlier ones no longer work. Every "
        "other signed-in device was signed out.",
        _NOT_YOU,
    )


def recovery_code_used_message(to: str, codes_left: int) -> Message:
    left = f"{codes_left} recovery code{'' if codes_left == 1 else 's'} left"
    advice = (
        "Make new ones in your security settings before you run out."
        if codes_left <= 3
        else "Each code works once; you can make a new set any time in your security settings."
    )
    return _notice(
        to,
        f"A recovery code was used to sign in to Pet Manager ({left})",
        f"Someone just signed in to your Pet Manager account with a recovery code. You have {left}. {advice}",
        _NOT_YOU,
    )
