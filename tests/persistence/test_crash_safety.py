"""kill -9 a process that writes through the DBWriter, over and over, on one real file."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys

from persistence import admin
from persistence.db import SCHEMA_VERSION, open_database
from persistence.migrations import user_version
from persistence.repository import Repository
from tests.conftest import REPO
from tests.persistence.crash_child import THREADS
from tests.persistence.helpers import child_env

KILLS = int(os.environ.get("RATCHET_CRASH_KILLS", "24"))


def _run_and_kill(db_path, start: int, rng: random.Random, *, wait_for_ack: bool) -> set[int]:
    """Start the child, SIGKILL it at a random moment; return the units it acknowledged."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.persistence.crash_child", str(db_path), str(start)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=child_env(),
    )
    acked: list[str] = []
    try:
        if wait_for_ack:
            acked.append(proc.stdout.readline())
        try:
            proc.wait(timeout=rng.uniform(0.0, 0.4))
        except subprocess.TimeoutExpired:
            pass
        else:
            raise AssertionError(f"child exited on its own: {proc.stderr.read()[-2000:]}")
    finally:
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    acked.extend(out.splitlines())
    return {int(line) for line in acked if line.strip()}


def _stored_units(db_path) -> tuple[dict[str, set[int]], dict]:
    """Unit numbers found in each table, and the positions, read after the crash."""
    db = open_database(db_path, readonly=True)
    try:
        if user_version(db) < SCHEMA_VERSION:
            return {"orders": set(), "fills": set(), "kv": set()}, {}
        repo = Repository(db)
        orders = {int(o.client_order_id[1:]) for o in repo.list_orders()}
        fills = {int(f.exchange_trade_id[1:]) for f in repo.list_fills()}
        kv = {int(k[5:]) for (k,) in db.execute_sql(
            "SELECT key FROM kv WHERE key LIKE 'unit:%'").fetchall()}
        positions = {p.position_id: p for p in repo.list_positions()}
        return {"orders": orders, "fills": fills, "kv": kv}, positions
    finally:
        db.close()


def test_kill_9_loses_no_acknowledged_write_and_leaves_no_half_unit(tmp_path):
    # Arrange
    db_path = tmp_path / "crash.db"
    rng = random.Random(20220105)
    start, all_acked, last_seq = 0, set(), {}
    kills_after_acks = 0

    for cycle in range(KILLS):
        # Act
        wait_for_ack = cycle % 5 != 4  # one kill in five lands anywhere, even at open/migrate
        acked = _run_and_kill(db_path, start, rng, wait_for_ack=wait_for_ack)
        kills_after_acks += bool(acked)
        all_acked |= acked

        # Assert: the file is sound, nothing acknowledged is missing, no unit is half there
        if not db_path.exists():
            assert not all_acked
            continue
        assert admin.check(db_path).integrity == ("ok",), f"cycle {cycle}"
        tables, positions = _stored_units(db_path)
        assert tables["orders"] == tables["fills"] == tables["kv"], f"half unit, cycle {cycle}"
        committed = tables["orders"]
        assert all_acked <= committed, f"lost acks {sorted(all_acked - committed)[:10]}"
        for j in range(THREADS):
            mine = sorted(k for k in committed if k >= start and (k - start) % THREADS == j)
            # each writer's committed units are a prefix of what it sent, in order
            assert mine == [start + j + THREADS * i for i in range(len(mine))], f"cycle {cycle}"
            if mine:
                last_seq[f"P{j}"] = mine[-1]
        for pid, seq in last_seq.items():
            assert positions[pid].seq == seq
            assert int(positions[pid].stop_order_id[1:]) in committed
        start = max(committed, default=start) + 1

    print(f"{KILLS} kills, {kills_after_acks} after acks, {len(all_acked)} acks checked")
    assert kills_after_acks >= KILLS // 2
    assert len(all_acked) > 100
