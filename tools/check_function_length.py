"""No function longer than MAX_LINES lines: `python -m tools.check_function_length [PATH ...]` (default: src).

A function's length is its lines from `def` to its last line, docstring, comments and blank lines included (not its
decorators): what a reader has to hold at once. Nested functions count within the function that holds them, and on
their own. Prints one line per function over the limit (path:line name length) and exits 1 when there is one.
Run by `make lint`.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MAX_LINES = 60


def long_functions(path: Path, max_lines: int = MAX_LINES) -> Iterator[tuple[int, str, int]]:
    """(line, name, length) of each function in the file at `path` longer than `max_lines`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > max_lines:
                yield node.lineno, node.name, length


def python_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def main(argv: list[str]) -> int:
    found = 0
    for path in python_files([Path(arg) for arg in argv] or [Path("src")]):
        for line, name, length in long_functions(path):
            print(f"{path}:{line}: {name} is {length} lines long (at most {MAX_LINES}): split it", file=sys.stderr)
            found += 1
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
