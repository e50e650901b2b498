"""Native trailing stops in binance mode, the real engine against the sim (DESIGN.md §3b): one
STOP_LOSS_LIMIT with ``trailingDelta`` and no stop price per position, never moved while the
engine watches prices rise; then, killed with -9, the venue keeps trailing: prices rise further
and fall through the trailed level, the stop fills on the sim, and the next boot finds the fill
and books it."""

from __future__ import annotations

import signal
import subprocess
from decimal import Decimal as D

from core.types import PositionState
from tests.integration import engine
from tests.sim_engine import harness as h
from tests.sim_engine.story import (
    DEFAULTS,
    closed_pnl,
    drive,
    paused_market,
    read_report,
    trades_by_client_id,
)

SYM = "BTCUSDT"  # the sim starts it at 50000
NATIVE = {**DEFAULTS, "stop_mode": "native", "trail_pct": "1"}  # trailingDelta 100


def status(config) -> str:
    done = subprocess.run([*engine.RATCHET, "status", "-c", str(config)], cwd=config.parent,
                          capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(engine.REPO), "PATH": "/usr/bin:/bin"})
    return done.stdout + done.stderr


def test_native_stop_trails_on_the_venue_while_the_engine_is_killed(sim_dir):
    with paused_market(sim_dir, [SYM], defaults=NATIVE) as (sim, config, db):
        proc = h.start_engine(config)
        try:
            drive(sim, {SYM: "50000"}, lambda: h.protected(db, sim, [SYM]), what="an entry")
            position = h.open_positions(db)[SYM]
            sim.reset_requests()
            drive(sim, {SYM: "50600"}, lambda: "~50094" in status(config),
                  what="the estimate rising with the feed")  # floor(50600 × 0.99)
            requests = sim.requests()
            venue_stop = h.open_on_sim(sim)[position.stop_order_id]
        finally:
            out = h.stop_engine(proc, signal.SIGKILL)
        assert not h.traceback_in(out), out

        # Down: the market rises to 52000 (the venue's trigger: 51480), then falls through it.
        for price in ("51000", "52000", "51600"):
            sim.price(SYM, price)
        still_open = position.stop_order_id in h.open_on_sim(sim)
        sim.price(SYM, "51400")
        filled_on_sim = position.stop_order_id not in h.open_on_sim(sim)

        proc = h.start_engine(config)
        try:
            closed = engine.wait_for(lambda: (p := engine.read(
                db, lambda r: r.load_position(position.position_id))).state is
                PositionState.FLAT and p, timeout=60, what="the offline fill booked at boot")
            report = read_report(db)
        finally:
            out = h.stop_engine(proc)
        assert proc.returncode == 0, out
        trades = trades_by_client_id(sim)

    limit = D("49252.50")  # floor(floor(50000 × 0.99) × 0.995): fixed at placement
    assert (venue_stop["trailingDelta"], D(venue_stop["stopPrice"]), D(venue_stop["price"])) == (
        100, D(0), limit)
    assert (position.trailing_delta, position.limit, position.stop) == (100, limit, D(49500))
    assert requests.get(h.REPLACE, 0) == 0 and requests.get(h.ORDER_POST, 0) == 0  # never moved
    assert still_open and filled_on_sim
    assert (closed.exit_reason, closed.exit_price, closed.stop_moves) == ("stop", D(51400), 0)
    assert closed.pnl == closed_pnl(trades[f"rt-{position.position_id}-1"],
                                    trades[position.stop_order_id])
    assert report["actions"]["record_stop_fill"] == 1


def test_a_native_stop_gone_while_down_is_replaced_by_a_fresh_native_stop(sim_dir):
    with paused_market(sim_dir, [SYM], defaults=NATIVE) as (sim, config, db):
        proc = h.start_engine(config)
        try:
            drive(sim, {SYM: "50000"}, lambda: h.protected(db, sim, [SYM]), what="an entry")
            old = h.open_positions(db)[SYM]
        finally:
            h.stop_engine(proc, signal.SIGKILL)
        sim.control("POST", "/sim/cancel", {"symbol": SYM, "origClientOrderId": old.stop_order_id})
        sim.price(SYM, "50800")  # the last price is now above the persisted highest
        proc = h.start_engine(config)
        try:
            fresh = engine.wait_for(lambda: (p := (h.protected(db, sim, [SYM]) or {}).get(SYM))
                                    and p.stop_order_id != old.stop_order_id and p,
                                    timeout=40, what="a fresh native stop")
            on_sim = h.open_on_sim(sim)[fresh.stop_order_id]
            report = read_report(db)
        finally:
            out = h.stop_engine(proc)
        assert proc.returncode == 0, out

    assert report["actions"]["replace_stop"] == 1
    assert (on_sim["trailingDelta"], D(on_sim["stopPrice"])) == (100, D(0))
    # §3b: the limit from max(highest, last price) = 50800: floor(floor(50800 × 0.99) × 0.995)
    assert D(on_sim["price"]) == fresh.limit == D("50040.54")
    assert (fresh.position_id, fresh.stop, fresh.highest) == (old.position_id, D(50292),
                                                              D(50800))
