"""Disk full during a run: the DB lives on a small tmpfs, which a ballast file fills while the
engine trades 10 pairs against the sim. The engine must halt trading with exit 3, leave its
stops on the exchange, not corrupt the DB, and, once space is back, restart and reconcile to
every chaos invariant.

Mounting a tmpfs needs root (or CAP_SYS_ADMIN); without it the test is skipped with that reason.
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from pathlib import Path

import pytest

from core.types import PositionState
from tests.chaos import invariants
from tests.chaos.run import PREFIX, ChaosRun

DISK_BYTES = 16 * 1024 * 1024  # room for a WAL of 1,000 pages (4 MB) before it checkpoints


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES},mode=0700",
                           "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    """Write a ballast file until the filesystem refuses another byte."""
    ballast = directory / "ballast"
    chunk = b"\0" * 65536
    with open(ballast, "wb", buffering=0) as f:
        for size in (65536, 4096, 512, 1):
            while True:
                try:
                    f.write(chunk[:size])
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return ballast


def test_disk_full_halts_with_exit_3_keeps_stops_and_recovers_cleanly(tmp_path, small_disk):
    run = ChaosRun(tmp_path, pairs=10, seed=21, db_path=str(small_disk / "ratchet.db"))
    try:
        run.check(run.boot())
        run.resume()
        time.sleep(1.0)
        ballast = fill(small_disk)
        code = run.engine.proc.wait(60)
        run.sim.pause(True)
        output = run.engine.output()

        assert code == 3, output[-3000:]
        last = output.splitlines()[-1]
        assert last.startswith("ratchet: trading halted") and "disk is full" in last, last
        ballast.unlink()
        positions, orders, _, integrity = invariants.read_db(run.db_path)
        assert integrity == ("ok",)
        open_orders, trades, _ = run.sim.records(PREFIX)
        sold = {t["clientOrderId"] for t in trades if not t["isBuyer"]}
        stops = [o["clientOrderId"] for o in open_orders if o["type"] == "STOP_LOSS_LIMIT"]
        assert positions
        for p in positions:
            if p.state is PositionState.ENTERING:
                # Its buy intent committed but not the buy's outcome: no stop may be sent
                # without a durable intent, so the restart below settles it (adopt, then stop).
                continue
            # Protected while halted: a stop of the position is on the sim, or it did its job.
            # It may be a newer stop than the DB's stop_order_id (a move whose outcome could
            # not be written), but never one the DB has no row for.
            mine = [cid for cid in [*stops, *sold]
                    if cid.startswith(f"{PREFIX}-{p.position_id}-")]
            assert len(mine) == 1, (p, mine)
            assert mine[0] in orders

        run.check(run.boot())
        result = run.finish()
    finally:
        run.close()
    assert result["exit_code"] == 0
    assert result["problems"] == []
    assert result["db_pnl"] == result["sim_pnl"]
    assert os.stat(run.db_path).st_mode & 0o777 == 0o600
