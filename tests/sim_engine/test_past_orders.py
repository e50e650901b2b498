"""A move held in the Gateway while its stop fills and the pair buys again (issue 26): the move
is withdrawn, never sent for the closed position's stop; the new position keeps its own stop;
the sim ends with one position per BUY and every held coin under one stop."""

from __future__ import annotations

from decimal import Decimal

from core.types import PositionState
from tests.integration import engine
from tests.sim_engine import harness as h
from tests.sim_engine.story import drive, paused_market

A = "AAAUSDT"
D = Decimal


def block(sim, kind: str | None) -> None:
    sim.control("POST", "/sim/block", {"symbol": A, "kind": kind, "retry_after_s": 1})


def test_a_held_move_of_a_stop_that_filled_never_touches_the_next_position(sim_dir):
    with paused_market(sim_dir, [A]) as (sim, config, db):
        proc = h.start_engine(config)
        try:
            first = drive(sim, {A: "100"}, lambda: h.protected(db, sim, [A]),
                          what="entry and first stop")[A]  # stop 95
            block(sim, "429")  # stop orders wait in the Gateway: the move below is held
            drive(sim, {A: "110"}, lambda: (p := engine.read(
                db, lambda r: r.load_position(first.position_id))) and p.highest == D(110),
                what="a move wanted")
            sim.price(A, "94")  # the stop (95 / 94.52) triggers, then fills at its limit
            closed = drive(sim, {A: "95"}, lambda: (p := engine.read(
                db, lambda r: r.load_position(first.position_id)))
                and p.state is PositionState.FLAT and p, timeout=30, what="closed by its stop")
            block(sim, None)
            second = drive(sim, {A: "96"}, lambda: (p := h.protected(db, sim, [A]))
                           and p[A].position_id != first.position_id and p[A],
                           timeout=30, what="the next position protected")
            settled = h.settled(db, sim, [A])
            orders = h.ours(sim.orders())
        finally:
            out = h.stop_engine(proc)

    assert not h.traceback_in(out), out
    assert closed.exit_reason == "stop" and settled[A] == second
    buys = [o for o in orders if o["side"] == "BUY" and o["status"] == "FILLED"]
    assert sorted(o["clientOrderId"].split("-")[1] for o in buys) == sorted(
        [first.position_id, second.position_id])  # one BUY per position
    moves = [o for o in orders if o["clientOrderId"].startswith(f"rt-{first.position_id}-")
             and o["type"] == "STOP_LOSS_LIMIT" and o["clientOrderId"] != first.stop_order_id]
    assert moves == []  # the held move was never sent for the closed position's stop
    rows = h.db_orders(db)
    withdrawn = [o for o in rows.values() if o.position_id == first.position_id
                 and o.replaces == first.stop_order_id]
    assert [o.state.value for o in withdrawn] == ["FAILED"]
