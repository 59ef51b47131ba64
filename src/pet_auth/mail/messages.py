"""The texts of the emails we send, plain and HTML: `render` turns each kind of the domain's notices into its mail."""

from __future__ import annotations

from html import escape
from typing import assert_never

from pet_auth.domain import notices
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


def password_changed_message(
    to: str,
    *,
    this_device_kept: bool,
    mfa_removed: bool = False,
    passkeys_kept: tuple[str, ...] = (),
    passkeys_removed: tuple[str, ...] = (),
) -> Message:
    devices = "every other signed-in device" if this_device_kept else "every signed-in device"
    first = f"The password of your Pet Manager account was just changed, and {devices} was signed out."
    if mfa_removed:
        first += (
            " Two-factor sign-in, turned on shortly before, was turned off: if you want it, turn it on again with "
            "your own authenticator app."
        )
    paragraphs = [first, *_passkeys_after_reset(passkeys_kept, passkeys_removed)]
    paragraphs.append("If it was not you, reset your password now and contact support.")
    return _notice(to, "Your Pet Manager password was changed", *paragraphs)


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(f"\u201c{name}\u201d" for name in names)


def _passkeys_after_reset(kept: tuple[str, ...], removed: tuple[str, ...]) -> list[str]:
    paragraphs = []
    if kept:
        paragraphs.append(f"Your passkeys still sign you in: {_names(kept)}. Remove any you do not recognize.")
    if removed:
        paragraphs.append(
            f"Passkeys added shortly before the reset were removed, in case they were not yours: {_names(removed)}. "
            "Add yours again from your security settings."
        )
    return paragraphs


def _message(to: str, subject: str, paragraphs: list[str], link: tuple[str, str] | None = None) -> Message:
    """Plain text and HTML from the same paragraphs; `link` is (label, url), shown after the first paragraph."""
    text_parts, html_parts = list(paragraphs), [f"<p>{escape(p)}</p>" for p in paragraphs]
    if link is not None:
        label, url = link
        text_parts.insert(1, f"{label}:\n{url}")
        html_parts.insert(1, f'<p><a href="{escape(url)}">{escape(label)}</a></p>')
    return Message(to=to, subject=subject, text="\n\n".join(text_parts), html="".join(html_parts))


def verify_email_message(to: str, link: str, ttl_hours: int) -> Message:
    return _message(
        to,
        "Confirm your Pet Manager email address",
        [
            "Welcome to Pet Manager! Please confirm that this is your email address.",
            f"The link is valid for {ttl_hours} hours. If you did not sign up, ignore this email.",
        ],
        ("Confirm my email address", link),
    )


def confirm_new_email_message(to: str, link: str, ttl_minutes: int) -> Message:
    return _message(
        to,
        "Confirm your new Pet Manager email address",
        [
            "Someone asked to move a Pet Manager account to this email address.",
            f"Open the link within {ttl_minutes} minutes to confirm. If it was not you, ignore this email.",
        ],
        ("Confirm the new address", link),
    )


def email_change_requested_message(to: str) -> Message:
    return _message(
        to,
        "Your Pet Manager email address is being changed",
        [
            "Someone signed in to your Pet Manager account asked to change its email address. Nothing changes "
            "until the new address is confirmed.",
            "If it was not you, change your password now: that also cancels the change.",
        ],
    )


def address_in_use_message(to: str) -> Message:
    return _message(
        to,
        "Someone tried to use this address on Pet Manager",
        [
            "Someone asked to move another Pet Manager account to this email address, which already has an "
            "account. Nothing was changed.",
            "If it was not you, you can ignore this email.",
        ],
    )


def account_deleted_message(to: str) -> Message:
    return _message(
        to,
        "Your Pet Manager account was deleted",
        [
            "Your Pet Manager account and everything it held were deleted, and every device was signed out.",
            "Goodbye, and thank you for using Pet Manager. You can sign up again at any time.",
        ],
    )


