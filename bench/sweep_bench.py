"""Sweep benchmark (issue 13): the whole bundled BTC file (180,124 prices) swept over 20
combinations (trail_pct 1,2,3,4,5 × min_move_pct 0.1,0.2,0.5,1) by ``cli.sweep.run_sweep``,
one worker process per CPU.

- ``sweep_combinations_per_s``: combinations / wall time of the whole sweep (reading the file
  once is not included; each worker gets the parsed prices). Baseline: the same code with
  ``jobs=1`` (in this process) over the first ``baseline_combinations`` combinations, so the
  ratio is the speed-up from the worker processes.
- ``sweep_seconds``: the wall time of the 20 combinations (the issue asks for well under a
  minute).

``RATCHET_BENCH_QUICK=1`` sweeps a 20,000-price slice over 4 combinations (a smoke run).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bench import emit, run_in_workdir
from cli.sweep import combinations, run_sweep
from core.prices import read_prices
from core.types import PairSettings

BENCH = "sweep"
BTC_CSV = Path(__file__).resolve().parent.parent / "data" / "btc-1m.csv.gz"


@dataclass(frozen=True, slots=True)
class Sizes:
    prices: int | None = None  # None: the whole file
    trail_pct: tuple[str, ...] = ("1", "2", "3", "4", "5")
    min_move_pct: tuple[str, ...] = ("0.1", "0.2", "0.5", "1")
    baseline_combinations: int = 4


QUICK = Sizes(prices=20_000, trail_pct=("1", "3"), min_move_pct=("0.1", "0.5"),
              baseline_combinations=2)


def run(sizes: Sizes, workdir: Path) -> list[dict]:
    points = read_prices(BTC_CSV)
    if sizes.prices is not None:
        points = points[: sizes.prices]
    grid = {"trail_pct": tuple(Decimal(v) for v in sizes.trail_pct),
            "min_move_pct": tuple(Decimal(v) for v in sizes.min_move_pct)}
    base = PairSettings(symbol="BTCUSDT")
    n = len(combinations(grid))
    jobs = os.cpu_count() or 1

    t0 = time.perf_counter()
    cells = run_sweep(points, base, grid, jobs=jobs)
    parallel_s = time.perf_counter() - t0

    # The first few trail_pct values at the first min_move_pct, one after the other here.
    baseline_grid = {"trail_pct": grid["trail_pct"][:sizes.baseline_combinations],
                     "min_move_pct": grid["min_move_pct"][:1]}
    t0 = time.perf_counter()
    serial = run_sweep(points, base, baseline_grid, jobs=1)
    serial_s = time.perf_counter() - t0
    same = all(c.pnl == next(x for x in cells if x.values == c.values).pnl for c in serial)

    records = [
        emit(bench=BENCH, metric="sweep_combinations_per_s", value=n / parallel_s,
             unit="combinations/s", baseline=len(serial) / serial_s, better="higher",
             combinations=n, prices=len(points), jobs=jobs,
             baseline_note=f"jobs=1 over {len(serial)} combinations", same_pnl=same),
        emit(bench=BENCH, metric="sweep_seconds", value=parallel_s, unit="s",
             baseline=n * serial_s / len(serial), better="lower", combinations=n, jobs=jobs,
             baseline_note="jobs=1, extrapolated from the baseline combinations"),
    ]
    return records


def main() -> None:
    run_in_workdir("sweep", run, Sizes(), QUICK)
