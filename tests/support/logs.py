"""What the process logs, kept for a test to read."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

# Loggers of the tests' own servers (the in-process SMTP server), not of the service.
_NOT_THE_SERVICE = ("mail.log",)


@contextmanager
def captured(logger_name: str) -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.DEBUG)
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


@contextmanager
def every_log_line() -> Iterator[list[str]]:
    """Every line any logger of the process writes. Install it once the app has started: the app's logging
    configuration replaces the root logger's handlers."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if not record.name.startswith(_NOT_THE_SERVICE):
                lines.append(self.format(record))

    handler = Keep(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
