"""The trailing-stop rules of DESIGN.md §3, exactly. Pure functions over Decimals.

``next_stop`` returns ``None`` when the stop must not move, so the engine never cancels and
re-places an order at the same price.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.errors import BelowMinNotional
from core.money import HUNDRED, floor_step, floor_tick, pct
from core.types import PairSettings, SymbolFilters

ONE = Decimal(1)


@dataclass(frozen=True, slots=True, kw_only=True)
class StopLevels:
    """A STOP_LOSS_LIMIT's trigger (``stop``) and limit price."""

    stop: Decimal
    limit: Decimal


def limit_for(stop: Decimal, *, limit_offset_pct: Decimal, tick: Decimal) -> Decimal:
    """``limit = floor_tick(stop × (1 − limit_offset_pct/100))``."""
    return floor_tick(stop * (ONE - limit_offset_pct / HUNDRED), tick)


def candidate_stop(highest: Decimal, *, trail_pct: Decimal, tick: Decimal) -> Decimal:
    """``floor_tick(highest × (1 − trail_pct/100))``."""
    return floor_tick(highest * (ONE - trail_pct / HUNDRED), tick)


def levels_at(highest: Decimal, settings: PairSettings, tick: Decimal) -> StopLevels:
    """The stop and limit for a given ``highest``: used at entry and when re-placing a stop."""
    stop = candidate_stop(highest, trail_pct=settings.trail_pct, tick=tick)
    return StopLevels(
        stop=stop, limit=limit_for(stop, limit_offset_pct=settings.limit_offset_pct, tick=tick)
    )


def entry_quantity(price: Decimal, settings: PairSettings, filters: SymbolFilters) -> Decimal:
    """``qty = floor_step(quote_per_trade / price)``; refuses below ``min_notional``."""
    qty = floor_step(settings.quote_per_trade / price, filters.step)
    if qty <= 0 or qty * price < filters.min_notional:
        raise BelowMinNotional(
            f"{filters.symbol}: quote_per_trade {settings.quote_per_trade} at price {price} "
            f"buys {qty}, below min_notional {filters.min_notional}"
        )
    return qty


def received_quantity(executed_qty: Decimal, base_commission: Decimal, step: Decimal) -> Decimal:
    """What a buy leaves on the account when its commission is charged in the base asset."""
    return floor_step(executed_qty - base_commission, step)


def min_move(stop: Decimal, *, min_move_pct: Decimal, tick: Decimal) -> Decimal:
    """``step_min = max(tick, floor_tick(stop × min_move_pct/100))``."""
    return max(tick, floor_tick(pct(stop, min_move_pct), tick))


def is_activated(highest: Decimal, entry_price: Decimal, activation_pct: Decimal) -> bool:
    """A stop with ``activation_pct > 0`` trails only once ``highest`` has risen that far."""
    if activation_pct <= 0:
        return True
    return highest >= entry_price * (ONE + activation_pct / HUNDRED)


def next_stop(
    *,
    stop: Decimal,
    highest: Decimal,
    entry_price: Decimal,
    settings: PairSettings,
    tick: Decimal,
) -> StopLevels | None:
    """The new stop for an already-updated ``highest``, or ``None`` when it must not move.

    The result is always at least ``stop + step_min``: the stop never moves down.
    """
    if not is_activated(highest, entry_price, settings.activation_pct):
        return None
    candidate = candidate_stop(highest, trail_pct=settings.trail_pct, tick=tick)
    if candidate < stop + min_move(stop, min_move_pct=settings.min_move_pct, tick=tick):
        return None
    return StopLevels(
        stop=candidate,
        limit=limit_for(candidate, limit_offset_pct=settings.limit_offset_pct, tick=tick),
    )


def fee(notional: Decimal, fee_pct: Decimal) -> Decimal:
    """``fee_pct`` % of a notional."""
    return pct(notional, fee_pct)


def trade_pnl(
    *, entry_price: Decimal, exit_price: Decimal, qty: Decimal, entry_fee: Decimal,
    exit_fee: Decimal,
) -> Decimal:
    """``(exit − entry) × qty − fees``. Not rounded."""
    return (exit_price - entry_price) * qty - entry_fee - exit_fee
