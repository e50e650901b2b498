"""The PairActor's decisions, as pure functions over ``Position`` and venue reports.

The actor unpacks a message, calls one of these, then persists and sends what it returns.
Every rule here is DESIGN.md §3; the order of work on each price is the actor's (§3, steps 1–4).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from core.errors import InvariantViolation
from core.money import floor_step
from core.refusals import Refusal, classify
from core.trailing import StopLevels, entry_quantity, fee, next_stop, trade_pnl
from core.types import (
    Execution,
    Fill,
    Order,
    OrderReport,
    OrderState,
    OrderType,
    PairSettings,
    Position,
    PositionState,
    Side,
    SymbolFilters,
    Tick,
)

ZERO = Decimal(0)


def client_order_id(prefix: str, position_id: str, seq: int) -> str:
    """Deterministic client id: prefix, short position id, sequence (≤ 36 chars)."""
    cid = f"{prefix}-{position_id}-{seq}"
    if len(cid) > 36:
        raise InvariantViolation(f"client order id too long: {cid}")
    return cid


def new_position_id() -> str:
    """A short random id; collisions across a lifetime of positions are negligible (2^40)."""
    return secrets.token_hex(5)


def flat_position(symbol: str) -> Position:
    return Position(position_id=new_position_id(), symbol=symbol, state=PositionState.FLAT)


def next_order(
    position: Position, prefix: str, *, side: Side, type: OrderType, qty: Decimal,
    levels: StopLevels | None = None, replaces: str | None = None,
) -> tuple[Position, Order]:
    seq = position.seq + 1
    order = Order(
        client_order_id=client_order_id(prefix, position.position_id, seq),
        position_id=position.position_id,
        symbol=position.symbol,
        side=side,
        type=type,
        qty=qty,
        state=OrderState.PENDING_NEW,
        stop_price=levels.stop if levels else None,
        limit_price=levels.limit if levels else None,
        replaces=replaces,
    )
    return position.replace(seq=seq), order


# --- entry ------------------------------------------------------------------------------------


def plan_entry(
    position: Position, tick: Tick, settings: PairSettings, filters: SymbolFilters, prefix: str
) -> tuple[Position, Order]:
    """FLAT → ENTERING: a market buy sized at the current price (raises BelowMinNotional)."""
    qty = entry_quantity(tick.price, settings, filters)
    fresh = Position(position_id=new_position_id(), symbol=position.symbol,
                     state=PositionState.ENTERING, entry_time=tick.time,
                     quote_asset=filters.quote_asset)
    fresh, order = next_order(fresh, prefix, side=Side.BUY, type=OrderType.MARKET, qty=qty)
    return fresh, order


def executions_to_fills(
    order: Order, executions: Iterable[Execution], quote_asset: str, fee_pct: Decimal
) -> list[Fill]:
    """Fills of one order, each with the fee as the venue charged it (amount and asset)."""
    fills = []
    for ex in executions:
        fills.append(Fill(
            symbol=order.symbol, exchange_trade_id=ex.trade_id,
            client_order_id=order.client_order_id, position_id=order.position_id,
            side=order.side, price=ex.price, qty=ex.qty, fee=ex.fee, fee_asset=ex.fee_asset,
            ts=ex.time or str(ex.ts),
        ))
    return fills


def fee_in_quote(ex: Execution, filters: SymbolFilters, fee_pct: Decimal) -> Decimal:
    """One execution's fee in the quote asset: as charged in the quote; a base-asset fee (a
    BUY on Binance) at that fill's price; a third asset (BNB) at the value the venue adapter
    put on it at that moment, else at ``fee_pct`` of the notional."""
    if ex.fee_asset == filters.quote_asset:
        return ex.fee
    if ex.fee_asset == filters.base_asset:
        return ex.fee * ex.price
    if ex.fee_value is not None:
        return ex.fee_value
    return fee(ex.price * ex.qty, fee_pct)


def quote_fee(executions: Iterable[Execution], filters: SymbolFilters,
              fee_pct: Decimal) -> Decimal:
    """The fees of some executions in the quote asset (``fee_in_quote`` each)."""
    return sum((fee_in_quote(ex, filters, fee_pct) for ex in executions), ZERO)


def base_commission(executions: Iterable[Execution], base_asset: str) -> Decimal:
    return sum((ex.fee for ex in executions if ex.fee_asset == base_asset), ZERO)


@dataclass(frozen=True, slots=True, kw_only=True)
class Opened:
    """A filled entry: the OPEN position (no stop yet), the filled buy and its fills."""

    position: Position
    entry_order: Order
    fills: tuple[Fill, ...]


def on_entry_filled(
    position: Position, order: Order, report: OrderReport, settings: PairSettings,
    filters: SymbolFilters, time: str,
) -> Opened:
    """ENTERING → OPEN at the average fill price. The position holds what was received: a
    commission charged in the base asset is taken off, floored to the step (§3)."""
    price = report.avg_price
    if price is None or report.executed_qty <= 0:
        raise InvariantViolation(f"{order.client_order_id}: filled with no executions")
    qty = floor_step(
        report.executed_qty - base_commission(report.executions, filters.base_asset), filters.step
    )
    opened = position.replace(
        state=PositionState.OPEN, qty=qty, entry_price=price, entry_time=time or position.entry_time,
        entry_fee=quote_fee(report.executions, filters, settings.fee_pct),
        highest=price, stop=None, limit=None, stop_order_id=None,
        quote_asset=filters.quote_asset,
    )
    filled = order.replace(
        state=OrderState.FILLED, executed_qty=report.executed_qty, avg_price=price,
        exchange_order_id=report.exchange_order_id or order.exchange_order_id,
    )
    fills = executions_to_fills(order, report.executions, filters.quote_asset, settings.fee_pct)
    return Opened(position=opened, entry_order=filled, fills=tuple(fills))


# --- a refused entry ------------------------------------------------------------------------

ENTRY_BACKOFF_FIRST_S = Decimal(1)
ENTRY_BACKOFF_MAX_S = Decimal(300)


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryRefusal:
    """What a refused entry buy means. ``halt``: the refusal will not fix itself (a filter, any
    -2010 but a lack of funds or a closed market), so the pair stops entries with ``reason``.
    Otherwise the next entry may be tried no earlier than price time ``retry_at``: backoff
    doubles from 1 s to 5 minutes, so a pair never sends more than one entry per backoff
    step."""

    halt: bool
    reason: str
    retry_at: Decimal | None = None


def on_entry_refused(*, code: int | None, reason: str, refusals: int,
                     now: Decimal) -> EntryRefusal:
    """The ``refusals``-th refusal in a row (1 for the first) at price time ``now``."""
    if classify(code=code, reason=reason) not in (Refusal.INSUFFICIENT, Refusal.MARKET_CLOSED):
        return EntryRefusal(halt=True, reason=f"entry refused: {reason}")
    delay = min(ENTRY_BACKOFF_FIRST_S * 2 ** max(refusals - 1, 0), ENTRY_BACKOFF_MAX_S)
    return EntryRefusal(halt=False, reason=f"entry refused: {reason}", retry_at=now + delay)


# --- each price while open -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceDecision:
    """What a price means for an open position: its new state, and at most one action."""

    position: Position
    move_to: StopLevels | None = None
    timeout_exit: bool = False


def on_price(
    position: Position, tick: Tick, settings: PairSettings, filters: SymbolFilters,
    *, may_move: bool = True,
) -> PriceDecision:
    """§3 step 4: raise ``highest``, note a trigger, then trail or time out.

    ``may_move`` is False while an earlier move is still in flight; ``highest`` still rises.
    """
    if position.state is not PositionState.OPEN or position.stop is None:
        return PriceDecision(position=position)
    highest = max(position.highest, tick.high)
    triggered_at = position.triggered_at
    if triggered_at is None and tick.low <= position.stop:
        triggered_at = tick.ts
    if highest == position.highest and triggered_at == position.triggered_at:
        updated = position  # most prices change nothing: no new object on the tick path
    else:
        updated = position.replace(highest=highest, triggered_at=triggered_at)
    if triggered_at is not None:
        timed_out = tick.ts - triggered_at >= settings.stop_fill_timeout_s
        return PriceDecision(position=updated, timeout_exit=timed_out)
    if not may_move:
        return PriceDecision(position=updated)
    levels = next_stop(stop=position.stop, highest=highest, entry_price=position.entry_price,
                       settings=settings, tick=filters.tick)
    return PriceDecision(position=updated, move_to=levels)


def plan_stop_move(position: Position, levels: StopLevels, prefix: str) -> tuple[Position, Order]:
    """The new stop's intent; the position's stop fields change only once the venue agrees."""
    return next_order(position, prefix, side=Side.SELL, type=OrderType.STOP_LOSS_LIMIT,
                       qty=position.qty, levels=levels, replaces=position.stop_order_id)


def plan_stop(position: Position, levels: StopLevels, prefix: str,
              qty: Decimal | None = None, *,
              trailing_delta: int | None = None) -> tuple[Position, Order]:
    """A stop for an open position that has none: its first, or again after a loss or at
    recovery. ``qty``: what the position still holds (default: all of it). With
    ``trailing_delta`` it is a native trailing stop (§3b): the order has the limit and the
    delta, no stop price; the position keeps ``levels.stop`` as Ratchet's estimate."""
    position, order = next_order(position, prefix, side=Side.SELL,
                                 type=OrderType.STOP_LOSS_LIMIT,
                                 qty=position.qty if qty is None else qty, levels=levels)
    if trailing_delta is not None:
        order = order.replace(stop_price=None, trailing_delta=trailing_delta)
    return position.replace(stop=levels.stop, limit=levels.limit,
                            stop_order_id=order.client_order_id,
                            trailing_delta=trailing_delta), order


