"""Money is Decimal from wire to disk: no code in core/ builds a number through a float."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import REPO

CORE_FILES = sorted((REPO / "core").glob("*.py"))


def float_uses(source: str) -> list[int]:
    """Lines that call ``float(...)`` or pass a float literal to ``Decimal(...)``, unless the
    line is marked ``# display``."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        is_float_call = node.func.id == "float"
        is_float_decimal = node.func.id in ("Decimal", "D") and any(
            isinstance(a, ast.Constant) and isinstance(a.value, float) for a in node.args)
        if (is_float_call or is_float_decimal) and "# display" not in lines[node.lineno - 1]:
            found.append(node.lineno)
    return sorted(found)


def test_the_checker_finds_floats():
    assert float_uses("x = float(p)\ny = Decimal(0.1)\nz = float(p)  # display\n") == [1, 2]


@pytest.mark.parametrize("path", CORE_FILES, ids=[p.name for p in CORE_FILES])
def test_core_module_builds_no_number_from_a_float(path):
    assert float_uses(path.read_text()) == []
