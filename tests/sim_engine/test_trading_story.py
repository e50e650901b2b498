"""The trading story in binance mode: the real engine against the sim over python-binance.

Entries, stop moves (by cancelReplace only), a stop fill and a re-entry; then a restart with
changes made while the engine was down, through the sim's ``/sim/...`` endpoints, as
``tests/integration/test_restart_reconcile.py`` does on the paper exchange: an offline fill,
a stop canceled from outside, an adopted intent and an orphan.
"""

from __future__ import annotations

import signal
from decimal import Decimal

import pytest

from core.types import OrderState, PositionState
from tests.integration import engine
from tests.sim_engine import harness as h
from tests.sim_engine.story import (
    DEFAULTS,
    closed_pnl,
    drive,
    read_report,
    stops_at,
    trades_by_client_id,
)

A, B, C, D = SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT")  # the sim starts them at 100
D_ = Decimal


def at(price: str, symbols=SYMBOLS) -> dict[str, str]:
    return dict.fromkeys(symbols, price)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_binance_mode_trades_moves_by_replace_and_reconciles_offline_changes(sim_dir, how):
    sim = h.start_sim(sim_dir, "--symbols", *SYMBOLS, *h.UNLIMITED)
    try:
        sim.pause()
        config = h.write_config(sim_dir, sim.url, SYMBOLS, defaults=DEFAULTS)
        db = sim_dir / "ratchet.db"
        _story_then_restart(sim, config, db, how)
    finally:
        sim.stop()


