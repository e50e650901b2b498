"""Stops that keep up under the order budget (issue 14): ``python -m bench budget``.

500 pairs, each replaying a different one-day stretch of the bundled BTC file (their starts
spread evenly over its 31 days) at 60× speed, against the sim with Binance's default order
limits (100 orders per 10 s, 200,000 a day), the engine in binance mode: python-binance over
HTTP on loopback with its user-data stream, a real Gateway, real PairActors, a real DBWriter.
Run twice on the same prices: the Gateway's plain FIFO of stop moves (``move_order="fifo"``),
then its widest-gap-first budget (``"widest"``, the default).

**How prices get in.** 500 symbols at 60× is 2,000 prices a second, far more than HTTP control
calls carry. So the sim runs in this process with no price path of its own, and one driver
thread gives each price first to the sim's book (``venue.on_price``: stops trigger and fill,
user-data events go out) and then to the pair's feed slot (``actors.feed.deliver``), every
pair's step ``k`` at ``k × 15 s`` of market time (a bar's four prices spread over its minute).
Orders still go to the sim over HTTP through python-binance, and every fill and cancel comes
back on the user-data websocket. Details in ``bench/budget_fleet.py``.

**Positions.** Each pair holds a position from its stretch's first price, seeded as after a
restart (its stop resting on the sim, its rows in the DB, confirmed open by reconciliation).
``entry = none``: a pair whose stop fills stays flat, so the runs send only stop moves (and a
market sell after a stop-fill timeout), never a buy.

**Settings.** ``trail_pct = 5`` and ``min_move_pct = 0.02``, other §3 settings at their
defaults. With the defaults (3 and 0.2) the §3 reference wants 1.8 stop moves a second on
average across the 500 pairs, a fifth of the budget, so the budget would hardly ever bind;
with these it wants 5.2 a second on average, more than the 90 a 10 s window allows in about one
window in ten, and every pair wants moves at once at the start.

**Figures**, per run:
- ``orders_sent``: order requests the sim received (POST ``order`` and ``cancelReplace``);
  baseline: the stop moves the §3 reference makes on the same prices (no budget);
- ``rate_limited``: 429s the adapter saw (codes 429, -1015, -1003); the target is 0;
- ``stop_gap_mean_bp`` and ``stop_gap_p99_bp``: each pair's time-averaged gap between its live
  stop (the stop order open on the sim's book) and the §3 reference's stop at the same market
  time, in basis points; the mean and the 99th percentile (nearest rank) over the pairs.
  FIFO's baseline is a stop never moved from where it was placed; widest-gap-first's baseline
  is FIFO's figure from the same run. These lines also carry ``longest_behind_p99_min`` and
  ``_max_min``: per pair, the longest market time its live stop stayed more than one
  ``min_move`` off the §3 stop (more than the two stops' own hysteresis explains), so how long
  its moves waited at the Gateway; and ``p99_pairs_minutes_sampled``, how long the pairs at and
  above the p99 were sampled.

Nothing is asserted: widest-gap-first should beat FIFO on the p99 gap with no 429, and the
README says whether it did. ``RATCHET_BENCH_QUICK=1``: 50 pairs, one hour of market time.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from bench import emit, run_in_workdir
from bench.budget_fleet import (
    ORDER_REQUESTS,
    REPLACE_REQUESTS,
    Drive,
    Reference,
    Stretch,
    drive,
    engine,
    never_moved,
    reference,
    stretches,
)
from core.prices import read_prices
from core.types import EntryMode, PairSettings
from exchange.sim.server import SimConfig

BENCH = "budget"
DATA = Path(__file__).resolve().parent.parent / "data" / "btc-1m.csv.gz"
TICK = SimConfig.tick
ORDERS_10S = SimConfig.orders_10s  # the sim's default: Binance's
ORDERS_1D = SimConfig.orders_1d
MODES = ("fifo", "widest")
T = TypeVar("T", Decimal, float)


@dataclass(frozen=True, slots=True)
class Sizes:
    pairs: int = 500
    minutes: int = 1440
    speed: float = 60.0
    trail_pct: str = "5"
    min_move_pct: str = "0.02"

    def settings(self) -> PairSettings:
        return PairSettings(symbol="*", trail_pct=Decimal(self.trail_pct),
                            min_move_pct=Decimal(self.min_move_pct), entry=EntryMode.NONE)


QUICK = Sizes(pairs=50, minutes=60)


@dataclass(frozen=True, slots=True)
class Run:
    """One run's figures."""

    move_order: str
    drive: Drive
    orders_sent: int
    stop_moves: int
    rate_limited: int
    errors: dict[str, int]
    gap_mean: Decimal
    gap_p99: Decimal


