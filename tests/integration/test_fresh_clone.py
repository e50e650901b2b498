"""``make run`` on a fresh clone trades in paper mode with no keys and no network."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from core.types import PositionState
from tests.integration import engine

RUN_SECONDS = 45


@pytest.mark.timeout(900)  # a fresh clone builds its own venv first
@pytest.mark.skipif(shutil.which("git") is None or shutil.which("make") is None,
                    reason="needs git and make")
def test_make_run_on_a_fresh_clone_enters_moves_stops_and_closes_trades(tmp_path):
    clone = tmp_path / "ratchet"
    subprocess.run(["git", "clone", "-q", str(engine.REPO), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RATCHET_", "VIRTUAL_ENV", "PYTHONPATH")) and k != "DB_PASSWORD"}

    done = subprocess.run(["make", "run", f"RUN_ARGS=--duration {RUN_SECONDS}"], cwd=clone,
                          env=env, capture_output=True, text=True, timeout=900)

    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    db = clone / "var" / "ratchet.db"
    positions = engine.read(db, lambda r: r.list_positions())
    fills = engine.read(db, lambda r: r.list_fills())
    assert len({p.symbol for p in positions}) >= 3  # every configured pair entered
    assert sum(p.stop_moves for p in positions) > 0
    closed = [p for p in positions if p.state is PositionState.FLAT and p.pnl is not None]
    assert closed, "no trade closed"
    assert any(f.pnl is not None for f in fills)
