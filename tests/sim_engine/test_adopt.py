"""Coins already held, in binance mode against the sim (``entry = "adopt"``, DESIGN.md §3b):
the sim's account holds 0.05 BTC; the engine protects 0.04 of it (``keep_qty`` 0.01) at its
first balance read, grows the stop by cancelReplace when coins arrive (the user stream's
``outboundAccountPosition``, long before the next scan), protects what is left when the stop is
canceled and part of the coins sold by hand (no halt: a pair never stops protecting coins),
never buys, and a kill -9 right after the adoption leaves exactly one stop after the
restart."""

from __future__ import annotations

import signal
from decimal import Decimal as D

from tests.integration import engine
from tests.sim_engine import harness as h
from tests.sim_engine.story import DEFAULTS, drive

SYM = "BTCUSDT"  # the sim starts it at 50000
ADOPT = {**DEFAULTS, "entry": "adopt", "keep_qty": "0.01"}  # adopt_scan_s: the default 60 s
HOLDING = ("--balance", "USDT=1000", "--balance", "BTC=0.05")


def stop_of(sim, qty: str):
    """Our one open order on the sim, once it is a stop for ``qty``."""
    on_sim = list(h.open_on_sim(sim).values())
    return on_sim[0] if len(on_sim) == 1 and D(on_sim[0]["origQty"]) == D(qty) else None


def buys(sim) -> list:
    return [o for o in h.ours(sim.orders()) if o["side"] == "BUY"]


def test_held_coins_protected_grown_and_what_a_sale_by_hand_leaves_protected(sim_dir):
    sim = h.start_sim(sim_dir, "--symbols", SYM, *HOLDING, *h.UNLIMITED)
    try:
        sim.pause()
        config = h.write_config(sim_dir, sim.url, [SYM], defaults=ADOPT)
        db = sim_dir / "ratchet.db"
        proc = h.start_engine(config)
        try:
            first = drive(sim, {SYM: "50000"}, lambda: stop_of(sim, "0.04"), timeout=40,
                          what="0.04 BTC protected")
            position = h.open_positions(db)[SYM]
            sim.control("POST", "/sim/balance", {"asset": "BTC", "free": "0.04"})  # +0.03
            grown = engine.wait_for(lambda: stop_of(sim, "0.07"), timeout=15,
                                    what="the stop grown by the stream's balance update")
            topped = engine.wait_for(lambda: (p := h.open_positions(db)[SYM]).qty == D("0.07")
                                     and p, timeout=10, what="the position at 0.07")
            # By hand: the stop is canceled and 0.05 BTC sold, while new stops are held back.
            sim.control("POST", "/sim/block", {"symbol": SYM, "kind": "429"})
            sim.control("POST", "/sim/cancel", {"symbol": SYM,
                                                "origClientOrderId": grown["clientOrderId"]})
            sim.control("POST", "/sim/order", {"symbol": SYM, "type": "MARKET", "side": "SELL",
                                               "quantity": "0.05",
                                               "newClientOrderId": "by-hand-1"})
            sim.control("POST", "/sim/block", {"symbol": SYM, "kind": None})
            rest = engine.wait_for(lambda: stop_of(sim, "0.02"), timeout=30,
                                   what="the 0.02 BTC left under a stop")
            shrunk = engine.wait_for(lambda: (p := h.open_positions(db)[SYM]).qty == D("0.02")
                                     and p, timeout=10, what="the position at 0.02")
        finally:
            out = h.stop_engine(proc)
        assert proc.returncode == 0, out
        bought = buys(sim)
    finally:
        sim.stop()

    assert (position.entry_kind, position.entry_price, position.qty) == (
        "adopted", D(50000), D("0.04"))
    assert D(first["stopPrice"]) == D(47500)  # a 5 % trail under 50000
    assert (D(grown["stopPrice"]), grown["price"]) == (D(first["stopPrice"]), first["price"])
    assert topped.entry_price == D(50000) and topped.stop_moves == 0
    assert (shrunk.sold_outside, shrunk.halted, shrunk.stop_order_id) == (
        D("0.05"), False, rest["clientOrderId"])
    assert D(rest["stopPrice"]) == D(first["stopPrice"])  # the same level, for what is left
    assert bought == []


def test_kill_9_right_after_adoption_leaves_exactly_one_stop_after_restart(sim_dir):
    sim = h.start_sim(sim_dir, "--symbols", SYM, *HOLDING, *h.UNLIMITED)
    try:
        sim.pause()
        config = h.write_config(sim_dir, sim.url, [SYM], defaults=ADOPT)
        db = sim_dir / "ratchet.db"
        proc = h.start_engine(config)
        try:
            drive(sim, {SYM: "50000"}, lambda: h.open_positions(db), timeout=40,
                  what="the adopted position written ahead")
        finally:
            h.stop_engine(proc, signal.SIGKILL)
        proc = h.start_engine(config)
        try:
            engine.wait_for(lambda: "ratchet: binance mode" in (
                sim_dir / "engine.log").read_text(), timeout=40, what="the restart's boot")
            positions = drive(sim, {SYM: "50000"}, lambda: h.protected(db, sim, [SYM]),
                              timeout=40, what="protected after the restart")
            settled = h.settled(db, sim, [SYM])
        finally:
            out = h.stop_engine(proc)
        assert proc.returncode == 0, out
        on_sim = h.open_on_sim(sim)
        bought = buys(sim)
    finally:
        sim.stop()

    assert settled == positions
    assert list(on_sim) == [positions[SYM].stop_order_id]
    assert D(on_sim[positions[SYM].stop_order_id]["origQty"]) == D("0.04")
    assert bought == []