def percentile(values: Sequence[T], q: int) -> T:
    """The nearest-rank ``q``-th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered) / 100) - 1)]


def measure(sizes: Sizes, workdir: Path, runs: Sequence[Stretch], refs: Sequence[Reference],
            move_order: str) -> Run:
    with engine(workdir / move_order, runs, sizes.settings(), move_order) as eng:
        before = eng.requests()
        driven = drive(eng, runs, refs, sizes.speed, slack_bp=Decimal(sizes.min_move_pct) * 100)
        after = eng.requests()
        rate_limited, errors = eng.counter.rate_limited, dict(eng.counter.errors)
    sent = {k: after.get(k, 0) - before.get(k, 0) for k in ORDER_REQUESTS}
    gaps = driven.time_averaged()
    return Run(move_order=move_order, drive=driven, orders_sent=sum(sent.values()),
               stop_moves=sent[REPLACE_REQUESTS], rate_limited=rate_limited, errors=errors,
               gap_mean=sum(gaps, Decimal(0)) / len(gaps), gap_p99=percentile(gaps, 99))


def figures(sizes: Sizes, run: Run, refs: Sequence[Reference], baseline: Run | None) -> list[dict]:
    """The four lines of one run. ``baseline``: the run to compare with (None: FIFO's own)."""
    d = run.drive
    still = never_moved(refs)
    still_mean, still_p99 = sum(still, Decimal(0)) / len(still), percentile(still, 99)
    common = {
        "move_order": run.move_order, "pairs": sizes.pairs, "minutes": sizes.minutes,
        "speed": sizes.speed, "trail_pct": sizes.trail_pct, "min_move_pct": sizes.min_move_pct,
        "limit": f"ORDERS {ORDERS_10S} / 10 s, {ORDERS_1D} / day (Gateway keeps 10% headroom)",
        "wall_s": d.wall_s, "market_speed": sizes.minutes * 60 / d.wall_s,
        "lateness_p99_s": percentile(d.lateness, 99), "lateness_max_s": max(d.lateness),
        "load_1m_mean": statistics.fmean(d.loads), "load_1m_max": max(d.loads),
        "load_1m": os.getloadavg()[0],
    }
    if baseline is None:
        gap_baselines = (still_mean, still_p99)
        baseline_is = "a stop never moved from where it was placed"
    else:
        gap_baselines = (baseline.gap_mean, baseline.gap_p99)
        baseline_is = f"move_order={baseline.move_order}, same prices"
    gap_extra = {
        **common, "baseline_is": baseline_is,
        "pairs_sampled": sum(1 for n in d.samples if n), "samples": sum(d.samples),
        "samples_without_live_stop": sum(d.missing),
        "worst_gap_bp": float(d.worst_gap),  # display
        "longest_behind_p99_min": percentile(d.longest_behind_min(), 99),
        "longest_behind_max_min": max(d.longest_behind_min()),
        "never_moved_mean_bp": float(still_mean), "never_moved_p99_bp": float(still_p99),  # display
    }
    return [
        _emit(metric="orders_sent", value=run.orders_sent, unit="orders",
              baseline=sum(r.moves for r in refs), better="lower", **common,
              baseline_is="stop moves of the §3 reference, no budget",
              stop_moves=run.stop_moves,
              orders_limit_for_wall_s=int(ORDERS_10S * d.wall_s / 10)),
        _emit(metric="rate_limited", value=run.rate_limited, unit="429s", baseline=None,
              better="lower", target=0, errors=run.errors, **common),
        _emit(metric="stop_gap_mean_bp", value=float(run.gap_mean), unit="bp",  # display
              baseline=float(gap_baselines[0]), better="lower", **gap_extra),  # display
        _emit(metric="stop_gap_p99_bp", value=float(run.gap_p99), unit="bp",  # display
              baseline=float(gap_baselines[1]), better="lower", **gap_extra,  # display
              p99_pairs_minutes_sampled=d.minutes_sampled_from(99)),
    ]


def _emit(**fields) -> dict:
    return emit(bench=BENCH, **fields)


def run(sizes: Sizes, workdir: Path) -> list[dict]:
    runs = stretches(read_prices(DATA), sizes.pairs, sizes.minutes)
    settings = sizes.settings()
    refs = [reference(s, settings, TICK) for s in runs]
    records: list[dict] = []
    fifo = measure(sizes, workdir, runs, refs, "fifo")
    records += figures(sizes, fifo, refs, baseline=None)
    widest = measure(sizes, workdir, runs, refs, "widest")
    records += figures(sizes, widest, refs, baseline=fifo)
    return records


def main() -> None:
    run_in_workdir(BENCH, run, Sizes(), QUICK)


if __name__ == "__main__":
    main()
