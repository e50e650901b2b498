"""Never bare against the live venue (issue 24): each way the live Binance answers that used to
leave held coins without a stop, reproduced against the sim (which speaks the live venue,
``exchange/sim/PROTOCOL.md``). Each test ends with the coins under a stop (or sold) within a
bound, and ``ratchet_position_unprotected`` back at 0."""

from __future__ import annotations

from decimal import Decimal

from core.types import PositionState
from tests.integration import engine
from tests.sim_engine import harness as h
from tests.sim_engine.live import buys_on_sim, metric, unprotected
from tests.sim_engine.story import drive, paused_market

A = "AAAUSDT"
D = Decimal
BOUND_S = 30  # every recovery below is bounded by this


def block(sim, kind: str | None) -> None:
    sim.control("POST", "/sim/block", {"symbol": A, "kind": kind, "retry_after_s": 1})


def first_stop(sim, db, price: str = "100"):
    return drive(sim, {A: price}, lambda: h.protected(db, sim, [A]),
                 what="entry and first stop")[A]


def back_to_protected(sim, db, config, price: str, what: str):
    protected = drive(sim, {A: price}, lambda: h.protected(db, sim, [A]), timeout=BOUND_S,
                      what=what)[A]
    engine.wait_for(lambda: unprotected(config, A) == 0, timeout=10,
                    what="ratchet_position_unprotected back at 0")
    return protected


def test_a_first_stop_refused_in_the_live_venues_words_exits_at_market(sim_dir):
    with paused_market(sim_dir, [A]) as (sim, config, db):
        proc = h.start_engine(config)
        try:
            block(sim, "429")  # the first stop will wait in the Gateway...
            held = drive(sim, {A: "100"}, lambda: (p := h.open_positions(db).get(A))
                         and p.state is PositionState.OPEN and p, what="bought")
            sim.price(A, "90")  # ...while the price falls through where it will sit (95)
            block(sim, None)  # the venue answers "Stop price would trigger immediately."
            closed = drive(sim, {A: "90"}, lambda: (p := engine.read(
                db, lambda r: r.load_position(held.position_id))) and
                p.state is PositionState.FLAT and p, timeout=BOUND_S, what="sold at market")
            engine.wait_for(lambda: unprotected(config, A) == 0, timeout=10, what="gauge 0")
        finally:
            out = h.stop_engine(proc)

    assert not h.traceback_in(out), out
    assert (closed.exit_reason, closed.halted) == ("stop", False)
    assert closed.exit_price == D(90)


def test_the_algo_cap_as_the_live_venue_codes_it_cancels_our_strays(sim_dir):
    with paused_market(sim_dir, [A], "--balance", "USDT=100000", "--balance", "AAA=1") as (
            sim, config, db):
        proc = h.start_engine(config)
        try:
            engine.wait_for(lambda: metric(config, "ratchet_pair_up", symbol=A) == 1,
                            what="the pair up")
            for n in range(5):  # stray stops of ours (a lost move, say) fill the cap (5),
                sim.control("POST", "/sim/order", {  # before the first price: before the buy
                    "symbol": A, "side": "SELL", "type": "STOP_LOSS_LIMIT", "quantity": "0.1",
                    "stopPrice": "80", "price": "79", "newClientOrderId": f"rt-lost-{n}"})
            sim.reset_requests()
            held = back_to_protected(sim, db, config, "100", "protected under the cap")
            left = [o for o in sim.orders() if o["clientOrderId"].startswith("rt-lost-")
                    and o["status"] == "NEW"]
            counts = sim.requests()
        finally:
            out = h.stop_engine(proc)

    assert not h.traceback_in(out), out
    assert not held.halted and left == []
    # The buy, the stop the cap refused, then the stop placed once the strays were canceled.
    assert (counts[h.ORDER_POST], counts[h.ORDER_DELETE]) == (3, 5)


