"""The function-length check `make lint` runs (tools/check_function_length.py): no function in src/ over 60 lines."""

from __future__ import annotations

from pathlib import Path

from tools.check_function_length import MAX_LINES, long_functions, main

ROOT = Path(__file__).resolve().parents[2]


def test_no_function_in_src_is_over_the_limit() -> None:
    assert main([str(ROOT / "src")]) == 0


def test_a_function_over_the_limit_is_named_with_its_line_and_length(tmp_path: Path) -> None:
    lines = [f"x{i} = {i}" for i in range(MAX_LINES - 1)]
    fits = ["def fits():", *(f"    {line}" for line in lines)]  # exactly MAX_LINES lines
    too_long = ["class C:", "    async def too_long(self):", *(f"        {line}" for line in lines), "        return 1"]
    source = tmp_path / "module.py"
    source.write_text("\n".join([*fits, "", *too_long, ""]))
    assert list(long_functions(source)) == [(len(fits) + 3, "too_long", MAX_LINES + 1)]
    assert main([str(source)]) == 1
