"""The fill model of one STOP_LOSS_LIMIT SELL (DESIGN.md §3), shared by the paper exchange,
the sim server and the backtest.

- It triggers on the first price ``p <= stop``; on that same price it fills at ``p`` if
  ``p >= limit``.
- Otherwise it rests as a limit order and fills at ``limit`` on the first later price
  ``>= limit`` ("later" includes the other prices of the same bar).
- ``timed_out`` says when the PairActor gives up on a triggered, unfilled stop and sells at
  market.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class StopState:
    """A stop order's prices, and the timestamp (epoch seconds) of the price that triggered it."""

    stop: Decimal
    limit: Decimal
    triggered_ts: Decimal | None = None

    @property
    def triggered(self) -> bool:
        return self.triggered_ts is not None


@dataclass(frozen=True, slots=True)
class StopMatch:
    """The stop after one price, and the fill price if that price filled it."""

    state: StopState
    fill_price: Decimal | None


def match_stop(state: StopState, price: Decimal, ts: Decimal) -> StopMatch:
    """Match one price against the stop."""
    if state.triggered_ts is None:
        if price > state.stop:
            return StopMatch(state=state, fill_price=None)
        triggered = replace(state, triggered_ts=ts)
        return StopMatch(state=triggered, fill_price=price if price >= state.limit else None)
    if price >= state.limit:
        return StopMatch(state=state, fill_price=state.limit)
    return StopMatch(state=state, fill_price=None)


def timed_out(state: StopState, ts: Decimal, timeout_s: Decimal) -> bool:
    """Whether a triggered, unfilled stop has waited ``timeout_s`` or more by price time ``ts``."""
    return state.triggered_ts is not None and ts - state.triggered_ts >= timeout_s
