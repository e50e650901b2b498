"""``ratchet status`` prints the live view's pairs table once: every pair, its state, highest,
stop and realized P&L from the DB, and, while the engine runs, its price from ``/metrics``.
``--json`` is unchanged."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal

from cli.table import fmt
from core.types import OrderState
from tests.cli.test_live_view import HEADER
from tests.integration import engine
from tests.sim_engine import harness as h

SYMBOLS = ("AAAUSDT", "BBBUSDT")


def ratchet(config, *args):
    return subprocess.run([*engine.RATCHET, *args, "-c", str(config)], cwd=config.parent,
                          capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(engine.REPO), "PATH": "/usr/bin:/bin"})


def rows(stdout: str) -> dict[str, list[str]]:
    found = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃").split("│")]
        if len(cells) == len(HEADER) and cells[0] in SYMBOLS:
            found[cells[0]] = cells
    return found


def test_status_prints_the_pairs_table_with_prices_while_the_engine_runs(tmp_path):
    config = engine.write_config(tmp_path, {s: {} for s in SYMBOLS},
                                 defaults='trail_pct = "5"', feed='volatility_pct = "0.05"')
    db = tmp_path / "ratchet.db"
    proc = h.start_engine(config)
    try:
        engine.wait_for(lambda: len(engine.read(db, lambda r: r.list_orders(
            state=OrderState.NEW))) == 2, timeout=60, what="two stops")
        running = ratchet(config, "status")
    finally:
        h.stop_engine(proc)
    stopped = ratchet(config, "status")
    as_json = ratchet(config, "status", "--json")

    assert running.returncode == stopped.returncode == as_json.returncode == 0, running.stderr
    assert all(name in running.stdout for name in HEADER)
    live, after = rows(running.stdout), rows(stopped.stdout)
    assert set(live) == set(after) == set(SYMBOLS), running.stdout
    positions = {p["symbol"]: p for p in json.loads(as_json.stdout)["positions"]}
    for symbol, cells in after.items():
        p = positions[symbol]
        assert cells[3] == fmt(Decimal(p["stop"])) and cells[2] == fmt(Decimal(p["highest"]))
        assert cells[8] == p["state"] == "OPEN"
        assert cells[9] == "STOP_LOSS_LIMIT NEW"
        assert cells[1] == "-"  # the engine is gone: no price
    assert all(Decimal(cells[1]) > 0 and cells[4] != "-" for cells in live.values())
    assert "prices from the running engine" in running.stdout
    assert "engine not answering" in stopped.stdout
    # --json keeps every key it had; quote assets and halts came with issue 9, coins sold
    # outside Ratchet with issue 24.
    assert set(json.loads(as_json.stdout)) == {"positions", "open_orders", "realized_pnl",
                                               "realized_pnl_total", "quote_assets",
                                               "realized_pnl_by_quote", "halted",
                                               "fees_by_asset", "sold_outside"}
