"""Which errors of SQLAlchemy and asyncpg mean "PostgreSQL can't serve now" (an outage: http/ answers 503), by their
type, never by their message; any other is a bug (a 500). http/ calls this and imports nothing else of db/, nor
SQLAlchemy or the driver."""

from __future__ import annotations

import asyncpg.exceptions
import sqlalchemy.exc

# Every exception of the database that http/ maps by type: a failed statement (an outage or a bug, as
# `is_database_outage` tells), and no pooled connection coming free in time (an outage).
DATABASE_ERRORS: tuple[type[Exception], ...] = (sqlalchemy.exc.DBAPIError, sqlalchemy.exc.TimeoutError)

# What PostgreSQL's driver raises, under SQLAlchemy's wrapper, when the server can't serve now: connection
# failures (SQLSTATE class 08), too many connections and other exhausted resources (53), and the server starting
# up, shutting down or cancelling statements (57: CannotConnectNowError, AdminShutdownError, QueryCanceledError).
_DRIVER_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.OperatorInterventionError,
    OSError,
    TimeoutError,
)


def is_database_outage(exc: BaseException) -> bool:
    """Whether an exception of SQLAlchemy (or its driver) means that PostgreSQL can't serve now."""
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        if exc.connection_invalidated or isinstance(
            exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError
        ):
            return True
        cause: BaseException | None = exc.orig
        while cause is not None:  # the driver's own exception sits under SQLAlchemy's and its adapter's
            if isinstance(cause, _DRIVER_UNAVAILABLE):
                return True
            cause = cause.__cause__
        return False
    return isinstance(exc, sqlalchemy.exc.TimeoutError)  # no pooled connection came free in time


__all__ = ["DATABASE_ERRORS", "is_database_outage"]
