"""Binance order, trade and stream shapes (``exchange.binance.dto`` re-exports them)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exchange.binance.fields import dec, flag, integer, opt_dec, opt_int, opt_text, text

# --- REST: orders ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FillDTO:
    """One entry of a FULL order response's ``fills``."""

    price: Decimal
    qty: Decimal
    commission: Decimal
    commissionAsset: str
    tradeId: int

    @classmethod
    def parse(cls, raw: Any) -> FillDTO:
        return cls(
            price=dec(raw, "price"), qty=dec(raw, "qty"), commission=dec(raw, "commission"),
            commissionAsset=text(raw, "commissionAsset"), tradeId=integer(raw, "tradeId"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderDTO:
    """An order as ``POST``/``GET``/``DELETE /api/v3/order`` and ``openOrders`` return it.

    A cancel response names our id in ``origClientOrderId`` (``clientOrderId`` is then the
    cancel request's own id). An ACK response has no ``status``; we always ask for FULL.
    """

    symbol: str
    orderId: int
    clientOrderId: str
    origClientOrderId: str | None = None
    price: Decimal = Decimal(0)
    origQty: Decimal = Decimal(0)
    executedQty: Decimal = Decimal(0)
    cummulativeQuoteQty: Decimal = Decimal(0)
    status: str = "NEW"
    timeInForce: str | None = None
    type: str = "LIMIT"
    side: str = "BUY"
    stopPrice: Decimal | None = None
    time: int | None = None
    updateTime: int | None = None
    transactTime: int | None = None
    workingTime: int | None = None
    isWorking: bool | None = None
    trailingDelta: int | None = None  # a trailing stop's delta, basis points
    trailingTime: int | None = None  # when it started tracking (-1: not yet)
    fills: tuple[FillDTO, ...] = ()

    @classmethod
    def parse(cls, raw: Any) -> OrderDTO:
        return cls(
            symbol=text(raw, "symbol"), orderId=integer(raw, "orderId"),
            clientOrderId=text(raw, "clientOrderId"),
            origClientOrderId=opt_text(raw, "origClientOrderId"),
            price=dec(raw, "price"), origQty=dec(raw, "origQty"),
            executedQty=dec(raw, "executedQty"),
            cummulativeQuoteQty=dec(raw, "cummulativeQuoteQty"),
            status=text(raw, "status"), timeInForce=opt_text(raw, "timeInForce"),
            type=text(raw, "type"), side=text(raw, "side"), stopPrice=opt_dec(raw, "stopPrice"),
            time=opt_int(raw, "time"), updateTime=opt_int(raw, "updateTime"),
            transactTime=opt_int(raw, "transactTime"), workingTime=opt_int(raw, "workingTime"),
            isWorking=flag(raw, "isWorking") if "isWorking" in raw else None,
            trailingDelta=opt_int(raw, "trailingDelta"), trailingTime=opt_int(raw, "trailingTime"),
            fills=tuple(FillDTO.parse(f) for f in raw.get("fills") or ()),
        )

    @property
    def our_client_order_id(self) -> str:
        """The id we gave the order (a cancel response's ``origClientOrderId``)."""
        return self.origClientOrderId or self.clientOrderId


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorDTO:
    """A Binance error body, or a failed half of a cancelReplace."""

    code: int
    msg: str

    @classmethod
    def parse(cls, raw: Any) -> ErrorDTO:
        return cls(code=integer(raw, "code"), msg=str(raw.get("msg", "")))


def _half(raw: Any) -> OrderDTO | ErrorDTO | None:
    if raw is None:
        return None
    if isinstance(raw, dict) and "code" in raw and "orderId" not in raw:
        return ErrorDTO.parse(raw)
    return OrderDTO.parse(raw)


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelReplaceDTO:
    """``POST /api/v3/order/cancelReplace``: the 200 body, or the ``data`` of a 400/409."""

    cancelResult: str
    newOrderResult: str
    cancelResponse: OrderDTO | ErrorDTO | None
    newOrderResponse: OrderDTO | ErrorDTO | None

    @classmethod
    def parse(cls, raw: Any) -> CancelReplaceDTO:
        return cls(
            cancelResult=text(raw, "cancelResult"), newOrderResult=text(raw, "newOrderResult"),
            cancelResponse=_half(raw.get("cancelResponse")),
            newOrderResponse=_half(raw.get("newOrderResponse")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class MyTradeDTO:
    """One row of ``GET /api/v3/myTrades``."""

    symbol: str
    id: int
    orderId: int
    price: Decimal
    qty: Decimal
    quoteQty: Decimal
    commission: Decimal
    commissionAsset: str
    time: int
    isBuyer: bool
    isMaker: bool

    @classmethod
    def parse(cls, raw: Any) -> MyTradeDTO:
        return cls(
            symbol=text(raw, "symbol"), id=integer(raw, "id"), orderId=integer(raw, "orderId"),
            price=dec(raw, "price"), qty=dec(raw, "qty"), quoteQty=dec(raw, "quoteQty"),
            commission=dec(raw, "commission"), commissionAsset=text(raw, "commissionAsset"),
            time=integer(raw, "time"), isBuyer=flag(raw, "isBuyer"),
            isMaker=flag(raw, "isMaker"),
        )


# --- streams --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionReportDTO:
    """User-data ``executionReport``, with Binance's one-letter keys.

    e event type · E event time · s symbol · c client order id · S side · o order type ·
    f time in force · q quantity · p price · P stop price · x execution type · X order status ·
    r reject reason · i order id · l last executed qty · z cumulative filled qty ·
    L last executed price · n commission · N commission asset · T transaction time ·
    t trade id (-1 without a trade) · C original client order id (set on cancels) ·
    Z cumulative quote qty · w is working · W working time · d trailing delta (trailing
    stops only).
    """

    e: str
    E: int
    s: str
    c: str
    S: str
    o: str
    f: str
    q: Decimal
    p: Decimal
    P: Decimal
    x: str
    X: str
    r: str
    i: int
    l: Decimal  # noqa: E741 - Binance's name
    z: Decimal
    L: Decimal
    n: Decimal
    N: str | None
    T: int
    t: int
    C: str
    Z: Decimal
    w: bool
    W: int | None
    d: int | None = None

    @classmethod
    def parse(cls, raw: Any) -> ExecutionReportDTO:
        return cls(
            e=text(raw, "e"), E=integer(raw, "E"), s=text(raw, "s"), c=text(raw, "c"),
            S=text(raw, "S"), o=text(raw, "o"), f=text(raw, "f"), q=dec(raw, "q"),
            p=dec(raw, "p"), P=dec(raw, "P"), x=text(raw, "x"), X=text(raw, "X"),
            r=str(raw.get("r", "NONE")), i=integer(raw, "i"), l=dec(raw, "l"),
            z=dec(raw, "z"), L=dec(raw, "L"), n=dec(raw, "n") if raw.get("n") else Decimal(0),
            N=opt_text(raw, "N"), T=integer(raw, "T"), t=integer(raw, "t"),
            C=str(raw.get("C") or ""), Z=dec(raw, "Z"), w=flag(raw, "w"),
            W=opt_int(raw, "W"), d=opt_int(raw, "d"),
        )

    @property
    def our_client_order_id(self) -> str:
        """On a cancel, ``c`` is the cancel request's id and ``C`` the order's own."""
        return self.C or self.c


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeEventDTO:
    """Market ``<symbol>@trade`` or ``<symbol>@aggTrade`` payload: price ``p`` at time ``T``."""

    e: str
    E: int
    s: str
    p: Decimal
    q: Decimal
    T: int

    @classmethod
    def parse(cls, raw: Any) -> TradeEventDTO:
        return cls(
            e=text(raw, "e"), E=integer(raw, "E"), s=text(raw, "s"), p=dec(raw, "p"),
            q=dec(raw, "q"), T=integer(raw, "T"),
        )
