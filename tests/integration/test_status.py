"""``ratchet status`` reads positions, open orders and realized P&L through its own read-only
connection, also while the engine runs; ``reconcile --dry-run`` changes nothing."""

from __future__ import annotations

import hashlib
import json
import subprocess
from decimal import Decimal

from core.config import load_config
from core.money import floor_tick
from core.types import OrderState
from exchange.paper import PaperExchange
from tests.integration import engine


def ratchet(config, *args):
    return subprocess.run([*engine.RATCHET, *args, "-c", str(config)], cwd=config.parent,
                          capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(engine.REPO), "PATH": "/usr/bin:/bin"})


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_status_reads_the_db_while_the_engine_runs(tmp_path):
    config = engine.write_config(tmp_path, {"AAAUSDT": {}, "BBBUSDT": {}, "CCCUSDT": {}},
                                 defaults='trail_pct = "0.3"\nmin_move_pct = "0.05"',
                                 feed='volatility_pct = "0.3"')
    db = load_config(config).engine.db_path
    proc = engine.start(config)
    try:
        engine.wait_for(lambda: len(engine.read(db, lambda r: r.list_orders(
            state=OrderState.NEW))) == 3, timeout=60, what="three stops")
        done = ratchet(config, "status", "--json")
    finally:
        engine.stop(proc)

    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert {p["symbol"] for p in state["positions"]} <= {"AAAUSDT", "BBBUSDT", "CCCUSDT"}
    assert all(o["type"] == "STOP_LOSS_LIMIT" for o in state["open_orders"]
               if o["state"] == "NEW")
    assert "realized_pnl_total" in state


def test_reconcile_dry_run_prints_actions_and_changes_nothing(tmp_path):
    config = engine.write_config(tmp_path, {"AAAUSDT": {}, "BBBUSDT": {}},
                                 defaults='trail_pct = "5"', feed='volatility_pct = "0.05"')
    cfg = load_config(config)
    proc = engine.start(config)
    try:
        engine.wait_for(lambda: len(engine.read(cfg.engine.db_path, lambda r: r.list_orders(
            state=OrderState.NEW))) == 2, timeout=60, what="two stops")
    finally:
        engine.stop(proc)
    db_before = digest(cfg.engine.db_path)
    venue_before = venue_state(cfg)

    done = ratchet(config, "reconcile", "--dry-run")

    assert done.returncode == 0, done.stderr
    assert done.stdout.count("keep_stop:") == 2
    assert "nothing changed" in done.stdout
    assert digest(cfg.engine.db_path) == db_before
    assert venue_state(cfg) == venue_before  # the paper venue's orders and balances


def venue_state(cfg):
    venue = PaperExchange(cfg.engine.paper_state_path, settings={p.symbol: p for p in cfg.pairs})
    try:
        return (sorted((o.client_order_id, o.state) for o in venue.book.all_orders()),
                venue.balances())
    finally:
        venue.close()


def test_status_shows_a_halted_pair_with_its_reason_and_pnl_per_quote(tmp_path):
    from core.types import Position, PositionState
    from persistence.db import open_database
    from persistence.repository import Repository

    config = engine.write_config(tmp_path, {"BTCUSDT": {}, "ETHBTC": {}})
    cfg = load_config(config)
    db = open_database(cfg.engine.db_path)
    try:
        repo = Repository(db)
        repo.save_position(Position(position_id="a1", symbol="BTCUSDT",
                                    state=PositionState.FLAT, quote_asset="USDT", halted=True,
                                    halt_reason="entry refused: Filter failure: LOT_SIZE"))
        repo.save_position(Position(position_id="b1", symbol="ETHBTC",
                                    state=PositionState.FLAT, quote_asset="BTC"))
    finally:
        db.close()

    text = ratchet(config, "status")
    doc = ratchet(config, "status", "--json")

    assert text.returncode == doc.returncode == 0, text.stderr + doc.stderr
    assert "halted BTCUSDT    entry refused: Filter failure: LOT_SIZE" in text.stdout
    state = json.loads(doc.stdout)
    assert state["halted"] == {"BTCUSDT": "entry refused: Filter failure: LOT_SIZE"}
    assert state["quote_assets"] == {"BTCUSDT": "USDT", "ETHBTC": "BTC"}
    assert state["realized_pnl_by_quote"] == {"BTC": "0", "USDT": "0"}


def test_dry_run_plans_what_boot_then_does_with_defaults_for_a_pair_no_longer_configured(
        tmp_path):
    config = engine.write_config(tmp_path, {"AAAUSDT": {}, "BBBUSDT": {}},
                                 defaults='trail_pct = "5"', feed='volatility_pct = "0.05"')
    cfg = load_config(config)
    proc = engine.start(config)
    try:
        engine.wait_for(lambda: len(engine.read(cfg.engine.db_path, lambda r: r.list_orders(
            state=OrderState.NEW))) == 2, timeout=60, what="two stops")
    finally:
        engine.stop(proc)
    held = {p.symbol: p for p in engine.read(cfg.engine.db_path,
                                             lambda r: r.list_positions(open_only=True))}
    venue = PaperExchange(cfg.engine.paper_state_path, settings={p.symbol: p for p in cfg.pairs})
    venue.cancel(symbol="BBBUSDT", client_order_id=held["BBBUSDT"].stop_order_id)
    venue.close()
    # BBBUSDT leaves the config; its stop must come back from [defaults] (8 %), not the
    # §3 default (3 %), in the plan and at boot alike.
    text = config.read_text().replace('symbol = "BBBUSDT"', 'symbol = "CCCUSDT"')
    config.write_text(text.replace('trail_pct = "5"', 'trail_pct = "8"'))

    plan = ratchet(config, "reconcile", "--dry-run")
    done = ratchet(config, "reconcile")

    assert plan.returncode == 0 and done.returncode == 0, plan.stderr + done.stderr
    planned = [line for line in plan.stdout.splitlines() if line.startswith("replace_stop:")]
    venue = PaperExchange(cfg.engine.paper_state_path, settings={p.symbol: p for p in cfg.pairs})
    try:
        placed = [o for o in venue.open_orders() if o.symbol == "BBBUSDT"]
        last = venue.book.last_price("BBBUSDT")
    finally:
        venue.close()
    assert len(planned) == 1 and held["BBBUSDT"].position_id in planned[0]
    expected = floor_tick(max(held["BBBUSDT"].highest, last) * Decimal("0.92"), Decimal("0.01"))
    assert [o.stop_price for o in placed] == [expected]
    assert f" stop={expected} " in planned[0] and "Decimal(" not in plan.stdout