def _story_then_restart(sim, config, db, how) -> None:
    # --- the story: entries at 100, two moves each, A's stop fills, A re-enters ------------
    proc = h.start_engine(config)
    try:
        drive(sim, at("100"), lambda: h.protected(db, sim, SYMBOLS), what="four entries")
        drive(sim, at("110"), lambda: stops_at(db, "104.50", SYMBOLS), what="first moves")
        drive(sim, at("120"), lambda: stops_at(db, "114.00", SYMBOLS), what="second moves")
        first_a = h.open_positions(db)[A]
        drive(sim, {A: "113.90"}, lambda: (p := h.open_positions(db).get(A)) and
              p.position_id != first_a.position_id and h.protected(db, sim, SYMBOLS),
              what="A stopped out at 113.90 and in again")
        positions = h.settled(db, sim, SYMBOLS)
        story_counts = sim.requests()
    finally:
        out = h.stop_engine(proc, how)
    if how == signal.SIGTERM:
        assert proc.returncode == 0, out
    assert not h.traceback_in(out), out

    closed_a = engine.read(db, lambda r: r.load_position(first_a.position_id))
    trades = trades_by_client_id(sim)
    entry_cid = f"rt-{first_a.position_id}-1"
    assert closed_a.state is PositionState.FLAT and closed_a.exit_reason == "stop"
    assert closed_a.exit_price == D_("113.90") and closed_a.stop_moves == 2
    assert closed_a.pnl == closed_pnl(trades[entry_cid], trades[first_a.stop_order_id])
    # Every stop moved by one cancelReplace each, never by a cancel and a new order: 4 × 2
    # moves; the order POSTs are the 5 market buys and the 5 first stops.
    assert story_counts.get(h.REPLACE) == 8
    assert story_counts.get(h.ORDER_DELETE, 0) == 0
    assert story_counts.get(h.ORDER_POST) == 10
    replaced = [o for o in h.ours(sim.orders()) if o["status"] == "CANCELED"]
    assert len(replaced) == 8 and all(o["type"] == "STOP_LOSS_LIMIT" for o in replaced)

    # --- while it is down ---------------------------------------------------------------
    a, b, c, d = (positions[s] for s in SYMBOLS)
    sim.price(A, str(a.stop))  # stop >= price >= limit: fills at once
    sim.control("POST", "/sim/cancel", {"symbol": B, "origClientOrderId": b.stop_order_id})
    engine.write(db, lambda r: r.save_order(
        r.get_order(c.stop_order_id).replace(state=OrderState.PENDING_NEW)))
    sim.control("POST", "/sim/balance", {"asset": "DDD", "free": str(d.qty)})
    sim.control("POST", "/sim/order", {
        "symbol": D, "side": "SELL", "type": "STOP_LOSS_LIMIT", "quantity": str(d.qty),
        "price": str(d.limit), "stopPrice": str(d.stop), "newClientOrderId": "rt-orphan-1"})
    # The DB holds that stop as canceled (a cancel whose answer was lost): open on the venue,
    # it would sell what no position owns, so boot cancels it. (A stop of our prefix the DB
    # has no row for at all refuses the boot: tests/sim_engine/test_one_key.py.)
    stale = d.stop_order_id and engine.read(db, lambda r: r.get_order(d.stop_order_id))
    engine.write(db, lambda r: r.save_order(stale.replace(
        client_order_id="rt-orphan-1", position_id="orphan", state=OrderState.CANCELED)))
    a_fill = trades_by_client_id(sim)[a.stop_order_id]
    assert len(a_fill) == 1 and D_(a_fill[0]["price"]) == a.stop

    # --- restart: reconcile, then trade on -----------------------------------------------
    first_report = read_report(db)
    sim.reset_requests()
    proc = h.start_engine(config)
    try:
        report = engine.wait_for(lambda: (r := read_report(db)) != first_report and r,
                                 what="the new reconcile report")
        c_row_after_boot = engine.read(db, lambda r: r.get_order(c.stop_order_id))
        drive(sim, {A: str(a.stop)}, lambda: A in h.open_positions(db) and
              h.protected(db, sim, SYMBOLS), what="A in again after its offline fill")
        drive(sim, at("130"), lambda: stops_at(db, "123.50", SYMBOLS), what="moves after the restart")
        final = h.settled(db, sim, SYMBOLS)
        restart_counts = sim.requests()
    finally:
        out = h.stop_engine(proc)
    assert proc.returncode == 0, out
    assert not h.traceback_in(out), out

    actions = report["actions"]
    assert actions["record_stop_fill"] == 1
    assert actions["replace_stop"] == 1
    assert actions["adopt_intent"] == 1
    assert actions["cancel_orphan"] == 1
    assert actions["keep_stop"] == 1
    assert report["errors"] == [] and report["halted"] == []

    closed = engine.read(db, lambda r: r.load_position(a.position_id))
    trades = trades_by_client_id(sim)
    assert closed.state is PositionState.FLAT and closed.exit_price == a.stop
    assert closed.pnl == closed_pnl(trades[f"rt-{a.position_id}-1"], a_fill)
    fills = engine.read(db, lambda r: r.list_fills(symbol=A))
    ids = [f.exchange_trade_id for f in fills]
    assert len(ids) == len(set(ids)) and str(a_fill[0]["id"]) in ids

    assert c_row_after_boot.state is OrderState.NEW  # the intent was adopted, not re-placed

    sim_orders = sim.orders()
    by_symbol: dict[str, list[str]] = {}
    for o in h.ours(sim_orders):
        if o["status"] == "NEW":
            by_symbol.setdefault(o["symbol"], []).append(o["clientOrderId"])
    assert by_symbol == {s: [final[s].stop_order_id] for s in SYMBOLS}
    orphan = next(o for o in sim_orders if o["clientOrderId"] == "rt-orphan-1")
    assert orphan["status"] == "CANCELED"
    b_now = engine.read(db, lambda r: r.load_position(b.position_id))
    assert b_now.state is PositionState.OPEN and b_now.stop_order_id != b.stop_order_id
    known = engine.read(db, lambda r: {o.client_order_id for o in r.list_orders()})
    assert {o["clientOrderId"] for o in h.ours(sim_orders)} - {"rt-orphan-1"} <= known
    assert h.accepted_twice(sim_orders) == []
    # After the restart too, stops moved only by cancelReplace: the one DELETE is the orphan.
    assert restart_counts.get(h.ORDER_DELETE) == 1
    assert restart_counts.get(h.REPLACE) == 4
