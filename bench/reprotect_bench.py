"""Re-protecting many positions at boot inside the venue's limits (issue 24).

Every one of ``size`` open positions lost its stop while the engine was down (canceled on the
sim), so boot reconciliation must place ``size`` stops. The sim runs with its default limits
(ORDERS 100 per 10 s, REQUEST_WEIGHT 6,000 a minute) at ``latency_ms`` a request, through a real
``BinanceExchange`` (python-binance over loopback), a real DBWriter and the one recovery path.
Printed:

- ``reprotect_s``: from the start of reconciliation until every position's stop is placed,
  beside the floor the ORDERS limit sets (``size`` orders at ``limit`` per 10 s, whole windows);
- ``rate_limited`` (429s) and ``banned`` (418s) answered meanwhile: both must be 0; the order
  pacer waits instead (``pacer_wait_s``).

``RATCHET_BENCH_QUICK=1``: 100 positions at 20 orders per 10 s.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from actors import recovery
from actors.db_writer import DBWriter
from bench import emit, run_in_workdir
from bench import sim_harness as harness
from bench.budget_fleet import VenueCounter
from bench.sim_fleet import Fleet

BENCH = "reprotect"
HEADROOM = 0.9  # the pacer's share of each ORDERS window (exchange.binance.gate)


@dataclass(frozen=True, slots=True)
class Sizes:
    positions: int = 1000
    orders_10s: int = 100  # the sim's default ORDERS limit
    latency_ms: int = 20


QUICK = Sizes(positions=100, orders_10s=20)


class BanCounter(VenueCounter):
    """The adapter's errors, and how many times it was banned (418)."""

    def __init__(self) -> None:
        super().__init__()
        self.bans = 0

    def banned(self, on: bool) -> None:
        self.bans += on


@dataclass(frozen=True, slots=True)
class Outcome:
    seconds: float
    rate_limited: int
    banned: int
    placed: int
    protected: int
    pacer_wait_s: float


def reprotect(sizes: Sizes, directory: Path) -> Outcome:
    """Boot reconciliation of ``sizes.positions`` positions whose stops are all gone."""
    fleet = Fleet(size=sizes.positions, canceled=sizes.positions)
    sim = harness.start_sim(directory, *fleet.sim_args(), "--orders-10s", str(sizes.orders_10s),
                            latency_ms=sizes.latency_ms)
    writer = None
    try:
        db_path = directory / "ratchet.db"
        fleet.prepare(db_path, sim)
        counter = BanCounter()
        exchange = sim.exchange(key=harness.API_KEY, secret=harness.API_SECRET,
                                symbols=fleet.symbols, timeout_s="10", metrics=counter)
        filters = {s: exchange.symbol_filters(s) for s in fleet.symbols}  # one exchangeInfo
        writer = DBWriter.start(db_path)
        sim.reset_requests()
        started = time.perf_counter()
        recovery.reconcile_with_db(exchange, writer,
                                   settings={s: fleet.settings(s) for s in fleet.symbols},
                                   filters=filters, prefix="rt")
        seconds = time.perf_counter() - started
        placed = sim.requests().get(harness.ORDER_POST, 0)
        protected = len(harness.open_on_sim(sim))
        return Outcome(seconds=seconds, rate_limited=counter.rate_limited, banned=counter.bans,
                       placed=placed, protected=protected, pacer_wait_s=exchange.pacer.waited_s)
    finally:
        if writer is not None:
            writer.stop()
        sim.stop()


def run(sizes: Sizes, workdir: Path) -> None:
    outcome = reprotect(sizes, workdir)
    per_window = max(1, int(sizes.orders_10s * HEADROOM))
    floor_s = (math.ceil(sizes.positions / sizes.orders_10s) - 1) * 10.0
    emit(bench=BENCH, metric="reprotect_s", value=outcome.seconds, unit="s",
         baseline=floor_s or None, better="lower", positions=sizes.positions,
         orders_10s=sizes.orders_10s, per_window=per_window, latency_ms=sizes.latency_ms,
         placed=outcome.placed, protected=outcome.protected,
         rate_limited=outcome.rate_limited, banned=outcome.banned,
         pacer_wait_s=outcome.pacer_wait_s)


def main() -> None:
    run_in_workdir(BENCH, run, Sizes(), QUICK)


if __name__ == "__main__":
    main()