def new_device_message(to: str, device: str, ip: str, when: str, forgot_link: str) -> Message:
    return _message(
        to,
        "New sign-in to your Pet Manager account",
        [
            f"Your Pet Manager account was just signed in to from a new device: {device}, from {ip}, at {when}.",
            "If it was you, there is nothing to do. If it was not, reset your password now: that signs out every "
            "device.",
        ],
        ("Reset my password", forgot_link),
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


def passkey_added_message(to: str, name: str, device: str, when: str, activity_link: str) -> Message:
    return _message(
        to,
        "A passkey was added to your Pet Manager account",
        [
            f"A passkey named \u201c{name}\u201d was just added to your Pet Manager account, from {device}, at {when}. "
            "It signs in without a password. Every other signed-in device was signed out.",
            _NOT_YOU,
        ],
        ("Review your account's activity", activity_link),
    )


def passkey_removed_message(to: str, name: str, device: str, when: str, activity_link: str) -> Message:
    return _message(
        to,
        "A passkey was removed from your Pet Manager account",
        [
            f"The passkey named \u201c{name}\u201d was just removed from your Pet Manager account, from {device}, at "
            f"{when}: it no longer signs in. Every other signed-in device was signed out.",
            _NOT_YOU,
        ],
        ("Review your account's activity", activity_link),
    )


def password_removed_message(to: str, activity_link: str) -> Message:
    return _message(
        to,
        "The password of your Pet Manager account was removed",
        [
            "The password of your Pet Manager account was just removed: the account now signs in with its passkeys "
            "only, and every other signed-in device was signed out. To have a password again, use \u201cForgot "
            "password\u201d, or set one from a signed-in device.",
            _NOT_YOU,
        ],
        ("Review your account's activity", activity_link),
    )


# How a mail names a client that is not a browser we know: never by text taken from its User-Agent.
UNKNOWN_DEVICE = "an unrecognized browser or app"


def _where(device: str, network: str | None, when: str) -> str:
    place = "" if network is None else f", from the network {network}"
    return f"{device}{place}, at {when}"


def mfa_failures_message(
    to: str, failures: int, window_minutes: int, device: str, network: str | None, when: str, activity_link: str
) -> Message:
    return _message(
        to,
        "Someone has your Pet Manager password",
        [
            "Someone gave the right password for your Pet Manager account, then a wrong two-factor code "
            f"{failures} times within {window_minutes} minutes; the third came from "
            f"{_where(device, network, when)}. Two-factor sign-in kept them out.",
            "If it was not you, your password is known to someone else: change it now. Your account's activity "
            "shows every sign-in and change.",
        ],
        ("Review your account's activity", activity_link),
    )


def email_changed_message(to: str, device: str, network: str | None, when: str, activity_link: str) -> Message:
    return _message(
        to,
        "The email address of your Pet Manager account was changed",
        [
            "The email address of your Pet Manager account was just changed: the account now signs in with the new "
            "address, and its mail (password resets too) goes there, no longer here. The change was confirmed from "
            f"{_where(device, network, when)}.",
            "If it was not you, contact support at once, and review your account's activity.",
        ],
        ("Review your account's activity", activity_link),
    )


def render(notice: notices.Notice) -> Message:
    """The mail of a notice. A device we do not know is named as UNKNOWN_DEVICE, never by its User-Agent."""
    match notice:
        case notices.ResetLink(to, link, ttl_minutes):
            return reset_link_message(to, link, ttl_minutes)
        case notices.PasswordChanged(to, this_device_kept, mfa_removed, passkeys_kept, passkeys_removed):
            return password_changed_message(
                to,
                this_device_kept=this_device_kept,
                mfa_removed=mfa_removed,
                passkeys_kept=passkeys_kept,
                passkeys_removed=passkeys_removed,
            )
        case notices.VerifyEmail(to, link, ttl_hours):
            return verify_email_message(to, link, ttl_hours)
        case notices.ConfirmNewEmail(to, link, ttl_minutes):
            return confirm_new_email_message(to, link, ttl_minutes)
        case notices.EmailChangeRequested(to):
            return email_change_requested_message(to)
        case notices.AddressInUse(to):
            return address_in_use_message(to)
        case notices.EmailChanged(to, device, network, when, activity_link):
            return email_changed_message(to, device or UNKNOWN_DEVICE, network, when, activity_link)
        case notices.AccountDeleted(to):
            return account_deleted_message(to)
        case notices.NewDevice(to, device, ip, when, forgot_link):
            return new_device_message(to, device or UNKNOWN_DEVICE, ip, when, forgot_link)
        case notices.MfaEnabled(to):
            return mfa_enabled_message(to)
        case notices.MfaDisabled(to):
            return mfa_disabled_message(to)
        case notices.RecoveryCodesReplaced(to):
            return recovery_codes_replaced_message(to)
        case notices.RecoveryCodeUsed(to, codes_left):
            return recovery_code_used_message(to, codes_left)
        case notices.MfaFailures(to, failures, window_minutes, device, network, when, activity_link):
            return mfa_failures_message(
                to, failures, window_minutes, device or UNKNOWN_DEVICE, network, when, activity_link
            )
        case notices.PasskeyAdded(to, name, device, when, activity_link):
            return passkey_added_message(to, name, device or UNKNOWN_DEVICE, when, activity_link)
        case notices.PasswordRemoved(to, activity_link):
            return password_removed_message(to, activity_link)
        case notices.PasskeyRemoved(to, name, device, when, activity_link):
            return passkey_removed_message(to, name, device or UNKNOWN_DEVICE, when, activity_link)
    assert_never(notice)
