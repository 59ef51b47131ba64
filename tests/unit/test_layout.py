"""The suite's own layout: helpers in tests/support/ (and the unit tier's fakes in tests/unit/fakes.py), imported;
fixtures in conftest.py files, never imported; one tier per test file, declared as a marker."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.tiers import FILES, SMOKE, TESTS, TIERS, UNIT, tier_of

PYTHON_FILES = sorted(TESTS.rglob("*.py"))
# `from tests.conftest import ...`, `import tests.conftest`, `from tests import conftest`, `from .conftest import ...`
IMPORTS_CONFTEST = re.compile(
    r"^\s*(from\s+(tests(\.\w+)*\.|\.+)?conftest\s+import|import\s+tests(\.\w+)*\.conftest\b"
    r"|from\s+(tests(\.\w+)*|\.+)\s+import\s+.*\bconftest\b)",
    re.MULTILINE,
)
# Another test file: its helpers belong in tests/support/.
IMPORTS_A_TEST_FILE = re.compile(r"^\s*(from|import)\s+tests\.(unit\.)?test_\w+", re.MULTILINE)


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_no_file_imports_conftest() -> None:
    offenders = [relative(path) for path in PYTHON_FILES if IMPORTS_CONFTEST.search(path.read_text())]
    assert offenders == [], f"import the helpers from tests/support/ instead: {offenders}"


def test_no_file_imports_a_test_file() -> None:
    offenders = [relative(path) for path in PYTHON_FILES if IMPORTS_A_TEST_FILE.search(path.read_text())]
    assert offenders == [], f"move the helpers they share to tests/support/: {offenders}"


def test_the_guard_sees_every_form_of_the_import() -> None:
    for line in (
        "from tests.conftest import PASSWORD",
        "    from tests.conftest import (register,",
        "import tests.conftest",
        "from tests import conftest",
        "from tests import support, conftest",
        "from .conftest import PASSWORD",
        "from ..conftest import PASSWORD",
        "from tests.unit.conftest import hasher",
        "from tests.unit import conftest",
    ):
        assert IMPORTS_CONFTEST.search(line), line
    for line in (
        "from tests.support.clients import PASSWORD",
        "from tests.unit.fakes import Fakes",
        "# tests/conftest.py holds the fixtures",
    ):
        assert not IMPORTS_CONFTEST.search(line), line
    assert IMPORTS_A_TEST_FILE.search("from tests.test_recovery import reset")
    assert not IMPORTS_A_TEST_FILE.search("from tests.support.recovery import reset")


def test_conftest_holds_only_fixtures_and_hooks() -> None:
    tree = ast.parse((TESTS / "conftest.py").read_text())
    others = []
    for node in tree.body[1:]:  # after the docstring
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (
            node.name.startswith("pytest_") or any("fixture" in ast.unparse(d) for d in node.decorator_list)
        ):
            continue
        others.append(ast.unparse(node).splitlines()[0])
    assert others == [], f"helpers go to tests/support/: {others}"


def test_every_file_named_in_the_tiers_exists() -> None:
    # A file renamed without its entry would quietly fall into the api tier.
    assert [name for name in FILES if not (TESTS / name).is_file()] == []


@pytest.mark.parametrize(
    ("path", "tier"),
    [
        ("unit/test_sign_in_rules.py", "unit"),
        ("unit/test_layout.py", "unit"),
        ("test_browser.py", "e2e"),
        ("test_redis_cluster.py", "topology"),
        ("test_devinfra.py", "topology"),
        ("test_openapi.py", "contract"),
        ("test_litestar_compat.py", "contract"),
        ("test_auth.py", "api"),
        ("test_a_file_added_tomorrow.py", "api"),
    ],
)
def test_a_file_s_tier(path: str, tier: str) -> None:
    assert tier_of(TESTS / path) == tier


def test_the_tiers_are_declared_markers() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = {marker.split(":")[0] for marker in pyproject["tool"]["pytest"]["ini_options"]["markers"]}
    assert {*TIERS, SMOKE, "browser", "slow"} <= declared


def test_this_file_is_in_the_unit_tier(request: pytest.FixtureRequest) -> None:
    # Given by tests/conftest.py at collection, not by this file.
    assert request.node.get_closest_marker(UNIT) is not None
