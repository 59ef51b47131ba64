"""Domain errors. The HTTP layer maps each to one status and a stable problem `code`."""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    code = "domain_error"
    detail = "The request could not be completed."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.detail)
        if detail:
            self.detail = detail


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class InvalidInput(DomainError):
    code = "validation_error"
    detail = "The request has invalid fields."

    def __init__(self, *errors: FieldError) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class EmailTaken(DomainError):
    code = "email_taken"
    detail = "An account with this email already exists."


class InvalidCredentials(DomainError):
    code = "invalid_credentials"
    detail = "The email or password is incorrect."


class CredentialsChanged(InvalidCredentials):
    """The credentials a sign-in verified were changed before its session was stored: the sign-in loses."""


class SessionEnded(InvalidCredentials):
    """The session a signed-in change came from was ended (a sign-out, a reset) before the change was written:
    the change is not made."""

    code = "not_authenticated"
    detail = "Your session has ended. Sign in again."


class TransactionConflict(DomainError):
    """PostgreSQL kept failing a transaction for concurrent ones (deadlock, serialization failure) after retries."""

    code = "service_unavailable"
    detail = "The service is busy. Try again in a moment."


class PasswordCheckUnavailable(DomainError):
    """BREACHED_PASSWORD_CHECK=fail-closed, and the corpus of breached passwords could not be asked about a new
    password: it is refused for now (503), nothing changes."""

    code = "password_check_unavailable"
    detail = "The new password could not be checked against known data breaches just now. Try again in a moment."


class ProfileChanged(Exception):
    """The user's profile changed after it was read for a new session: read it again."""


class InvalidCode(DomainError):
    code = "invalid_code"
    detail = "The code is incorrect or was already used."


class InvalidSignInCode(InvalidCode):
    """A wrong second factor while signing in (401), not while managing it (400)."""


_USED_CODE_DETAIL = (
    "This code was already used. Wait for your authenticator app to show the next code (a new one every 30 "
    "seconds), then enter that one."
)


class CodeAlreadyUsed(InvalidCode):
    """The right code of an authenticator's time step that was already used (or one older than the last used): a
    code works once. It counts as a wrong code everywhere (the same limits); only the answer differs, so that the
    user knows to wait for the next code, e.g. right after turning two-factor sign-in on with the same code."""

    code = "code_already_used"
    detail = _USED_CODE_DETAIL


class SignInCodeAlreadyUsed(InvalidSignInCode):
    """`CodeAlreadyUsed` while signing in (401, as every refused second factor of a sign-in)."""

    code = "code_already_used"
    detail = _USED_CODE_DETAIL


class MfaExpired(DomainError):
    code = "mfa_expired"
    detail = "This sign-in has expired. Sign in again with your password."


class MfaConflict(DomainError):
    """Two-factor sign-in is not in the state the request needs."""


class MfaAlreadyEnabled(MfaConflict):
    code = "mfa_already_enabled"
    detail = "Two-factor sign-in is already on."


class MfaSetupRequired(MfaConflict):
    code = "mfa_setup_required"
    detail = "There is no authenticator setup to confirm; start one first."


class MfaNotEnabled(MfaConflict):
    code = "mfa_not_enabled"
    detail = "Two-factor sign-in is not on."


class InvalidToken(DomainError):
    code = "invalid_token"
    detail = "This reset link is invalid or has expired. Ask for a new one."


class InvalidLink(InvalidToken):
    detail = "This link is invalid, used or expired."


class EmailNotVerified(DomainError):
    code = "email_not_verified"
    detail = "Verify your email address first: use the link we sent, or ask for a new one."


class SessionNotFound(DomainError):
    code = "not_found"
    detail = "No such session."


class RateLimited(DomainError):
    code = "rate_limited"
    detail = "Too many attempts. Try again later."

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = max(1, retry_after)
