"""Binance DTOs → Ratchet's reports. The one place where the two vocabularies meet."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

from core.types import Balance, OrderType
from exchange.base import Execution, OrderReport, ReplaceReport
from exchange.binance import enums
from exchange.binance.account_dto import AccountPositionDTO
from exchange.binance.dto import (
    CancelReplaceDTO,
    ErrorDTO,
    ExecutionReportDTO,
    FillDTO,
    MyTradeDTO,
    OrderDTO,
)

ZERO = Decimal(0)
_MS = Decimal(1000)


def ms_to_s(ms: int) -> Decimal:
    """Epoch milliseconds → epoch seconds, exactly."""
    return Decimal(ms) / _MS


def iso(ms: int) -> str:
    """Epoch milliseconds → ISO 8601 UTC with milliseconds."""
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC).replace(microsecond=(ms % 1000) * 1000)
    return moment.isoformat(timespec="milliseconds")


def execution_from_fill(fill: FillDTO, ts_ms: int) -> Execution:
    return Execution(
        trade_id=str(fill.tradeId), price=fill.price, qty=fill.qty, fee=fill.commission,
        fee_asset=fill.commissionAsset, ts=ms_to_s(ts_ms), time=iso(ts_ms),
    )


def execution_from_trade(trade: MyTradeDTO) -> Execution:
    return Execution(
        trade_id=str(trade.id), price=trade.price, qty=trade.qty, fee=trade.commission,
        fee_asset=trade.commissionAsset, ts=ms_to_s(trade.time), time=iso(trade.time),
    )


def _stop_levels(kind: OrderType, price: Decimal, stop: Decimal | None):
    """(stop_price, limit_price) of our report; Binance sends zero for "not set"."""
    stop_price = stop if stop is not None and stop > 0 else None
    limit_price = price if kind is not OrderType.MARKET and price > 0 else None
    return stop_price, limit_price


def order_report(
    dto: OrderDTO, executions: Iterable[Execution] | None = None, *, reject_reason: str | None = None,
) -> OrderReport:
    """One order. Executions come from a FULL response's ``fills`` unless given."""
    kind = enums.order_type(dto.type)
    ts_ms = dto.transactTime or dto.updateTime or dto.time or 0
    if executions is None:
        executions = [execution_from_fill(f, ts_ms) for f in dto.fills]
    stop_price, limit_price = _stop_levels(kind, dto.price, dto.stopPrice)
    # A stop-limit has triggered once Binance puts it on the book (isWorking true).
    triggered = kind is OrderType.STOP_LOSS_LIMIT and bool(dto.isWorking)
    triggered_ts = ms_to_s(dto.workingTime) if triggered and dto.workingTime else None
    return OrderReport(
        client_order_id=dto.our_client_order_id, symbol=dto.symbol, side=enums.side(dto.side),
        type=kind, state=enums.order_state(dto.status), qty=dto.origQty,
        executed_qty=dto.executedQty, stop_price=stop_price, limit_price=limit_price,
        exchange_order_id=str(dto.orderId), executions=tuple(executions), triggered=triggered,
        triggered_ts=triggered_ts, reject_reason=reject_reason, trailing_delta=dto.trailingDelta,
    )


def execution_report(dto: ExecutionReportDTO) -> OrderReport:
    """A user-data ``executionReport``. Carries the one execution of a TRADE event."""
    kind = enums.order_type(dto.o)
    executions: tuple[Execution, ...] = ()
    if dto.x == enums.EXECUTION_TRADE and dto.t >= 0:
        executions = (Execution(
            trade_id=str(dto.t), price=dto.L, qty=dto.l, fee=dto.n, fee_asset=dto.N or "",
            ts=ms_to_s(dto.T), time=iso(dto.T),
        ),)
    stop_price, limit_price = _stop_levels(kind, dto.p, dto.P)
    triggered = kind is OrderType.STOP_LOSS_LIMIT and dto.w
    return OrderReport(
        client_order_id=dto.our_client_order_id, symbol=dto.s, side=enums.side(dto.S), type=kind,
        state=enums.order_state(dto.X), qty=dto.q, executed_qty=dto.z, stop_price=stop_price,
        limit_price=limit_price, exchange_order_id=str(dto.i), executions=executions,
        triggered=triggered, triggered_ts=ms_to_s(dto.W) if triggered and dto.W else None,
        reject_reason=None if dto.r == "NONE" else dto.r, trailing_delta=dto.d,
    )


def balances(dto: AccountPositionDTO) -> tuple[Balance, ...]:
    """An ``outboundAccountPosition``'s changed balances."""
    return tuple(Balance(asset=b.asset, free=b.free, locked=b.locked) for b in dto.B)


def replace_report(dto: CancelReplaceDTO) -> ReplaceReport:
    """Both halves of a cancelReplace, whatever its HTTP status was."""
    canceled = new = None
    cancel_error = new_error = None
    cancel_code = new_code = None
    if isinstance(dto.cancelResponse, OrderDTO):
        canceled = order_report(dto.cancelResponse)
    elif isinstance(dto.cancelResponse, ErrorDTO):
        cancel_error, cancel_code = dto.cancelResponse.msg, dto.cancelResponse.code
    elif dto.cancelResult != enums.HALF_SUCCESS:
        cancel_error = dto.cancelResult
    if isinstance(dto.newOrderResponse, OrderDTO):
        new = order_report(dto.newOrderResponse)
    elif isinstance(dto.newOrderResponse, ErrorDTO):
        new_error, new_code = dto.newOrderResponse.msg, dto.newOrderResponse.code
    elif dto.newOrderResult != enums.HALF_SUCCESS:
        new_error = dto.newOrderResult  # NOT_ATTEMPTED: STOP_ON_FAILURE stopped after the cancel
    return ReplaceReport(
        canceled=canceled, new=new, cancel_error=cancel_error, new_error=new_error,
        cancel_error_code=cancel_code, new_error_code=new_code,
    )
