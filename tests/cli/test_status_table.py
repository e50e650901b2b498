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
    assert "engine not running" in stopped.stdout
    # --json keeps every key it had; quote assets and halts came with issue 9, coins sold
    # outside Ratchet with issue 24.
    assert set(json.loads(as_json.stdout)) == {"positions", "open_orders", "realized_pnl",
                                               "realized_pnl_total", "quote_assets",
                                               "realized_pnl_by_quote", "halted",
                                               "fees_by_asset", "sold_outside"}


def test_status_never_shows_another_engines_prices_against_this_db(tmp_path):
    """A paper config whose engine is stopped, and another engine (its own DB) on the same
    metrics port: ``status`` says the port's engine serves another DB and shows no price."""
    ours_dir, theirs_dir = tmp_path / "ours", tmp_path / "theirs"
    ours_dir.mkdir()
    theirs_dir.mkdir()
    ours = engine.write_config(ours_dir, {s: {} for s in SYMBOLS}, defaults='trail_pct = "5"')
    proc = h.start_engine(ours)
    try:
        engine.wait_for(lambda: len(engine.read(ours_dir / "ratchet.db", lambda r: r.list_orders(
            state=OrderState.NEW))) == 2, timeout=60, what="our two stops")
    finally:
        h.stop_engine(proc)
    port = next(line for line in ours.read_text().splitlines()
                if line.startswith("metrics_port")).split("=")[1].strip()
    theirs = engine.write_config(theirs_dir, {s: {} for s in SYMBOLS},
                                 defaults='trail_pct = "5"', feed='volatility_pct = "0.05"')
    theirs.write_text(theirs.read_text().replace(
        next(line for line in theirs.read_text().splitlines()
             if line.startswith("metrics_port")), f"metrics_port = {port}"))
    other = h.start_engine(theirs)
    try:
        engine.wait_for(lambda: len(engine.read(theirs_dir / "ratchet.db", lambda r: r.list_orders(
            state=OrderState.NEW))) == 2, timeout=60, what="their two stops")
        mixed = ratchet(ours, "status")
        own = ratchet(theirs, "status")
    finally:
        h.stop_engine(other)

    assert mixed.returncode == own.returncode == 0, mixed.stderr + own.stderr
    title = mixed.stdout.splitlines()[0]
    assert "not this DB" in title and str(theirs_dir / "ratchet.db") in title
    assert set(rows(mixed.stdout)) == set(SYMBOLS)
    assert all(cells[1] == "-" and cells[6] == "-" for cells in rows(mixed.stdout).values())
    assert "prices from the running engine" in own.stdout.splitlines()[0]
    assert all(cells[1] != "-" for cells in rows(own.stdout).values())
