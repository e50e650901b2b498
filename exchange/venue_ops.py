"""The venue calls behind the Gateway's commands (``request``), and the small operations made
of several calls: an order by client id or None, both halves of a cancelReplace whose answer
was lost, the cancel of stray stops, and the reads a pair asks for after a refusal (whether
its market trades again, its filters, its base asset's balance)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from core.commands import (
    BalanceSeen,
    CancelOrder,
    CancelStrays,
    FiltersRefreshed,
    MarketReopened,
    OrderRejected,
    PlaceMarketOrder,
    PlaceStop,
    QueryOrder,
    ReadBalance,
    RefreshFilters,
    ReplaceStop,
    StopReplaced,
    WatchMarket,
)
from core.errors import InvariantViolation, UnknownOrder, VenueError
from core.refusals import classify
from core.types import Order, OrderReport, OrderState, OrderType, ReplaceReport
from exchange.base import Exchange

log = logging.getLogger("ratchet.gateway")


def request(exchange: Exchange, command: Any, *,
            settling: bool = False) -> tuple[Order | None, Callable[[], Any]]:
    """The order a command is about, and the one venue call that carries it out. ``settling``:
    the command's outcome was unknown, so it is read back, never sent again."""
    match command:
        case ReplaceStop(old=old, new=new) if settling:
            return new, lambda: read_halves(exchange, old, new)
        case QueryOrder(order=o) | PlaceMarketOrder(order=o) | PlaceStop(order=o) \
                | CancelOrder(order=o) if settling:
            return o, lambda: get_or_none(exchange, o)
        case PlaceMarketOrder(order=o):
            return o, lambda: exchange.market_order(
                symbol=o.symbol, side=o.side, qty=o.qty, client_order_id=o.client_order_id)
        case PlaceStop(order=o):
            return o, lambda: exchange.place_stop_limit(
                symbol=o.symbol, qty=o.qty, stop_price=o.stop_price, limit_price=o.limit_price,
                client_order_id=o.client_order_id, trailing_delta=o.trailing_delta)
        case CancelOrder(order=o):
            return o, lambda: exchange.cancel(symbol=o.symbol, client_order_id=o.client_order_id)
        case QueryOrder(order=o):
            return o, lambda: get_or_none(exchange, o)
        case ReplaceStop(old=old, new=new):
            return new, lambda: exchange.cancel_replace(
                symbol=new.symbol, cancel_client_order_id=old.client_order_id, qty=new.qty,
                stop_price=new.stop_price, limit_price=new.limit_price,
                new_client_order_id=new.client_order_id, trailing_delta=new.trailing_delta)
        case CancelStrays(symbol=symbol, prefix=prefix, keep=keep):
            return None, lambda: cancel_strays(exchange, symbol, prefix, keep)
        case WatchMarket(symbol=symbol):
            return None, lambda: market_reopened(exchange, symbol)
        case RefreshFilters(symbol=symbol):
            return None, lambda: FiltersRefreshed(filters=exchange.refresh_filters(symbol))
        case ReadBalance(asset=asset):
            return None, lambda: balance_seen(exchange, asset)
        case _:
            raise InvariantViolation(f"no venue call for {command!r}")


def refused(command: Any, order: Order, error: VenueError) -> OrderRejected | StopReplaced:
    """The pair's event for a command the venue refused: a whole cancelReplace refused (its
    filters are checked before the cancel) leaves the old stop in place."""
    if isinstance(command, ReplaceStop):
        return StopReplaced(old=command.old, new=command.new, report=ReplaceReport(
            canceled=None, new=None, cancel_error=str(error), new_error=str(error),
            cancel_error_code=error.code))
    reason = str(error)
    return OrderRejected(order=order, reason=reason, code=error.code,
                         kind=classify(code=error.code, reason=reason))


def get_or_none(exchange: Exchange, order: Order) -> OrderReport | None:
    """The venue's view of one order; None when it never saw it."""
    try:
        return exchange.get_order(symbol=order.symbol, client_order_id=order.client_order_id)
    except UnknownOrder:
        return None


def read_halves(exchange: Exchange, old: Order, new: Order) -> ReplaceReport:
    """Both halves of a cancelReplace whose answer was lost, read back from the venue."""
    old_now, new_now = get_or_none(exchange, old), get_or_none(exchange, new)
    canceled = old_now if old_now is not None and old_now.state is OrderState.CANCELED else None
    placed = new_now if new_now is not None and new_now.state is not OrderState.REJECTED else None
    return ReplaceReport(canceled=canceled, new=placed,
                         cancel_error=None if canceled else "not canceled",
                         new_error=None if placed else "not placed")


def market_reopened(exchange: Exchange, symbol: str) -> MarketReopened | None:
    """``MarketReopened`` with the last price once the symbol trades again, else None."""
    if not exchange.market_open(symbol):
        return None
    price = None
    with contextlib.suppress(VenueError):
        price = exchange.last_price(symbol)
    return MarketReopened(symbol=symbol, price=price)


def balance_seen(exchange: Exchange, asset: str) -> BalanceSeen:
    """The account's balance of one asset (none listed: zero)."""
    balance = exchange.balances().get(asset)
    zero = Decimal(0)
    return BalanceSeen(asset=asset, free=balance.free if balance else zero,
                       locked=balance.locked if balance else zero)


def cancel_strays(exchange: Exchange, symbol: str, prefix: str, keep: frozenset[str]) -> int:
    """Cancel the open stops of ``symbol`` with our ``prefix`` that are not in ``keep``."""
    strays = [r for r in exchange.open_orders()
              if r.symbol == symbol and r.type is OrderType.STOP_LOSS_LIMIT
              and r.client_order_id.startswith(prefix + "-") and r.client_order_id not in keep]
    for report in strays:
        exchange.cancel(symbol=report.symbol, client_order_id=report.client_order_id)
    log.info("stray stops canceled on %s: %d", symbol, len(strays))
    return len(strays)