def stop_moved(position: Position, new_order: Order) -> Position:
    return position.replace(stop=new_order.stop_price, limit=new_order.limit_price,
                            stop_order_id=new_order.client_order_id,
                            stop_moves=position.stop_moves + 1)


def plan_exit(position: Position, prefix: str,
              qty: Decimal | None = None) -> tuple[Position, Order]:
    """OPEN → EXITING: a market sell of what the position holds (default: all of it)."""
    position, order = next_order(position, prefix, side=Side.SELL, type=OrderType.MARKET,
                                  qty=position.qty if qty is None else qty)
    return position.replace(state=PositionState.EXITING, stop_order_id=None), order


# --- close ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Closed:
    position: Position
    order: Order
    fills: tuple[Fill, ...]


def close_position(
    position: Position, order: Order, report: OrderReport, settings: PairSettings,
    filters: SymbolFilters, *, reason: str, time: str,
    earlier_exits: tuple[Execution, ...] = (),
) -> Closed:
    """OPEN/EXITING → FLAT: book ``(exit − entry) × qty − fees`` on the closing fill. The exit
    price is the average over every sell execution of the position: ``earlier_exits`` (a stop
    partly filled, then canceled) and the closing order's."""
    exits = (*earlier_exits, *report.executions)
    if not report.executions:
        raise InvariantViolation(f"{order.client_order_id}: closed with no executions")
    sold = sum((ex.qty for ex in exits), ZERO)
    exit_price = sum((ex.price * ex.qty for ex in exits), ZERO) / sold
    exit_fee = quote_fee(exits, filters, settings.fee_pct)
    pnl = trade_pnl(entry_price=position.entry_price, exit_price=exit_price, qty=position.qty,
                    entry_fee=position.entry_fee, exit_fee=exit_fee)
    closed = position.replace(
        state=PositionState.FLAT, exit_price=exit_price, exit_time=time, exit_reason=reason,
        pnl=pnl, stop_order_id=None, triggered_at=None,
    )
    filled = order.replace(state=OrderState.FILLED, executed_qty=report.executed_qty,
                           avg_price=report.avg_price,
                           exchange_order_id=report.exchange_order_id or order.exchange_order_id)
    fills = executions_to_fills(order, report.executions, filters.quote_asset, settings.fee_pct)
    if fills:
        fills[-1] = _with_pnl(fills[-1], pnl)
    return Closed(position=closed, order=filled, fills=tuple(fills))


def _with_pnl(f: Fill, pnl: Decimal) -> Fill:
    from dataclasses import replace

    return replace(f, pnl=pnl)


def apply_report(order: Order, report: OrderReport) -> Order:
    """An order row updated from the venue's report."""
    return order.replace(
        state=report.state, executed_qty=report.executed_qty,
        avg_price=report.avg_price if report.avg_price is not None else order.avg_price,
        exchange_order_id=report.exchange_order_id or order.exchange_order_id,
        reason=report.reject_reason or order.reason,
    )


def unrealized_pnl(position: Position, price: Decimal, fee_pct: Decimal) -> Decimal:
    """Mark-to-market P&L of an open position, fees of a sale at ``price`` included."""
    if position.state not in (PositionState.OPEN, PositionState.EXITING):
        return ZERO
    exit_fee = fee(price * position.qty, fee_pct)
    return trade_pnl(entry_price=position.entry_price, exit_price=price, qty=position.qty,
                     entry_fee=position.entry_fee, exit_fee=exit_fee)
