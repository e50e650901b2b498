"""The sim engine tests' working directory: on tmpfs when there is one (the sim and the
engine fsync every commit)."""

from __future__ import annotations

import pytest

from tests.sim_engine import harness as h


@pytest.fixture
def sim_dir(tmp_path):
    with h.fast_dir(tmp_path) as path:
        yield path
