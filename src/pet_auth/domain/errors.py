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


class InvalidToken(DomainError):
    code = "invalid_token"
    detail = "This reset link is invalid or has expired. Ask for a new one."


class SessionNotFound(DomainError):
    code = "not_found"
    detail = "No such session."


class RateLimited(DomainError):
    code = "rate_limited"
    detail = "Too many attempts. Try again later."

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = max(1, retry_after)
