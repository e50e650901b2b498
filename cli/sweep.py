"""The parameter sweep behind ``ratchet sweep``: every combination of a grid of §3 settings run
on the pure core (``core.backtest.simulate``, which the actor replay is proven equal to), across
worker processes.

Per combination (a ``Cell``), all Decimal:
- ``pnl``: the sum of the trades' P&L, the open position closed at the last price (§6);
- ``trades``, ``orders`` (orders sent) and ``stop_moves``, as ``ratchet replay`` reports them;
- ``max_drawdown``: the largest fall of cumulative realized P&L from its running peak (which
  starts at 0), trade by trade; intra-trade dips are not marked to market;
- ``time_in_market_pct``: the share of the data's time span spent in a position, from each
  trade's entry to its exit.

A grid value is checked exactly as the config checks it (a one-line ``ConfigError`` naming the
key), by parsing it as a ``[[pairs]]`` entry.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from core.backtest import BacktestResult, simulate
from core.config import paper_filters, parse_config
from core.errors import BelowMinNotional, ConfigError, InputError
from core.prices import PricePoint
from core.types import PairSettings

#: The §3 Decimal settings a grid may vary.
GRID_KEYS = ("trail_pct", "min_move_pct", "limit_offset_pct", "activation_pct",
             "quote_per_trade", "stop_fill_timeout_s", "fee_pct")
HUNDRED = Decimal(100)
Grid = dict[str, tuple[Decimal, ...]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Cell:
    values: tuple[tuple[str, Decimal], ...]
    pnl: Decimal
    trades: int
    orders: int
    stop_moves: int
    max_drawdown: Decimal
    time_in_market_pct: Decimal

    def value(self, key: str) -> Decimal:
        return dict(self.values)[key]


def parse_grid(items: Sequence[str], symbol: str) -> Grid:
    """``["trail_pct=1,2", "min_move_pct=0.1"]`` → ``{"trail_pct": (1, 2), ...}``, in order.
    Every problem is an ``InputError`` of one line."""
    if not items:
        raise InputError("--grid is required, e.g. --grid trail_pct=1,2,3")
    grid: Grid = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--grid {item!r}: expected KEY=V1,V2,... (e.g. trail_pct=1,2,3)")
        if key not in GRID_KEYS:
            raise InputError(f"--grid {key}: not a sweepable setting (one of: "
                             f"{', '.join(GRID_KEYS)})")
        if key in grid:
            raise InputError(f"--grid {key}: given twice")
        texts = [v.strip() for v in raw.split(",")]
        if not raw.strip() or any(not v for v in texts):
            raise InputError(f"--grid {item!r}: empty value")
        values = tuple(_checked(key, v, symbol) for v in texts)
        if len(set(values)) != len(values):
            raise InputError(f"--grid {key}: a value is repeated")
        grid[key] = values
    return grid


def combinations(grid: Mapping[str, Sequence[Decimal]]) -> list[tuple[tuple[str, Decimal], ...]]:
    """Every combination, the last grid axis varying fastest."""
    keys = list(grid)
    return [tuple(zip(keys, combo, strict=True))
            for combo in itertools.product(*(grid[k] for k in keys))]


def evaluate(points: Sequence[PricePoint], settings: PairSettings,
             times: Mapping[str, Decimal] | None = None) -> tuple[BacktestResult, dict[str, Any]]:
    """Simulate one combination; (the result, its table figures)."""
    result = simulate(points, settings, paper_filters(settings))
    times = times if times is not None else time_index(points)
    return result, {
        "pnl": result.total_pnl, "trades": len(result.trades), "orders": result.orders_sent,
        "stop_moves": result.stop_moves, "max_drawdown": max_drawdown(result),
        "time_in_market_pct": time_in_market_pct(result, points, times),
    }


def max_drawdown(result: BacktestResult) -> Decimal:
    peak = equity = worst = Decimal(0)
    for trade in result.trades:
        equity += trade.pnl
        peak = max(peak, equity)
        worst = max(worst, peak - equity)
    return worst


def time_in_market_pct(result: BacktestResult, points: Sequence[PricePoint],
                       times: Mapping[str, Decimal]) -> Decimal:
    if not points:
        return Decimal(0)
    span = points[-1].ts - points[0].ts
    if span <= 0:
        return Decimal(0)
    held = sum((times[t.exit_time] - times[t.entry_time] for t in result.trades), Decimal(0))
    return (held / span * HUNDRED).quantize(Decimal("0.01"))


def time_index(points: Iterable[PricePoint]) -> dict[str, Decimal]:
    """Each timestamp as the file spells it → its epoch seconds (trades carry the spelling)."""
    index: dict[str, Decimal] = {}
    for p in points:
        index.setdefault(p.time, p.ts)
    return index


def run_sweep(points: Sequence[PricePoint], base: PairSettings, grid: Grid, *,
              jobs: int | None = None) -> list[Cell]:
    """Every combination of ``grid`` over ``base``, on ``jobs`` worker processes (default: one
    per CPU; 1 runs here, in this process). Cells come back in ``combinations`` order."""
    combos = combinations(grid)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(combos)))
    if jobs == 1:
        _init(points, base)
        return [_cell(combo) for combo in combos]
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init,
                             initargs=(points, base)) as pool:
        return list(pool.map(_cell, combos))


# --- worker side ---------------------------------------------------------------------------

_POINTS: Sequence[PricePoint] = ()
_TIMES: dict[str, Decimal] = {}
_BASE: PairSettings | None = None


def _init(points: Sequence[PricePoint], base: PairSettings) -> None:
    """Each worker's prices (inherited under fork, pickled once under spawn)."""
    global _POINTS, _TIMES, _BASE
    _POINTS, _TIMES, _BASE = points, time_index(points), base


def _cell(combo: tuple[tuple[str, Decimal], ...]) -> Cell:
    assert _BASE is not None
    settings = replace(_BASE, **dict(combo))
    try:
        _, figures = evaluate(_POINTS, settings, _TIMES)
    except BelowMinNotional as exc:
        shown = " ".join(f"{k}={v}" for k, v in combo)
        raise InputError(f"sweep stopped at {shown}: {exc}") from None
    return Cell(values=combo, **figures)


def _checked(key: str, text: str, symbol: str) -> Decimal:
    """``text`` as the config reads ``key`` (the same checks, the same one-line message)."""
    try:
        cfg = parse_config(f'[[pairs]]\nsymbol = "{symbol}"\n{key} = "{text}"\n',
                           source="--grid", need_keys=False)
    except ConfigError as exc:
        reason = str(exc).removeprefix("--grid: ").replace("pairs[0].", "")
        raise InputError(f"--grid {key}={text}: {reason}") from None
    return getattr(cfg.pairs[0], key)
