"""The store sits below the actors: nothing in ``persistence/`` imports ``actors``."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import REPO

MODULES = sorted((REPO / "persistence").glob("*.py"))


def _imported(path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_persistence_modules_do_not_import_the_actors(path):
    # Arrange / Act
    imported = _imported(path)

    # Assert
    assert not {n for n in imported if n == "actors" or n.startswith("actors.")}
