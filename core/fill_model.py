"""The fill model of one STOP_LOSS_LIMIT SELL (DESIGN.md §3), shared by the paper exchange,
the sim server and the backtest, and the venue rule of a native trailing stop (§3b).

- It triggers on the first price ``p <= stop``; on that same price it fills at ``p`` if
  ``p >= limit``.
- Otherwise it rests as a limit order and fills at ``limit`` on the first later price
  ``>= limit`` ("later" includes the other prices of the same bar).
- ``timed_out`` says when the PairActor gives up on a triggered, unfilled stop and sells at
  market.
- A trailing SELL (``trailingDelta`` in basis points, ``match_trailing``) starts tracking on the
  first price after placement (or, with a stop price, on the first price that reaches it); that
  price is the ``peak``. On each later price ``p``: ``peak = max(peak, p)``, then it triggers if
  ``p <= peak × (1 − delta/10000)``, exactly. From the trigger on it is the triggered limit
  order above, at its fixed ``limit``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

BIPS = Decimal(10_000)


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


def timed_out(state: StopState | TrailingStop, ts: Decimal, timeout_s: Decimal) -> bool:
    """Whether a triggered, unfilled stop has waited ``timeout_s`` or more by price time ``ts``."""
    return state.triggered_ts is not None and ts - state.triggered_ts >= timeout_s


@dataclass(frozen=True, slots=True, kw_only=True)
class TrailingStop:
    """A trailing SELL stop-limit on the venue (``trailingDelta`` set).

    ``activation`` is the order's stop price, if it has one: tracking starts only once a price
    reaches it (``<=`` for a stop-loss, ``>=`` for a take-profit). Without one, tracking starts
    on the first price after placement (§3b). ``peak`` is ``None`` until tracking starts;
    ``tracking_ts`` and ``triggered_ts`` are the timestamps of the prices that started tracking
    and triggered it.
    """

    delta: int
    limit: Decimal
    activation: Decimal | None = None
    take_profit: bool = False
    peak: Decimal | None = None
    tracking_ts: Decimal | None = None
    triggered_ts: Decimal | None = None

    @property
    def triggered(self) -> bool:
        return self.triggered_ts is not None

    def trigger_price(self) -> Decimal | None:
        """The price at or below which the next price triggers it, while tracking."""
        return None if self.peak is None else trailing_trigger(self.peak, self.delta)


@dataclass(frozen=True, slots=True)
class TrailingMatch:
    """The trailing stop after one price, and the fill price if that price filled it."""

    state: TrailingStop
    fill_price: Decimal | None


def trailing_trigger(peak: Decimal, delta: int) -> Decimal:
    """``peak × (1 − delta/10000)``, exact: a price at or below it triggers the order."""
    return peak * (1 - Decimal(delta) / BIPS)


def match_trailing(state: TrailingStop, price: Decimal, ts: Decimal) -> TrailingMatch:
    """Match one price (later than the placement) against a trailing stop."""
    if state.triggered_ts is not None:
        fill = state.limit if price >= state.limit else None
        return TrailingMatch(state=state, fill_price=fill)
    if state.peak is None:
        if state.activation is not None and (
            price < state.activation if state.take_profit else price > state.activation
        ):
            return TrailingMatch(state=state, fill_price=None)
        return TrailingMatch(state=replace(state, peak=price, tracking_ts=ts), fill_price=None)
    peak = max(state.peak, price)
    if price <= trailing_trigger(peak, state.delta):
        triggered = replace(state, peak=peak, triggered_ts=ts)
        return TrailingMatch(state=triggered, fill_price=price if price >= state.limit else None)
    return TrailingMatch(state=state if peak == state.peak else replace(state, peak=peak),
                         fill_price=None)


VenueStop = StopState | TrailingStop


def match_order(state: VenueStop, price: Decimal, ts: Decimal) -> StopMatch | TrailingMatch:
    """Match one price against either kind of venue stop."""
    if isinstance(state, TrailingStop):
        return match_trailing(state, price, ts)
    return match_stop(state, price, ts)
