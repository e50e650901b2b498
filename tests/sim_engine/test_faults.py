"""The real engine against a sim that fails 10 % of requests (5xx, -1007, timeouts, 409 on
cancelReplace; a failed order request may or may not have been applied), until at least 2,000
order operations were attempted; then a restart, so boot reconciliation runs under faults too.
"""

from __future__ import annotations

from decimal import Decimal

from core.types import OrderState, PositionState
from tests.integration import engine
from tests.sim_engine import harness as h
from tests.sim_engine.story import read_report

TARGET_ORDER_OPS = 2000
SYMBOLS = tuple(f"F{n:02d}USDT" for n in range(20))
# A fast, wild walk (about 0.9 % a price) and tight stops: entries, moves and fills all the time.
SIM_FLAGS = ("--fail-rate", "0.1", "--seed", "7", "--timeout-s", "0.05",
             "--volatility-pct", "30", "--interval-ms", "50", *h.UNLIMITED)
DEFAULTS = {"trail_pct": "0.5", "min_move_pct": "0.05", "limit_offset_pct": "0.3",
            "quote_per_trade": "20", "stop_fill_timeout_s": "2"}


def each_open_position_has_its_stop(db, sim):
    """Every open position is OPEN with its stop open on the sim, the only open order of ours
    for its symbol; no other order of ours is open. Returns that view with the DB's order rows
    read right after it: time moves on without prices, so a triggered stop may time out later
    (an exit at market), and the checks below are about this moment."""
    positions = h.open_positions(db)
    on_sim = h.open_on_sim(sim)
    if any(p.state is not PositionState.OPEN or p.stop_order_id not in on_sim
           for p in positions.values()):
        return None
    if set(on_sim) != {p.stop_order_id for p in positions.values()}:
        return None
    rows = h.db_orders(db)
    if any(rows[p.stop_order_id].state is not OrderState.NEW for p in positions.values()):
        return None
    return positions, on_sim, rows


def test_fault_run_never_crashes_loses_no_order_and_leaves_every_position_protected(sim_dir):
    sim = h.start_sim(sim_dir, "--symbols", *SYMBOLS, *SIM_FLAGS)
    try:
        config = h.write_config(sim_dir, sim.url, SYMBOLS, defaults=DEFAULTS,
                                exchange={"timeout_s": '"1"'})
        db = sim_dir / "ratchet.db"
        proc = h.start_engine(config)
        try:
            engine.wait_for(lambda: h.order_ops(sim.requests()) >= TARGET_ORDER_OPS,
                            timeout=120, what=f"{TARGET_ORDER_OPS} order operations")
        finally:
            first_out = h.stop_engine(proc)
        first_code = proc.returncode
        counts = sim.requests()

        # Restart with the price path paused: boot reconciliation settles everything the
        # first run left in flight, under the same failure rate.
        sim.pause()
        report_before = read_report(db)
        proc = h.start_engine(config)
        try:
            engine.wait_for(lambda: read_report(db) != report_before, timeout=60,
                            what="the boot reconcile report")
            positions, on_sim, rows_then = engine.wait_for(
                lambda: each_open_position_has_its_stop(db, sim), timeout=60,
                what="every open position protected")
        finally:
            second_out = h.stop_engine(proc)
        sim_orders = sim.orders()
        db_rows = h.db_orders(db)
    finally:
        sim.stop()

    # The engine never crashed.
    assert first_code == 0 and not h.traceback_in(first_out), first_out[-3000:]
    assert proc.returncode == 0 and not h.traceback_in(second_out), second_out[-3000:]
    # The run met its faults over enough order operations.
    assert h.order_ops(counts) >= TARGET_ORDER_OPS
    assert counts.get(h.REPLACE, 0) > 100 and counts.get(h.ORDER_GET, 0) > 50
    # No client order id was ever accepted twice, nor refused as a duplicate.
    assert h.accepted_twice(sim_orders) == []
    # The only refusals: stops whose price the market crossed between decision and arrival
    # (-2010 would trigger); each was followed by a sale or a fresh stop, checked below.
    refused = [o for o in db_rows.values() if o.state is OrderState.REJECTED]
    assert all(o.type.value == "STOP_LOSS_LIMIT" and "would trigger immediately" in o.reason
               for o in refused), refused
    # No order of ours exists on the sim that the DB does not know.
    assert {o["clientOrderId"] for o in h.ours(sim_orders)} <= set(db_rows)
    # Every open position ends with exactly one open stop on the sim, for its whole quantity.
    by_id = {o["clientOrderId"]: o for o in sim_orders}
    assert positions, "the run ended with no open position to check"
    for p in positions.values():
        stop = by_id[p.stop_order_id]
        assert stop["type"] == "STOP_LOSS_LIMIT" and Decimal(stop["origQty"]) == p.qty
        assert rows_then[p.stop_order_id].state is OrderState.NEW
    assert len(on_sim) == len(positions)
