"""Stop modes (issue 12) on the whole BTC file, at the §3 defaults (trail 3 %: native
``trailingDelta`` 300): what each costs in orders and how far its live stop sits from §3's
ideal one.

- ``orders_per_position_hour``, one line per mode, each beside the naive engine
  (``bench.engine_bench.naive_engine``: a cancelReplace on every new high that raises the
  stop):
  - ``native``: ``actors.replay.run_replay`` lock-step through the actors and the paper
    exchange, checked equal to ``core.backtest.simulate`` over the same rules
    (``matches_backtest``);
  - ``replace``: ``core.backtest.simulate`` (``bench.engine_bench`` times the replay it equals).
- ``stop_gap_bps``, one line per mode (native, replace, naive): the average, over every price
  that ends with a position open, of ``(ideal − live) / ideal × 10,000`` where ``ideal`` is
  §3's stop without a minimum move, ``floor_tick(highest × (1 − trail_pct/100))`` with
  ``highest`` every price since the entry, and ``live`` the level the stop triggers at: its
  stop price (replace, naive), or the venue's exact ``peak × (1 − delta/10000)`` (native;
  the entry price itself, before the venue tracks, is left out). Positive: below the ideal.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

from actors.replay import run_replay
from bench import emit, run_in_workdir
from bench.engine_bench import BTC_CSV, NaiveResult, naive_engine, position_hours
from core.backtest import simulate
from core.prices import PricePoint, read_prices
from core.stop_mode import trail_delta
from core.symbols import paper_filters
from core.trailing import candidate_stop
from core.types import PairSettings, StopMode

BENCH = "stops"
BIPS = Decimal(10_000)
NAIVE = "naive: replace on every new high"


@dataclass(frozen=True, slots=True)
class Sizes:
    prices: int | None = None  # None: the whole file


QUICK = Sizes(prices=2000)


class Gap:
    """The running average of the live stop's distance below the ideal one, in basis points."""

    def __init__(self, settings: PairSettings) -> None:
        self.trail_pct = settings.trail_pct
        self.tick = paper_filters(settings).tick
        self.total = Decimal(0)
        self.count = 0

    def __call__(self, point: PricePoint, highest: Decimal, live: Decimal | None) -> None:
        if live is None:
            return
        ideal = candidate_stop(highest, trail_pct=self.trail_pct, tick=self.tick)
        self.total += (ideal - live) / ideal * BIPS
        self.count += 1

    @property
    def bps(self) -> float:
        return float(self.total / self.count) if self.count else 0.0  # display


def _emit(**fields) -> dict:
    return emit(bench=BENCH, **fields, load_1m=os.getloadavg()[0])


def _churn(mode: str, orders: int, moves: int, trades: list[dict], naive: NaiveResult,
           times: dict[str, Decimal], **extra) -> dict:
    hours = position_hours(trades, times)
    naive_hours = position_hours(naive.trades, times)
    return _emit(metric="orders_per_position_hour", mode=mode,
                 value=orders / hours if hours else 0.0, unit="orders/h",
                 baseline=naive.orders_sent / naive_hours if naive_hours else 0.0,
                 baseline_name=NAIVE, better="lower", orders_sent=orders, stop_moves=moves,
                 trades=len(trades), position_hours=hours,
                 baseline_orders_sent=naive.orders_sent, **extra)


def run_modes(points: Sequence[PricePoint], settings: PairSettings) -> list[dict]:
    native = replace(settings, stop_mode=StopMode.NATIVE)
    filters = paper_filters(settings)
    gaps = {mode: Gap(settings) for mode in ("native", "replace", "naive")}
    naive = naive_engine(points, settings, observe=gaps["naive"])
    replaced = simulate(points, replace(settings, stop_mode=StopMode.REPLACE), filters,
                        observe=gaps["replace"])
    reference = simulate(points, native, filters, observe=gaps["native"])
    replayed = run_replay(points, native)
    times = {p.time: p.ts for p in points}
    records = [
        _churn("native", replayed.orders_sent, replayed.stop_moves, replayed.trades, naive,
               times, engine="actors.replay", trailing_delta=trail_delta(settings.trail_pct),
               prices=len(points),
               matches_backtest=replayed.to_report() == reference.to_report()),
        _churn("replace", replaced.orders_sent, replaced.stop_moves,
               [t.to_json() for t in replaced.trades], naive, times,
               engine="core.backtest.simulate", min_move_pct=str(settings.min_move_pct)),
    ]
    for mode in ("native", "replace", "naive"):
        records.append(_emit(
            metric="stop_gap_bps", mode=mode, value=gaps[mode].bps, unit="bps",
            baseline=None if mode == "naive" else gaps["naive"].bps,
            baseline_name=None if mode == "naive" else NAIVE, better="lower",
            prices_in_position=gaps[mode].count,
            ideal="floor_tick(highest × (1 − trail_pct/100)), highest since entry"))
    return records


def run(sizes: Sizes, workdir: Path) -> list[dict]:
    points = read_prices(BTC_CSV)
    if sizes.prices is not None:
        points = points[:sizes.prices]
    return run_modes(points, PairSettings(symbol="BTCUSDT"))


def main() -> None:
    run_in_workdir("stops", run, Sizes(), QUICK)


if __name__ == "__main__":
    main()
