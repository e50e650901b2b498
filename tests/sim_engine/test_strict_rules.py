"""The engine under Binance's hard rules, against the strict sim: a cancelReplace that cancels
the old stop and refuses the new one (409 -2021), a recovery whose recomputed stop would
trigger at once, and commissions paid in BNB."""

from __future__ import annotations

import signal
import urllib.request
from decimal import Decimal

from core.types import OrderState, PositionState
from tests.integration import engine
from tests.sim_engine import harness as h
from tests.sim_engine.story import DEFAULTS, drive, paused_market, stops_at, trades_by_client_id

A = "AAAUSDT"
D = Decimal


def test_a_409_on_a_move_is_followed_at_once_by_a_fresh_stop(sim_dir):
    with paused_market(sim_dir, [A], defaults=DEFAULTS) as (sim, config, db):
        proc = h.start_engine(config)
        try:
            first = drive(sim, {A: "100"}, lambda: h.protected(db, sim, [A]),
                          what="entry and first stop")[A]
            sim.force("409")  # the next cancelReplace: cancel done, new order refused (-2010)
            moved = drive(sim, {A: "110"}, lambda: stops_at(db, "104.50", [A])
                          and h.protected(db, sim, [A]), what="protected again")[A]
            rows = h.db_orders(db)
        finally:
            out = h.stop_engine(proc)

    assert not h.traceback_in(out), out
    assert moved.position_id == first.position_id and moved.state is PositionState.OPEN
    old = rows[first.stop_order_id]
    failed = [o for o in rows.values() if o.replaces == first.stop_order_id]
    assert old.state is OrderState.CANCELED
    assert [o.state for o in failed] == [OrderState.FAILED]
    # The fresh stop is a new order at the level the move wanted, not another replace.
    fresh = rows[moved.stop_order_id]
    assert fresh.replaces is None and fresh.stop_price == D("104.50")


def test_a_recovery_whose_recomputed_stop_would_trigger_sells_at_market(sim_dir):
    with paused_market(sim_dir, [A], defaults=DEFAULTS) as (sim, config, db):
        proc = h.start_engine(config)
        try:
            held = drive(sim, {A: "100"}, lambda: h.protected(db, sim, [A]),
                         what="entry and first stop")[A]
        finally:
            h.stop_engine(proc, signal.SIGKILL)
        # While the engine is down: the stop is canceled from outside, and the price falls
        # below where it was (95), so a stop placed there now would trigger at once.
        sim.control("POST", "/sim/cancel", {"symbol": A,
                                            "origClientOrderId": held.stop_order_id})
        sim.price(A, "94")
        proc = h.start_engine(config)
        try:
            closed = engine.wait_for(
                lambda: (p := engine.read(db, lambda r: r.load_position(held.position_id)))
                and p.state is PositionState.FLAT and p, timeout=30, what="the sale at market")
        finally:
            out = h.stop_engine(proc)
        trades = trades_by_client_id(sim)
        refused = [o for o in sim.orders() if o["status"] == "REJECTED"]

    assert not h.traceback_in(out), out
    assert closed.exit_reason == "stop" and closed.exit_price == D("94")
    sale = [t for cid, ts in trades.items() for t in ts
            if cid.startswith(f"rt-{held.position_id}-") and not t["isBuyer"]]
    assert len(sale) == 1 and D(sale[0]["price"]) == D("94")
    assert refused == []  # never sent as a stop: Binance would have refused it


def test_fees_in_bnb_keep_the_whole_quantity_and_are_valued_at_the_bnb_price(sim_dir):
    with paused_market(sim_dir, [A], "--fee-asset", "BNB", "--balance", "USDT=100000",
                       "--balance", "BNB=10", listed=("BNBUSDT",)) as (sim, config, db):
        sim.price("BNBUSDT", "250")
        proc = h.start_engine(config)
        try:
            held = drive(sim, {A: "100"}, lambda: h.protected(db, sim, [A]),
                         what="entry and first stop")[A]
            # 94.90: through the stop (95) and above its limit (94.52), so it fills there.
            closed = drive(sim, {A: "94.90"}, lambda: (p := engine.read(
                db, lambda r: r.load_position(held.position_id))).state is PositionState.FLAT
                and p, what="the stop filled")
            fills = engine.read(db, lambda r: r.list_fills(position_id=held.position_id))
        finally:
            out = h.stop_engine(proc)
        trades = trades_by_client_id(sim)

    assert not h.traceback_in(out), out
    ours = [t for cid, ts in trades.items() if cid.startswith(f"rt-{held.position_id}-")
            for t in ts]
    assert {t["commissionAsset"] for t in ours} == {"BNB"}
    bought = sum(D(t["qty"]) for t in ours if t["isBuyer"])
    assert held.qty == bought  # nothing was taken off the coins: the fee was paid in BNB
    assert {(f.fee_asset, f.fee) for f in fills} == {("BNB", D(t["commission"])) for t in ours}
    entry = next(D(t["price"]) for t in ours if t["isBuyer"])
    exit_ = next(D(t["price"]) for t in ours if not t["isBuyer"])
    bnb_fees = sum(D(t["commission"]) for t in ours) * D(250)
    assert closed.pnl == (exit_ - entry) * held.qty - bnb_fees


def test_a_garbled_execution_report_is_caught_up_and_the_fill_is_recorded(sim_dir):
    with paused_market(sim_dir, [A]) as (sim, config, db):
        cfg_port = next(int(line.split("=")[1]) for line in config.read_text().splitlines()
                        if line.startswith("metrics_port"))
        proc = h.start_engine(config)
        try:
            held = drive(sim, {A: "100"}, lambda: h.protected(db, sim, [A]),
                         what="entry and first stop")[A]
            sim.control("POST", "/sim/garble", {"count": 1})
            sim.price(A, "94.90")  # fills the stop; its executionReport goes out unreadable
            closed = engine.wait_for(
                lambda: (p := engine.read(db, lambda r: r.load_position(held.position_id)))
                .state is PositionState.FLAT and p, timeout=20, what="the fill caught up")
            fills = engine.read(db, lambda r: r.list_fills(position_id=held.position_id))
            scrape = urllib.request.urlopen(f"http://127.0.0.1:{cfg_port}/metrics",
                                            timeout=5).read().decode()
        finally:
            out = h.stop_engine(proc)
        trades = trades_by_client_id(sim)

    assert not h.traceback_in(out), out
    assert closed.exit_reason == "stop" and closed.exit_price == D("94.90")
    sold = trades[held.stop_order_id]
    assert {f.exchange_trade_id for f in fills if f.client_order_id == held.stop_order_id} == {
        str(t["id"]) for t in sold}
    assert "ratchet_user_stream_unreadable_events_total 1.0" in scrape
