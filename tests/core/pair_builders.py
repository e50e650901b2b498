"""Builders for the pair state machine's table tests (``test_pair_machine``,
``test_pair_holdings``): a pair, its states, venue reports, and ``run`` over events."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from core.commands import OrderRejected
from core.pair_machine import Closed, Halt, Pair, PairState, Send, Write, step
from core.refusals import classify
from core.types import (
    Execution,
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

SYM = "BTCUSDT"
PID = "p1"
SETTINGS = PairSettings(symbol=SYM, trail_pct=D(10), min_move_pct=D(1), limit_offset_pct=D(1),
                        stop_fill_timeout_s=D(60), quote_per_trade=D(100), fee_pct=D("0.1"))
FILTERS = SymbolFilters(symbol=SYM, base_asset="BTC", quote_asset="USDT", tick=D("0.01"),
                        step=D("0.001"), min_notional=D(5))
PAIR = Pair(settings=SETTINGS, filters=FILTERS, prefix="rt")


# --- builders ---------------------------------------------------------------------------------

def cid(seq: int) -> str:
    return f"rt-{PID}-{seq}"


def tick(price: str, ts: int = 1000, high: str | None = None, low: str | None = None) -> Tick:
    return Tick(symbol=SYM, price=D(price), high=D(high or price), low=D(low or price),
                ts=D(ts), time=f"t{ts}")


def order(seq: int, side: Side, type_: OrderType, state: OrderState = OrderState.NEW, *,
          qty: str = "1", stop: str | None = None, limit: str | None = None,
          replaces: str | None = None, executed: str = "0") -> Order:
    return Order(client_order_id=cid(seq), position_id=PID, symbol=SYM, side=side, type=type_,
                 qty=D(qty), state=state, stop_price=D(stop) if stop else None,
                 limit_price=D(limit) if limit else None, replaces=replaces,
                 executed_qty=D(executed))


def buy(state: OrderState = OrderState.PENDING_NEW) -> Order:
    return order(1, Side.BUY, OrderType.MARKET, state)


def stop(seq: int = 2, state: OrderState = OrderState.NEW, stop_: str = "99",
         limit: str = "98.01", **kw: Any) -> Order:
    return order(seq, Side.SELL, OrderType.STOP_LOSS_LIMIT, state, stop=stop_, limit=limit, **kw)


def sale(seq: int = 3, state: OrderState = OrderState.PENDING_NEW, qty: str = "1") -> Order:
    return order(seq, Side.SELL, OrderType.MARKET, state, qty=qty)


def ex(price: str, qty: str = "1", fee: str = "0.1", asset: str = "USDT",
       tid: str = "t1") -> Execution:
    return Execution(trade_id=tid, price=D(price), qty=D(qty), fee=D(fee), fee_asset=asset,
                     ts=D(1000), time="t-fill")


def refused(o: Order, reason: str, code: int = -2010) -> OrderRejected:
    """The venue's refusal of ``o``, classified as the Gateway does."""
    return OrderRejected(order=o, reason=reason, code=code,
                         kind=classify(code=code, reason=reason))


def report(o: Order, state: OrderState, *executions: Execution, executed: str | None = None,
           triggered_ts: int | None = None) -> OrderReport:
    done = D(executed) if executed else sum((e.qty for e in executions), D(0))
    return OrderReport(client_order_id=o.client_order_id, symbol=SYM, side=o.side, type=o.type,
                       state=state, qty=o.qty, executed_qty=done, stop_price=o.stop_price,
                       limit_price=o.limit_price, executions=executions,
                       triggered=triggered_ts is not None,
                       triggered_ts=D(triggered_ts) if triggered_ts else None)


def position(state: PositionState = PositionState.OPEN, **changes: Any) -> Position:
    base = Position(position_id=PID, symbol=SYM, state=state, qty=D(1), entry_price=D(100),
                    entry_fee=D("0.1"), highest=D(110), stop=D(99), limit=D("98.01"),
                    stop_order_id=cid(2), seq=2, quote_asset="USDT")
    return base.replace(**changes)


def flat(**changes: Any) -> PairState:
    return PairState(position=Position(position_id="p0", symbol=SYM,
                                       state=PositionState.FLAT), **changes)


def entering(**changes: Any) -> PairState:
    p = Position(position_id=PID, symbol=SYM, state=PositionState.ENTERING, seq=1)
    return PairState(position=p, orders={cid(1): buy()}, in_flight=frozenset({cid(1)}),
                     **{"last_price": D(100), **changes})


def opened(*orders: Order, last: str = "105", in_flight: frozenset[str] = frozenset(),
           **changes: Any) -> PairState:
    tracked = orders or (stop(),)
    return PairState(position=position(**changes), orders={o.client_order_id: o for o in tracked},
                     in_flight=in_flight, last_price=D(last), last_ts=D(1000))


def exiting(*orders: Order, reason: str = "timeout", **changes: Any) -> PairState:
    """Leaving at market: the cancel of the stop is out (or, without a stop, the sale)."""
    tracked = orders or (stop(), sale())
    p = position(PositionState.EXITING, seq=3, exit_reason=reason, **changes)
    waiting = next((o for o in tracked if o.type is OrderType.STOP_LOSS_LIMIT), tracked[-1])
    return PairState(position=p, orders={o.client_order_id: o for o in tracked},
                     in_flight=frozenset({waiting.client_order_id}), last_price=D(95),
                     last_ts=D(1000))


def run(state: PairState, *events: Any, pair: Pair = PAIR) -> tuple[PairState, list[Any]]:
    effects: list[Any] = []
    for event in events:
        state, out = step(pair, state, event)
        effects += out
    return state, effects


def sends(effects: list[Any]) -> list[Any]:
    return [e.command for e in effects if isinstance(e, Send)]


def shape(effects: list[Any]) -> list[str]:
    """The effects that reach the world, in order: durable writes and sends by kind."""
    out = []
    for e in effects:
        if isinstance(e, Write) and e.durable:
            out.append("write-ahead")
        elif isinstance(e, Send):
            out.append(type(e.command).__name__)
        elif isinstance(e, Halt):
            out.append("halt")
        elif isinstance(e, Closed):
            out.append("closed")
    return out


FILL_100 = report(buy(), OrderState.FILLED, ex("100"))
