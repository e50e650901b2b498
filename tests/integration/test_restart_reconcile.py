"""Restart and reconciliation on the paper exchange: stop the real engine, change the venue
and the DB while it is down, start it again, and check what boot reconciliation did."""

from __future__ import annotations

import json
import signal
import time
from decimal import Decimal

import pytest

from core.config import load_config
from core.types import OrderState, PositionState
from exchange.paper import PaperExchange
from tests.integration import engine

PAIRS = {"AAAUSDT": {}, "BBBUSDT": {}, "CCCUSDT": {}, "DDDUSDT": {}}
# Wide stops and a calm walk: nothing fills by itself while the test arranges the venue.
DEFAULTS = 'trail_pct = "5"\nstop_fill_timeout_s = "600"'
FEED = 'volatility_pct = "0.05"'


def _open_positions(db):
    positions = engine.read(db, lambda r: r.list_positions(open_only=True))
    stops = engine.read(db, lambda r: r.list_orders(state=OrderState.NEW))
    if len(positions) == len(PAIRS) and len(stops) == len(PAIRS):
        return {p.symbol: p for p in positions}
    return None


def _venue(cfg):
    return PaperExchange(cfg.engine.paper_state_path, settings={p.symbol: p for p in cfg.pairs})


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_restart_reconciles_every_offline_change_and_trades_on(tmp_path, how):
    config = engine.write_config(tmp_path, PAIRS, defaults=DEFAULTS, feed=FEED)
    cfg = load_config(config)
    db = cfg.engine.db_path
    proc = engine.start(config)
    try:
        positions = engine.wait_for(lambda: _open_positions(db), timeout=60,
                                    what="every pair open with its stop")
    finally:
        engine.stop(proc, how)

    # While it is down: A's stop fills, B's stop is canceled from outside, C's stop is an
    # intent the venue has but the DB never saw as NEW, and an rt- stop the DB holds as
    # canceled is open on the venue (a cancel whose answer was lost: boot cancels it; one the
    # DB has no row for refuses the boot, tests/sim_engine/test_one_key.py).
    a, b, c, d = (positions[s] for s in PAIRS)
    venue = _venue(cfg)
    book = venue.book
    trigger = a.stop  # fills at once: stop >= price >= limit
    book.on_price("AAAUSDT", trigger, Decimal(10**10), "offline")
    book.cancel("BBBUSDT", b.stop_order_id)
    engine.write(db, lambda r: r.save_order(
        r.get_order(c.stop_order_id).replace(state=OrderState.PENDING_NEW)))
    base = book.filters("DDDUSDT").base_asset
    book.set_balance(base, book.balances()[base].free + d.qty)
    book.place_stop_limit("DDDUSDT", d.qty, d.stop, d.limit, "rt-orphan-1")
    engine.write(db, lambda r: r.save_order(r.get_order(d.stop_order_id).replace(
        client_order_id="rt-orphan-1", position_id="orphan", state=OrderState.CANCELED)))
    a_fill = [t for t in book.trades("AAAUSDT") if t.client_order_id == a.stop_order_id]
    venue.close()
    assert len(a_fill) == 1

    first_report = engine.read(db, lambda r: r.kv_get("reconcile:last"))
    proc = engine.start(config)
    try:
        report = engine.wait_for(
            lambda: (rep := engine.read(db, lambda r: r.kv_get("reconcile:last"))) != first_report
            and rep, timeout=60, what="the new reconcile report")
        engine.wait_for(lambda: engine.read(db, lambda r: [
            p for p in r.list_positions(symbol="AAAUSDT", open_only=True)]), timeout=30,
            what="AAAUSDT trading on after its offline fill")
    finally:
        out = engine.stop(proc)
    assert proc.returncode == 0, out

    actions = json.loads(report)["actions"]
    assert actions["record_stop_fill"] == 1
    assert actions["replace_stop"] == 1
    assert actions["adopt_intent"] == 1
    assert actions["cancel_orphan"] == 1
    assert actions["keep_stop"] == 1

    closed_a = engine.read(db, lambda r: r.load_position(a.position_id))
    assert closed_a.state is PositionState.FLAT
    assert closed_a.exit_price == a_fill[0].price
    fee_pct = cfg.pair("AAAUSDT").fee_pct
    expected = (a_fill[0].price - a.entry_price) * a.qty - a.entry_fee - \
        a_fill[0].price * a.qty * fee_pct / 100
    assert closed_a.pnl == expected
    fills = engine.read(db, lambda r: r.list_fills(symbol="AAAUSDT"))
    ids = [f.exchange_trade_id for f in fills]
    assert len(ids) == len(set(ids))
    assert str(a_fill[0].trade_id) in ids

    assert engine.read(db, lambda r: r.get_order(c.stop_order_id)).state.is_open

    venue = _venue(cfg)
    try:
        open_orders = venue.open_orders()
        by_symbol = {}
        for o in open_orders:
            by_symbol.setdefault(o.symbol, []).append(o.client_order_id)
        assert "rt-orphan-1" not in {o.client_order_id for o in open_orders}
        assert all(len(ids) == 1 for ids in by_symbol.values()), by_symbol
        b_now = engine.read(db, lambda r: r.load_position(b.position_id))
        assert b_now.state is PositionState.OPEN
        assert by_symbol["BBBUSDT"] == [b_now.stop_order_id] != [b.stop_order_id]
        assert b_now.stop >= b.stop
        known = engine.read(db, lambda r: {o.client_order_id for o in r.list_orders()})
        assert {o.client_order_id for o in open_orders} <= known
    finally:
        venue.close()


def test_a_stop_triggered_while_down_times_out_from_the_venues_trigger_time(tmp_path):
    config = engine.write_config(tmp_path, {"AAAUSDT": {}}, feed=FEED,
                                 defaults='trail_pct = "5"\nstop_fill_timeout_s = "30"')
    cfg = load_config(config)
    db = cfg.engine.db_path
    proc = engine.start(config)
    try:
        position = engine.wait_for(
            lambda: (ps := engine.read(db, lambda r: r.list_positions(open_only=True)))
            and ps[0].stop_order_id and engine.read(db, lambda r: r.get_order(
                ps[0].stop_order_id)).state.is_open and ps[0], timeout=60, what="a stop")
    finally:
        engine.stop(proc)
    venue = _venue(cfg)
    below_limit = (position.limit * Decimal("0.97")).quantize(Decimal("0.01"))
    triggered_at = Decimal(int(time.time()) - 120)  # two minutes ago, beyond the timeout
    venue.book.on_price("AAAUSDT", below_limit, triggered_at, "offline")
    assert venue.book.get_order("AAAUSDT", position.stop_order_id).triggered
    venue.close()

    proc = engine.start(config)
    try:
        closed = engine.wait_for(lambda: (p := engine.read(db, lambda r: r.load_position(
            position.position_id))).pnl is not None and p, timeout=15,
            what="the timeout exit counted from the venue's trigger time")
    finally:
        engine.stop(proc)
    assert closed.exit_reason == "timeout"
