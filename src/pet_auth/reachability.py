"""Whether the servers the settings name answer, and their URLs fit for a message.

`python -m pet_auth check` (run by `make start`, which starts no server) names each server that does not answer.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit, urlunsplit

from pet_auth.config import Settings

POSTGRES_PORT, REDIS_PORT = 5432, 6379


def answers(url: str, timeout: float = 1.0) -> bool:
    """Whether something accepts connections at the URL's host and port."""
    parts = urlsplit(url)
    default = POSTGRES_PORT if parts.scheme.startswith("postgres") else REDIS_PORT
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default), timeout=timeout):
            return True
    except OSError:
        return False


def redact(url: str) -> str:
    """The URL without its password, fit for a message."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def unanswered(settings: Settings) -> list[str]:
    """One line per configured server that does not answer, saying what to do."""
    servers = (("PostgreSQL", "DATABASE_URL", settings.database_url), ("Redis", "REDIS_URL", settings.redis_url))
    return [
        f"{name} does not answer at {redact(url)}: start it or set {setting}"
        for name, setting, url in servers
        if not answers(url)
    ]
