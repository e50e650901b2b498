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


def bare_seconds(sim) -> dict[str, float]:
    """Per position bought again, how long its coins had no stop, on the sim's own clock: from
    its BUY's fill to its first SELL order (the stop, or a sale), or to now if none yet."""
    orders = h.ours(sim.orders())
    now_ms = sim.info()["server_time"]
    bought = {o["clientOrderId"].split("-")[1]: o["updateTime"] for o in orders
              if o["side"] == "BUY" and o["status"] == "FILLED"}
    covered: dict[str, int] = {}
    for o in orders:
        pid = o["clientOrderId"].split("-")[1]
        if o["side"] == "SELL" and pid in bought and o["time"] >= bought[pid]:
            covered[pid] = min(covered.get(pid, o["time"]), o["time"])
    return {pid: (covered.get(pid, now_ms) - at) / 1000 for pid, at in bought.items()}


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
        started = time.monotonic()
        while time.monotonic() - started < WATCH_S:
            for symbol in fleet.symbols:  # prices keep coming: the pairs buy again
                sim.price(symbol, "94.8")
            time.sleep(0.5)
        bare = bare_seconds(sim)
        longest = max(bare.values(), default=0.0)
        rebought = set(bare)
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
