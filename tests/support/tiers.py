"""The tiers of the suite, one marker per test, given by the test's file (tests/conftest.py marks every test at
collection, so no test file names its tier):

- unit: tests/unit/, the domain's rules with in-memory fakes of its ports; no server.
- api: the API in-process (Litestar's test client) against real PostgreSQL and Redis; every file not named below.
- topology: other deployments started by the test (Redis Cluster and Sentinel, PgBouncer, outages, HTTP servers and
  workers, the development servers of tools/devinfra).
- contract: what the API promises outside the service: the OpenAPI document, the TypeScript client, Schemathesis
  against the document, the fence around Litestar's internals.
- e2e: a real browser (also marked `browser`).

`smoke` marks a handful of api tests (register, login, /me, logout, change password, reset) that `make test-fast`
runs with the unit tier.
"""

from __future__ import annotations

from pathlib import Path

UNIT, API, TOPOLOGY, CONTRACT, E2E = "unit", "api", "topology", "contract", "e2e"
TIERS = (UNIT, API, TOPOLOGY, CONTRACT, E2E)
SMOKE = "smoke"

TESTS = Path(__file__).resolve().parent.parent
UNIT_DIRECTORY = TESTS / "unit"
# By file name, for the files directly under tests/; tests/unit/test_layout.py checks that each still exists.
FILES = {
    "test_browser.py": E2E,
    "test_redis_cluster.py": TOPOLOGY,
    "test_redis_sentinel.py": TOPOLOGY,
    "test_pgbouncer.py": TOPOLOGY,
    "test_outages.py": TOPOLOGY,
    "test_http_servers.py": TOPOLOGY,
    "test_devinfra.py": TOPOLOGY,
    "test_openapi.py": CONTRACT,
    "test_typescript_client.py": CONTRACT,
    "test_schemathesis.py": CONTRACT,
    "test_litestar_compat.py": CONTRACT,
}


def tier_of(path: Path) -> str:
    """The tier of a test in the file at `path`."""
    path = path.resolve()
    if path.is_relative_to(UNIT_DIRECTORY):
        return UNIT
    if path.parent == TESTS:
        return FILES.get(path.name, API)
    return API