def test_an_entry_that_lands_late_is_bought_once_and_protected(sim_dir):
    with paused_market(sim_dir, [A]) as (sim, config, db):
        proc = h.start_engine(config)
        try:
            engine.wait_for(lambda: metric(config, "ratchet_pair_up", symbol=A) == 1,
                            what="the pair up")
            sim.control("POST", "/sim/force", {"kind": "late", "count": 1, "delay_s": 3})
            held = back_to_protected(sim, db, config, "100", "the late buy protected")
            bought = buys_on_sim(sim)
        finally:
            out = h.stop_engine(proc)

    assert not h.traceback_in(out), out
    assert [o["clientOrderId"] for o in bought] == [f"rt-{held.position_id}-1"]


def test_a_stop_answered_403_by_the_waf_is_protected_again(sim_dir):
    with paused_market(sim_dir, [A]) as (sim, config, db):
        proc = h.start_engine(config)
        try:
            held = first_stop(sim, db)
            block(sim, "403")  # every new stop: the WAF's HTML page, nothing placed
            sim.control("POST", "/sim/cancel", {"symbol": A,
                                                "origClientOrderId": held.stop_order_id})
            engine.wait_for(lambda: unprotected(config, A) == 1, what="seen unprotected")
            block(sim, None)
            again = back_to_protected(sim, db, config, "100", "protected after the 403s")
        finally:
            out = h.stop_engine(proc)

    assert not h.traceback_in(out), out
    assert again.position_id == held.position_id and not again.halted


def test_coins_partly_sold_by_hand_leave_the_rest_protected(sim_dir):
    with paused_market(sim_dir, [A]) as (sim, config, db):
        proc = h.start_engine(config)
        try:
            held = first_stop(sim, db)
            block(sim, "429")  # by hand: the stop canceled, 60 % of the coins sold
            sim.control("POST", "/sim/cancel", {"symbol": A,
                                                "origClientOrderId": held.stop_order_id})
            sold = (held.qty * D("0.6")).quantize(D("0.00001"))
            sim.control("POST", "/sim/order", {"symbol": A, "type": "MARKET", "side": "SELL",
                                               "quantity": str(sold),
                                               "newClientOrderId": "by-hand-1"})
            block(sim, None)
            rest = back_to_protected(sim, db, config, "100", "what is left protected")
        finally:
            out = h.stop_engine(proc)

    assert not h.traceback_in(out), out
    assert (rest.position_id, rest.halted) == (held.position_id, False)
    assert rest.qty == held.qty - sold and rest.sold_outside == sold


def test_another_clients_orders_cost_no_rest_catch_up(sim_dir):
    with paused_market(sim_dir, [A], "--balance", "USDT=100000", "--balance", "AAA=5") as (
            sim, config, db):
        proc = h.start_engine(config)
        try:
            first_stop(sim, db)
            engine.wait_for(lambda: sim.requests().get(h.OPEN_ORDERS, 0) >= 2,
                            what="boot and the stream's first catch-up")
            sim.reset_requests()
            for n, (side, price) in enumerate((("SELL", "130"), ("BUY", "70"), ("SELL", "99"))):
                sim.control("POST", "/sim/order", {  # the app; the last one fills at once
                    "symbol": A, "side": side, "type": "LIMIT", "quantity": "0.5",
                    "price": price, "newClientOrderId": f"web_{n}"})
            sim.control("POST", "/sim/order", {
                "symbol": A, "side": "SELL", "type": "TAKE_PROFIT_LIMIT", "quantity": "0.5",
                "price": "140", "trailingDelta": "100", "newClientOrderId": "and_tp"})
            drive(sim, {A: "101"}, lambda: any(o["clientOrderId"] == "web_2" and
                                               o["status"] == "FILLED" for o in sim.orders()),
                  what="the app's orders placed and one filled")
            counts = sim.requests()
            still = h.protected(db, sim, [A])
        finally:
            out = h.stop_engine(proc)

    assert not h.traceback_in(out), out
    assert counts.get(h.OPEN_ORDERS, 0) == 0 and counts.get(h.ORDER_GET, 0) == 0
    assert still is not None


