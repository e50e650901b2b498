"""A clone of the repository needs nothing beside it: no ``shared`` folder, no outside data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
BESIDE = "shared"  # the folder of reference material that sits next to the repository here


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    return [REPO / line for line in out.splitlines()]


def test_no_tracked_code_reads_a_shared_folder_beside_the_repository():
    code = [p for p in tracked_files() if p != Path(__file__)
            and (p.suffix in (".py", ".toml", ".cfg") or p.name in ("Makefile", "run"))]
    needles = ("../" + "shared", '"shared"' + " /")  # spelled apart: this file is code too

    readers = [str(p.relative_to(REPO)) for p in code if p.exists()
               and any(needle in p.read_text() for needle in needles)]

    assert readers == []


@pytest.mark.timeout(600)
def test_a_clone_in_an_empty_folder_collects_every_test(tmp_path):
    clone = tmp_path / "empty" / "r"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    # Uncommitted files of this checkout are not in the clone; copy the tracked ones as they
    # are now so the test checks this tree, not the last commit.
    for path in tracked_files():
        if path.is_file():
            target = clone / path.relative_to(REPO)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    assert not any((parent / BESIDE).exists() for parent in clone.parents)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "tests"],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=600)

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    collected = [line for line in done.stdout.splitlines() if "::" in line]
    assert len(collected) > 500
    assert all(line.startswith("tests/") for line in collected)
