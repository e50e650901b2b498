"""Which kind of stop a pair keeps (DESIGN.md §3b): pure, from its settings and its symbol's
filters.

- ``replace``: Ratchet trails the stop itself, one cancelReplace per move (§3).
- ``native``: one STOP_LOSS_LIMIT with ``trailingDelta = trail_pct × 100`` basis points and no
  stop price; Binance trails it, Ratchet never moves it. The delta must be an integer inside
  the symbol's TRAILING_DELTA filter and ``activation_pct`` must be 0, else the pair is a
  config error (``ConfigError`` naming it).
- ``auto``: ``native`` where those conditions hold, ``replace`` otherwise; ``choose`` says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.errors import ConfigError
from core.types import PairSettings, StopMode, SymbolFilters

BIPS_PER_PCT = Decimal(100)


@dataclass(frozen=True, slots=True, kw_only=True)
class StopChoice:
    """The resolved mode: ``delta`` in basis points for a native stop, ``None`` for replace;
    ``reason`` says why (for ``auto``, which one was taken)."""

    delta: int | None
    reason: str

    @property
    def native(self) -> bool:
        return self.delta is not None


def trail_delta(trail_pct: Decimal) -> int | None:
    """``trail_pct × 100`` as an integer number of basis points, or None if it is not one."""
    bips = trail_pct * BIPS_PER_PCT
    return int(bips) if bips == bips.to_integral_value() else None


def native_problem(settings: PairSettings, filters: SymbolFilters) -> str | None:
    """Why this pair cannot keep a native trailing stop, or None when it can."""
    if settings.activation_pct != 0:
        return f"activation_pct is {settings.activation_pct} (a native stop needs 0)"
    delta = trail_delta(settings.trail_pct)
    if delta is None:
        return (f"trail_pct {settings.trail_pct} × 100 is not a whole number of basis points "
                "(trailingDelta)")
    low, high = filters.min_trailing_delta, filters.max_trailing_delta
    if not low <= delta <= high:
        return (f"trail_pct {settings.trail_pct} is {delta} basis points, outside the "
                f"symbol's TRAILING_DELTA filter [{low}, {high}]")
    return None


def choose(settings: PairSettings, filters: SymbolFilters) -> StopChoice:
    """The pair's stop kind; ``ConfigError`` for ``native`` where it cannot be."""
    mode = settings.stop_mode
    if mode is StopMode.REPLACE:
        return StopChoice(delta=None, reason='stop_mode = "replace"')
    problem = native_problem(settings, filters)
    if mode is StopMode.NATIVE:
        if problem is not None:
            raise ConfigError(f'{settings.symbol}: stop_mode = "native" is not possible: '
                              f"{problem}")
        return StopChoice(delta=trail_delta(settings.trail_pct), reason='stop_mode = "native"')
    if problem is not None:
        return StopChoice(delta=None, reason=f'stop_mode = "auto": replace, since {problem}')
    delta = trail_delta(settings.trail_pct)
    return StopChoice(delta=delta, reason=f'stop_mode = "auto": native, trailingDelta {delta} '
                      "fits the symbol's TRAILING_DELTA filter")


def native_delta(settings: PairSettings, filters: SymbolFilters) -> int | None:
    """``choose(...).delta``: the trailing delta of a native pair, None for replace."""
    return choose(settings, filters).delta
