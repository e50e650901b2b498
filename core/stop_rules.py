"""Whether a STOP_LOSS_LIMIT SELL may be sent as it is: pure checks against the last price and
the symbol's filters, made before any intent is written.

- Binance refuses a stop whose stop price is at or above the last price (-2010 "Order would
  trigger immediately."): ``would_trigger``. The §3 meaning of such a stop is "the price is
  already through it": the pair sells at market instead.
- PERCENT_PRICE_BY_SIDE bounds a SELL's limit price to ``[avg × askMultiplierDown,
  avg × askMultiplierUp]``. Binance averages over ``avgPriceMins``; the pair uses its last price,
  the nearest value it has. A limit outside the band is clamped into it (on the tick grid).
- PRICE_FILTER (min/max price), LOT_SIZE (min/max quantity) and NOTIONAL at the limit price:
  a stop that breaks one is not sent (``stop_problem`` names the filter).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.money import floor_tick
from core.trailing import StopLevels
from core.types import SymbolFilters


def would_trigger(stop: Decimal, last_price: Decimal | None) -> bool:
    """A SELL stop at or above the last price would trigger at once (Binance refuses it)."""
    return last_price is not None and stop >= last_price


def ceil_tick(value: Decimal, tick: Decimal) -> Decimal:
    floored = floor_tick(value, tick)
    return floored if floored == value else floored + tick


@dataclass(frozen=True, slots=True, kw_only=True)
class FittedStop:
    """A stop made to fit the filters: its levels, whether the limit was clamped, and the
    filter it still breaks (None: it may be sent)."""

    levels: StopLevels
    clamped: bool = False
    problem: str | None = None


def fit_stop(levels: StopLevels, qty: Decimal, filters: SymbolFilters,
             last_price: Decimal | None) -> FittedStop:
    """Clamp the limit into the PERCENT_PRICE_BY_SIDE band, then check the other filters."""
    limit, clamped = levels.limit, False
    if last_price is not None and filters.ask_multiplier_down is not None:
        low = ceil_tick(last_price * filters.ask_multiplier_down, filters.tick)
        if limit < low:
            limit, clamped = low, True
    if last_price is not None and filters.ask_multiplier_up is not None:
        high = floor_tick(last_price * filters.ask_multiplier_up, filters.tick)
        if limit > high:
            limit, clamped = high, True
    fitted = StopLevels(stop=levels.stop, limit=limit)
    return FittedStop(levels=fitted, clamped=clamped,
                      problem=stop_problem(fitted, qty, filters))


def stop_problem(levels: StopLevels, qty: Decimal, filters: SymbolFilters) -> str | None:
    """The filter a stop of ``qty`` at ``levels`` breaks, or None."""
    if qty <= 0:
        return f"LOT_SIZE: quantity {qty} is not positive"
    if filters.min_qty > 0 and qty < filters.min_qty:
        return f"LOT_SIZE: quantity {qty} is below minQty {filters.min_qty}"
    if filters.max_qty > 0 and qty > filters.max_qty:
        return f"LOT_SIZE: quantity {qty} is above maxQty {filters.max_qty}"
    for name, price in (("stop", levels.stop), ("limit", levels.limit)):
        if price <= 0:
            return f"PRICE_FILTER: {name} {price} is not positive"
        if filters.min_price > 0 and price < filters.min_price:
            return f"PRICE_FILTER: {name} {price} is below minPrice {filters.min_price}"
        if filters.max_price > 0 and price > filters.max_price:
            return f"PRICE_FILTER: {name} {price} is above maxPrice {filters.max_price}"
    notional = qty * levels.limit
    if notional < filters.min_notional:
        return (f"NOTIONAL: {qty} × limit {levels.limit} = {notional} is below "
                f"{filters.min_notional}")
    return None
