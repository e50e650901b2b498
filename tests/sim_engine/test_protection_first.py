"""Under the order budget, protection comes first (issue 27): 50 pairs at 10 orders per 10 s,
every stop fills at once and every pair buys again. Sampled the whole time, no position holds
coins with no stop for longer than one order window and the round trip, and the venue never
answers 429: entries wait for room for their stop, stops never wait behind entries."""

from __future__ import annotations

import time
from decimal import Decimal

from bench.sim_fleet import Fleet
from tests.sim_engine import harness as h
from tests.sim_engine.live import metric

PAIRS = 50
WINDOW_S = 10
ROUND_TRIP_S = 2
WATCH_S = 35  # three windows and more of re-entries
SETTINGS = {"trail_pct": "5", "limit_offset_pct": "0.5", "quote_per_trade": "50",
            "stop_fill_timeout_s": "600"}


def bare_positions(sim) -> set[str]:
    """Positions (by the position part of their client ids) whose BUY filled on the sim and
    that have neither an open stop nor a sale there: coins held with no stop."""
    bought, covered = set(), set()
    for o in h.ours(sim.orders()):
        pid = o["clientOrderId"].split("-")[1]
        if o["side"] == "BUY" and o["status"] == "FILLED":
            bought.add(pid)
        elif o["side"] == "SELL" and (o["status"] in ("NEW", "PARTIALLY_FILLED")
                                      or o["status"] == "FILLED"):
            covered.add(pid)
    return bought - covered


def test_a_mass_stop_out_and_re_entry_never_leaves_coins_bare_past_a_window(sim_dir):
    fleet = Fleet(size=PAIRS)
    sim = h.start_sim(sim_dir, *fleet.sim_args(), "--orders-10s", "10")
    proc = None
    try:
        db = sim_dir / "ratchet.db"
        fleet.prepare(db, sim)
        config = h.write_config(sim_dir, sim.url, fleet.symbols, defaults=SETTINGS)
        proc = h.start_engine(config)
        h.settled(db, sim, fleet.symbols, timeout=60)
        for symbol in fleet.symbols:  # every stop (95 / 94.52) fills at once at 94.8
            sim.price(symbol, "94.8")
        bare_since: dict[str, float] = {}
        longest = 0.0
        started = time.monotonic()
        while time.monotonic() - started < WATCH_S:
            for symbol in fleet.symbols:  # prices keep coming: the pairs buy again
                sim.price(symbol, "94.8")
            now = time.monotonic()
            bare = bare_positions(sim)
            for pid in bare:
                bare_since.setdefault(pid, now)
            for pid in list(bare_since):
                if pid not in bare:
                    longest = max(longest, now - bare_since.pop(pid))
            longest = max([longest, *(now - t for t in bare_since.values())])
            time.sleep(0.5)
        rebought = {o["clientOrderId"].split("-")[1] for o in h.ours(sim.orders())
                    if o["side"] == "BUY" and o["status"] == "FILLED"}
        limited = sum(metric(config, "ratchet_exchange_errors_total", code=code) or 0
                      for code in ("429", "-1015", "-1003"))
        waited = metric(config, "ratchet_protection_wait_seconds_count")
    finally:
        out = h.stop_engine(proc) if proc is not None else ""
        sim.stop()

    assert not h.traceback_in(out), out[-3000:]
    assert len(rebought) >= 8  # the budget let pairs buy again meanwhile
    assert longest <= WINDOW_S + ROUND_TRIP_S, longest
    assert limited == 0
    assert waited is not None and Decimal(str(waited)) > 0
