"""What the services tell an account's owner, as data: what happened, to which address, with which facts and links.

One frozen dataclass per kind of notice. The wording (subjects, paragraphs, HTML) is not here: the `Notifier` port
(domain/ports.py) takes a `Notice` and its adapter, mail/, renders and sends it.

A `device` is the name of a browser and system we know (`Client.known_device`), or None for any other client: a
notice never carries text taken from a User-Agent. A `when` is `security_events.now_in_words()`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ResetLink:
    """A link to choose a new password, asked for on the forgot-password page."""

    to: str
    link: str
    ttl_minutes: int


@dataclass(frozen=True, slots=True)
class PasswordChanged:
    """The password was changed: by its owner (`this_device_kept`) or with a reset link (every device signed out);
    `mfa_removed`: two-factor sign-in, turned on shortly before, was turned off with it. A reset names the passkeys
    it kept, and those it removed (added shortly before it)."""

    to: str
    this_device_kept: bool
    mfa_removed: bool = False
    passkeys_kept: tuple[str, ...] = ()
    passkeys_removed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VerifyEmail:
    """A link to confirm the address of a new account."""

    to: str
    link: str
    ttl_hours: int


@dataclass(frozen=True, slots=True)
class ConfirmNewEmail:
    """A link, sent to the new address, to confirm moving an account there."""

    to: str
    link: str
    ttl_minutes: int


@dataclass(frozen=True, slots=True)
class EmailChangeRequested:
    """To the current address: a change of address was asked for, and waits for the new one's confirmation."""

    to: str


@dataclass(frozen=True, slots=True)
class AddressInUse:
    """To an address that already has an account: another account asked to move there; nothing changed."""

    to: str


@dataclass(frozen=True, slots=True)
class EmailChanged:
    """To the address an account left: the change was confirmed from this device and network, at this time."""

    to: str
    device: str | None
    network: str | None
    when: str
    activity_link: str


@dataclass(frozen=True, slots=True)
class AccountDeleted:
    to: str


@dataclass(frozen=True, slots=True)
class NewDevice:
    """A sign-in from a device without a device cookie of this account."""

    to: str
    device: str | None
    ip: str
    when: str
    forgot_link: str


@dataclass(frozen=True, slots=True)
class MfaEnabled:
    to: str


@dataclass(frozen=True, slots=True)
class MfaDisabled:
    to: str


@dataclass(frozen=True, slots=True)
class RecoveryCodesReplaced:
    to: str


@dataclass(frozen=True, slots=True)
class RecoveryCodeUsed:
    to: str
    codes_left: int


@dataclass(frozen=True, slots=True)
class MfaFailures:
    """The right password, then `failures` wrong two-factor codes within `window_minutes`; the last one from this
    device and network, at this time."""

    to: str
    failures: int
    window_minutes: int
    device: str | None
    network: str | None
    when: str
    activity_link: str


@dataclass(frozen=True, slots=True)
class PasskeyAdded:
    """A passkey (named `name` by the user) was added to the account; every other device was signed out."""

    to: str
    name: str
    device: str | None
    when: str
    activity_link: str


@dataclass(frozen=True, slots=True)
class PasskeyRemoved:
    to: str
    name: str
    device: str | None
    when: str
    activity_link: str


@dataclass(frozen=True, slots=True)
class PasswordRemoved:
    """The password was removed: the account signs in with its passkeys only."""

    to: str
    activity_link: str


Notice = (
    ResetLink
    | PasswordChanged
    | PasswordRemoved
    | VerifyEmail
    | ConfirmNewEmail
    | EmailChangeRequested
    | AddressInUse
    | EmailChanged
    | AccountDeleted
    | NewDevice
    | MfaEnabled
    | MfaDisabled
    | RecoveryCodesReplaced
    | RecoveryCodeUsed
    | MfaFailures
    | PasskeyAdded
    | PasskeyRemoved
)

__all__ = [
    "AccountDeleted",
    "AddressInUse",
    "ConfirmNewEmail",
    "EmailChangeRequested",
    "EmailChanged",
    "MfaDisabled",
    "MfaEnabled",
    "MfaFailures",
    "NewDevice",
    "Notice",
    "PasskeyAdded",
    "PasskeyRemoved",
    "PasswordChanged",
    "PasswordRemoved",
    "RecoveryCodeUsed",
    "RecoveryCodesReplaced",
    "ResetLink",
    "VerifyEmail",
]
