"""The import rules of the layout (docs/development.md, Layout), read from the source with `ast`: nothing is
imported or run.

- The domain (pet_auth/domain) imports no adapter and no framework or driver.
- http/ imports no database access: neither SQLAlchemy nor the driver, and of db/ only `pet_auth.db.outages`, the
  classification of database errors into outages (503) and bugs (500) that the error handlers call.
- The top-level parts of pet_auth (its subpackages and modules) import each other without a cycle; imports under
  `if TYPE_CHECKING:` do not count there, as they are never run.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "pet_auth"

DOMAIN_FORBIDDEN = (
    "pet_auth.db",
    "pet_auth.redis_store",
    "pet_auth.mail",
    "pet_auth.http",
    "pet_auth.pwned",
    "pet_auth.app",
    "pet_auth.bootstrap",
    "litestar",
    "sqlalchemy",
    "redis",
    "httpx",
)
HTTP_FORBIDDEN = ("pet_auth.db", "sqlalchemy", "asyncpg")
# The one module of db/ that http/ may import, and why: mapping an exception to 503 or 500 needs to know which
# errors of SQLAlchemy and asyncpg mean an outage; db/ owns that knowledge, http/ only asks.
HTTP_ALLOWED = ("pet_auth.db.outages",)


@dataclass(frozen=True)
class Import:
    source: Path  # the importing file
    line: int
    module: str  # the imported module, absolute
    type_checking: bool  # under `if TYPE_CHECKING:`


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, type_checking: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.body:
                visit(statement, True)
            for statement in node.orelse:
                visit(statement, type_checking)
            return
        if isinstance(node, ast.Import):
            found.extend(Import(path, node.lineno, alias.name, type_checking) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package, `level - 1` packages up
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append(Import(path, node.lineno, module, type_checking))
            # `from pet_auth.x import y` may import the submodule pet_auth.x.y
            found.extend(Import(path, node.lineno, f"{module}.{alias.name}", type_checking) for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child, type_checking)

    visit(tree, False)
    return found


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def _sources(under: Path) -> list[Path]:
    return sorted(under.rglob("*.py"))


def _violations(under: Path, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    return [
        f"{imp.source.relative_to(PACKAGE.parent)}:{imp.line} imports {imp.module}"
        for path in _sources(under)
        for imp in _imports(path)
        if _within(imp.module, forbidden) and not _within(imp.module, allowed)
    ]


def _top_level(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "pet_auth" and len(parts) > 1 else None


def package_graph() -> dict[str, set[str]]:
    """pet_auth.X -> pet_auth.Y for every import run at import time, X and Y top-level subpackages or modules."""
    known = {name for path in _sources(PACKAGE) if (name := _top_level(_module_name(path))) is not None}
    graph: dict[str, set[str]] = {name: set() for name in known}
    for path in _sources(PACKAGE):
        source = _top_level(_module_name(path))
        if source is None:
            continue
        for imp in _imports(path):
            target = _top_level(imp.module)
            if not imp.type_checking and target is not None and target != source and target in known:
                graph[source].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_the_domain_imports_no_adapter() -> None:
    assert _violations(PACKAGE / "domain", DOMAIN_FORBIDDEN) == []


def test_http_imports_no_database_access() -> None:
    assert _violations(PACKAGE / "http", HTTP_FORBIDDEN, HTTP_ALLOWED) == []


def test_the_top_level_parts_of_pet_auth_import_each_other_without_a_cycle() -> None:
    graph = package_graph()
    assert {"domain", "http", "db", "mail", "redis_store", "app"} <= graph.keys()
    assert graph["domain"] == set(), graph["domain"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


@pytest.mark.parametrize(
    ("graph", "cyclic"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, False),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True),
        ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, False),
    ],
)
def test_find_cycle_finds_cycles_only(graph: dict[str, set[str]], cyclic: bool) -> None:
    assert (find_cycle(graph) is not None) == cyclic


def test_imports_are_read_as_the_rules_need() -> None:
    """The reader sees imports in functions, skips nothing but marks `if TYPE_CHECKING:` ones."""
    source = PACKAGE / "domain" / "security_events.py"
    imports = _imports(source)
    assert any(imp.module == "pet_auth.domain.ports" and imp.type_checking for imp in imports)
    assert any(imp.module == "pet_auth.domain.models" and not imp.type_checking for imp in imports)
    lazy = [imp for imp in _imports(PACKAGE / "__main__.py") if imp.module == "pet_auth.app"]
    assert lazy  # imported inside a function: still an import
    assert not lazy[0].type_checking
