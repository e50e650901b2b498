"""Layers point one way: core ← persistence, exchange, telemetry ← actors ← cli.

Every module's imports are read with ``ast`` (inside functions too). A module may import its
own layer and the layers below it; persistence, exchange and telemetry sit side by side on
core and do not import each other. bench/ and tests/ are outside the product: nothing in it
imports them, and bench/ does not import tests/.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

LAYER = {"core": 0, "persistence": 1, "exchange": 1, "telemetry": 1, "actors": 2, "cli": 3,
         "bench": 4, "tests": 5}
SIDE_BY_SIDE = {"persistence", "exchange", "telemetry"}


def ours(name: str) -> str | None:
    top = name.split(".")[0]
    return top if top in LAYER else None


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def allowed(source: str, target: str) -> bool:
    if source == target:
        return True
    if source == "tests":
        return True
    if source == "bench":
        return target != "tests"
    if source in SIDE_BY_SIDE and target in SIDE_BY_SIDE:
        return False
    return LAYER[target] < LAYER[source]


MODULES = sorted(p for layer in LAYER for p in (REPO / layer).rglob("*.py"))


def violations(path: Path) -> list[str]:
    source = path.relative_to(REPO).parts[0]
    return [f"{path.relative_to(REPO)}:{line} imports {name}"
            for line, name in imports_of(path)
            if (target := ours(name)) is not None and not allowed(source, target)]


def test_every_module_imports_only_its_own_layer_and_below():
    found = [v for path in MODULES for v in violations(path)]

    assert found == []


@pytest.mark.parametrize(("source", "target", "ok"), [
    ("core", "exchange", False), ("persistence", "actors", False), ("actors", "cli", False),
    ("exchange", "telemetry", False), ("bench", "tests", False), ("actors", "core", True),
    ("cli", "actors", True), ("bench", "cli", True),
])
def test_the_rule_itself(source, target, ok):
    assert allowed(source, target) is ok
