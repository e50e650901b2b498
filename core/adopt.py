"""Coins already held (``entry = "adopt"``, DESIGN.md §3b). Pure functions.

A free base balance ``B`` minus ``keep_qty``, floored to ``step``, worth at least
``min_notional`` at the last price ``p``, becomes an OPEN position: ``entry_price = p``,
``highest = p``, ``entry_kind = "adopted"``, no entry fee (nothing was bought), its stop placed
as after an entry at ``p``. Later free coins worth ``min_notional`` are added to it: the stop
keeps its price (or, native, its delta and limit) and takes the larger quantity in one
cancelReplace; once the venue has it, the entry price is the quantity-weighted average of the
old entry and the price the new coins were found at.
"""

from __future__ import annotations

from decimal import Decimal

from core.errors import ConfigError
from core.money import floor_step
from core.pair_logic import new_position_id, next_order
from core.types import (
    ENTRY_ADOPTED,
    EntryMode,
    Order,
    OrderType,
    PairSettings,
    Position,
    PositionState,
    Side,
    SymbolFilters,
)

ZERO = Decimal(0)


def adoptable(free: Decimal, price: Decimal, settings: PairSettings,
              filters: SymbolFilters) -> Decimal | None:
    """What of a free balance may be protected: ``floor_step(free − keep_qty)`` when it is
    worth at least ``min_notional`` at ``price``, else None."""
    qty = floor_step(free - settings.keep_qty, filters.step)
    if qty <= 0 or qty * price < filters.min_notional:
        return None
    return qty


def adopted_position(symbol: str, qty: Decimal, price: Decimal, time: str,
                     filters: SymbolFilters) -> Position:
    """The OPEN position of adopted coins, with no stop yet."""
    return Position(position_id=new_position_id(), symbol=symbol, state=PositionState.OPEN,
                    qty=qty, entry_price=price, entry_time=time, entry_fee=ZERO,
                    highest=price, quote_asset=filters.quote_asset, entry_kind=ENTRY_ADOPTED)


def plan_resize(position: Position, stop: Order, qty: Decimal,
                prefix: str) -> tuple[Position, Order]:
    """The intent of a stop like ``stop`` (same stop price, or delta, and limit) for ``qty``,
    replacing it; the position takes the quantity only once the venue has it."""
    position, order = next_order(position, prefix, side=Side.SELL,
                                 type=OrderType.STOP_LOSS_LIMIT, qty=qty,
                                 replaces=stop.client_order_id)
    return position, order.replace(stop_price=stop.stop_price, limit_price=stop.limit_price,
                                   trailing_delta=stop.trailing_delta)


def is_resize(old: Order, new: Order) -> bool:
    """A replacement that holds more at the same levels: coins added, not a stop move."""
    return (new.qty > old.qty and new.stop_price == old.stop_price
            and new.limit_price == old.limit_price and new.trailing_delta == old.trailing_delta)


def resized(position: Position, new_stop: Order, price: Decimal | None) -> Position:
    """The position once the venue holds its larger stop: its qty, and the entry price
    weighted by quantity (the added coins at ``price``; without one, at the old entry)."""
    added = new_stop.qty - position.qty
    if added <= 0:
        return position.replace(stop_order_id=new_stop.client_order_id)
    at = position.entry_price if price is None else price
    entry = (position.entry_price * position.qty + at * added) / new_stop.qty
    return position.replace(qty=new_stop.qty, entry_price=entry,
                            stop_order_id=new_stop.client_order_id)


def check_adopting_pairs(pairs: list[tuple[PairSettings, SymbolFilters]]) -> None:
    """A pair that adopts coins must be the only pair trading its base asset: another pair
    buying or selling it (as base or quote) would move the balance it adopts from."""
    for settings, filters in pairs:
        if settings.entry is not EntryMode.ADOPT:
            continue
        for other, other_filters in pairs:
            if other.symbol != settings.symbol and filters.base_asset in (
                    other_filters.base_asset, other_filters.quote_asset):
                raise ConfigError(
                    f"{settings.symbol}: entry = \"adopt\" protects the free "
                    f"{filters.base_asset} balance, which {other.symbol} also trades; "
                    "an adopting pair must be the only one trading its base asset")
