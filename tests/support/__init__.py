"""The tests' helpers: plain functions, constants and context managers, imported by the test files (the fixtures are
in tests/conftest.py, which no test file imports).

clients.py        the API through a test client: register, unique_email, PASSWORD, Client, MakeClient,
                  forget_device, set_cookies, problem_code
accounts.py       an account through the API: signed_up, me, login, change_email, VERIFY_SUBJECT, CONFIRM_SUBJECT
recovery.py       password recovery through the API: request_token, reset, assert_invalid_token, NEW_PASSWORD
authenticator.py  TOTP codes computed from the secret, two-factor sign-in turned on through the API
webauthn.py       a software passkey authenticator (P-256, CBOR, "none" attestation), and the passkey routes
database.py       Alembic on a throwaway database, the admin connection that makes them
servers.py        where the suite finds PostgreSQL and Redis
live_server.py    the service as a real server in a child process
smtp.py           a real SMTP server in-process that keeps every mail
topologies.py     private Redis Cluster, Redis Sentinel and PgBouncer set-ups
logs.py           what the process logs: captured, every_log_line
metrics.py        Prometheus scrapes: samples, value
tiers.py          the tier (marker) of each test file: unit, api, topology, contract, e2e
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent  # the repository's root
