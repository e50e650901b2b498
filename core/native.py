"""A native trailing stop as Ratchet sees it (DESIGN.md §3b). Pure functions.

The venue trails the order and reports only its delta and when it started tracking, so the pair
keeps two views of its own, from its feed:
- the **estimate** shown in metrics and ``status``: ``highest`` (every price since entry) and
  the implied level ``floor_tick(highest × (1 − trail_pct/100))``, kept in ``Position.stop``;
- a **mirror** of the venue rule (``core.fill_model.TrailingStop``, ``match_trailing``), which
  starts tracking on the first price after the order is open on the venue. It tells when the
  order triggered, so the stop-fill timeout runs; in lock-step replay it is exact, live it is
  the pair's best knowledge (the venue's own report of the trigger, ``workingTime``, wins when
  it arrives first). After a restart it starts again from the first price, below the venue's
  peak, so it may see a trigger later than the venue, never earlier.

A conflated tick (several prices in one delivery) is matched as its low, its high, then its
last price: the peak comes out right, and a trigger is seen only where the prices prove one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.fill_model import TrailingStop, match_trailing
from core.trailing import candidate_stop
from core.types import PairSettings, Position, PositionState, Tick


def estimate(highest: Decimal, settings: PairSettings, tick: Decimal) -> Decimal:
    """The level a native stop triggers at by Ratchet's own ``highest``: an estimate."""
    return candidate_stop(highest, trail_pct=settings.trail_pct, tick=tick)


def mirror(position: Position) -> TrailingStop:
    """A fresh mirror of the position's native stop, not tracking yet."""
    assert position.trailing_delta is not None and position.limit is not None
    return TrailingStop(delta=position.trailing_delta, limit=position.limit)


def track(trail: TrailingStop, tick: Tick) -> TrailingStop:
    """The venue rule over one tick (low, high, then the price of a conflated one). A fill is
    the venue's to report; only the peak and the trigger are kept."""
    prices = (tick.low, tick.high, tick.price) if tick.count > 1 else (tick.price,)
    for price in prices:
        trail = match_trailing(trail, price, tick.ts).state
    return trail


@dataclass(frozen=True, slots=True, kw_only=True)
class NativeDecision:
    position: Position
    trail: TrailingStop | None
    timeout_exit: bool = False


def on_price(position: Position, tick: Tick, trail: TrailingStop | None,
             settings: PairSettings, tick_size: Decimal) -> NativeDecision:
    """§3b on one price while OPEN: raise ``highest`` and the estimate, track the mirror
    (``None``: the order is not open on the venue yet), note a trigger, check the timeout.
    The stop itself never moves."""
    if position.state is not PositionState.OPEN or position.trailing_delta is None:
        return NativeDecision(position=position, trail=trail)
    highest = max(position.highest, tick.high)
    if trail is not None:
        trail = track(trail, tick)
    triggered_at = position.triggered_at
    if triggered_at is None and trail is not None and trail.triggered_ts is not None:
        triggered_at = trail.triggered_ts
    if highest != position.highest or triggered_at != position.triggered_at:
        position = position.replace(highest=highest, triggered_at=triggered_at,
                                    stop=estimate(highest, settings, tick_size))
    expired = triggered_at is not None and \
        tick.ts - triggered_at >= settings.stop_fill_timeout_s
    return NativeDecision(position=position, trail=trail, timeout_exit=expired)