def test_a_user_stream_shutdown_reconnects_and_catches_up(sim_dir):
    with paused_market(sim_dir, [A]) as (sim, config, db):
        proc = h.start_engine(config)
        try:
            held = first_stop(sim, db)
            block(sim, "429")
            sim.control("POST", "/sim/ws/shutdown", {"kind": "user", "notice_s": 3})
            # Canceled on the venue around the switch: heard live, or by the catch-up.
            sim.control("POST", "/sim/cancel", {"symbol": A,
                                                "origClientOrderId": held.stop_order_id})
            block(sim, None)
            again = back_to_protected(sim, db, config, "100", "protected again")
        finally:
            out = h.stop_engine(proc)

    assert not h.traceback_in(out), out
    assert again.stop_order_id != held.stop_order_id


def status(sim, state: str, expire: bool = False) -> None:
    sim.control("POST", "/sim/status", {"symbol": A, "status": state, "expire_orders": expire})


def test_a_break_that_expires_the_stop_is_protected_again_once_trading(sim_dir):
    with paused_market(sim_dir, [A]) as (sim, config, db):
        proc = h.start_engine(config)
        try:
            held = first_stop(sim, db)
            status(sim, "BREAK", expire=True)  # maintenance: the venue expires open orders
            engine.wait_for(lambda: unprotected(config, A) == 1, what="seen unprotected")
            status(sim, "TRADING")
            again = back_to_protected(sim, db, config, "100", "protected once trading")
        finally:
            out = h.stop_engine(proc)

    assert not h.traceback_in(out), out
    assert again.position_id == held.position_id and not again.halted
    assert again.stop == held.stop  # the same level, placed again


def test_a_price_through_the_stop_during_a_break_exits_at_market_once_trading(sim_dir):
    with paused_market(sim_dir, [A]) as (sim, config, db):
        proc = h.start_engine(config)
        try:
            held = first_stop(sim, db)  # stop 95, limit 94.52
            status(sim, "BREAK", expire=True)
            engine.wait_for(lambda: unprotected(config, A) == 1, what="seen unprotected")
            sim.price(A, "90")  # no trades meanwhile; trading resumes at 90
            status(sim, "TRADING")
            closed = engine.wait_for(lambda: (p := engine.read(
                db, lambda r: r.load_position(held.position_id)))
                and p.state is PositionState.FLAT and p, timeout=BOUND_S, what="sold at market")
            engine.wait_for(lambda: unprotected(config, A) == 0, timeout=10, what="gauge 0")
        finally:
            out = h.stop_engine(proc)

    assert not h.traceback_in(out), out
    assert (closed.exit_reason, closed.exit_price, closed.halted) == ("stop", D(90), False)


def test_held_coins_whose_stop_would_break_notional_are_left_alone_and_shown(sim_dir):
    # 0.000105 BTC at 50000 is worth 5.25 (>= NOTIONAL 5), but its stop's limit (5 % trail,
    # 0.5 % offset: 47262.50) makes 4.96: adopting it would mean selling it.
    adopt = {"trail_pct": "5", "limit_offset_pct": "0.5", "entry": "adopt"}
    with paused_market(sim_dir, ["BTCUSDT"], "--balance", "USDT=1000",
                       "--balance", "BTC=0.000105", defaults=adopt) as (sim, config, db):
        proc = h.start_engine(config)
        try:
            drive(sim, {"BTCUSDT": "50000"}, lambda: metric(
                config, "ratchet_adopt_skipped", symbol="BTCUSDT") == 1,
                what="the holding shown as skipped")
            orders = h.ours(sim.orders())
            positions = h.open_positions(db)
        finally:
            out = h.stop_engine(proc)

    assert not h.traceback_in(out), out
    assert orders == [] and positions == {}  # nothing bought, nothing sold, nothing adopted
