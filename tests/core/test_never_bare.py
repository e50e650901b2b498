"""A pair that holds coins never stops protecting them: over any sequence of prices, clock
ticks and venue answers (each command answered in any of the ways the venue answers it, in any
order, a Gateway lost on the way), the pair machine never rests with coins held, no stop on the
venue, nothing in flight and no exit under way, except while the market is not trading or a
retry is due at a known time. And it always gets out: once the venue answers plainly, the coins
end under a stop or sold."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from decimal import Decimal as D
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.commands import (
    BalanceSeen,
    CancelOrder,
    CancelRefused,
    CancelStrays,
    DropMove,
    FiltersRefreshed,
    MarketReopened,
    MoveDropped,
    OrderMissing,
    OrderUpdated,
    PlaceMarketOrder,
    PlaceStop,
    QueryOrder,
    ReadBalance,
    RefreshFilters,
    ReplaceStop,
    StopReplaced,
    StraysCanceled,
    WatchMarket,
)
from core.errors import INSUFFICIENT_BALANCE
from core.pair_machine import (
    GatewayRestarted,
    Pair,
    PairState,
    PriceSeen,
    Send,
    TimePassed,
    is_stop,
    step,
)
from core.types import (
    Execution,
    Order,
    OrderReport,
    OrderState,
    PositionState,
    ReplaceReport,
    Side,
    Tick,
)
from tests.core.pair_builders import FILTERS, SETTINGS, SYM, flat, refused

PAIR = Pair(settings=replace(SETTINGS, unprotected_exit_s=D(120)), filters=FILTERS, prefix="rt")
REFUSALS = [("Stop price would trigger immediately.", -2010), ("Market is closed.", -1013),
            ("Filter failure: MAX_NUM_ALGO_ORDERS", -2010),
            ("Filter failure: PERCENT_PRICE_BY_SIDE", -1013), (INSUFFICIENT_BALANCE, -2010),
            ("Duplicate order sent.", -2010)]
PRICES = [D(p) for p in ("85", "92", "97", "99.5", "100", "104", "110", "118", "126")]
_trades = itertools.count(1)


def report(o: Order, state: OrderState, *, price: D | None = None) -> OrderReport:
    executions = ()
    if state is OrderState.FILLED:
        at = price if price is not None else (o.limit_price or D(100))
        executions = (Execution(trade_id=f"t{next(_trades)}", price=at, qty=o.qty,
                                fee=D("0.01"), fee_asset="USDT", ts=D(1000)),)
    return OrderReport(client_order_id=o.client_order_id, symbol=SYM, side=o.side, type=o.type,
                       state=state, qty=o.qty,
                       executed_qty=o.qty if state is OrderState.FILLED else D(0),
                       stop_price=o.stop_price, limit_price=o.limit_price, executions=executions)


def answers(command: Any, price: D, held: D) -> list[Any]:
    """Every way the venue may answer ``command``; the first is the plain one."""
    match command:
        case PlaceMarketOrder(order=o):
            return [OrderUpdated(report=report(o, OrderState.FILLED, price=price), reply=True),
                    OrderMissing(order=o), *(refused(o, r, c) for r, c in REFUSALS)]
        case PlaceStop(order=o):
            return [OrderUpdated(report=report(o, OrderState.NEW), reply=True),
                    OrderMissing(order=o), *(refused(o, r, c) for r, c in REFUSALS)]
        case ReplaceStop(old=old, new=new):
            both = ReplaceReport(canceled=report(old, OrderState.CANCELED),
                                 new=report(new, OrderState.NEW))
            half = ReplaceReport(canceled=report(old, OrderState.CANCELED), new=None,
                                 new_error="Stop price would trigger immediately.")
            none = ReplaceReport(canceled=None, new=None, cancel_error="Unknown order sent.")
            return [StopReplaced(old=old, new=new, report=r) for r in (both, half, none)]
        case CancelOrder(order=o):
            return [OrderUpdated(report=report(o, OrderState.CANCELED), reply=True),
                    OrderUpdated(report=report(o, OrderState.FILLED, price=price), reply=True),
                    OrderMissing(order=o), CancelRefused(order=o, reason="Market is closed.")]
        case QueryOrder(order=o):
            plain = (OrderMissing(order=o) if o.state is OrderState.PENDING_NEW
                     else OrderUpdated(report=report(o, OrderState.CANCELED), reply=True))
            resting = OrderState.NEW if is_stop(o) else OrderState.EXPIRED  # a market order
            return [plain, OrderUpdated(report=report(o, resting), reply=True),  # never rests
                    OrderUpdated(report=report(o, OrderState.FILLED, price=price), reply=True),
                    OrderMissing(order=o)]
        case CancelStrays(symbol=symbol):
            return [StraysCanceled(symbol=symbol, canceled=1)]
        case WatchMarket(symbol=symbol):
            return [MarketReopened(symbol=symbol, price=price)]
        case RefreshFilters():
            return [FiltersRefreshed(filters=FILTERS)]
        case ReadBalance(asset=asset):
            return [BalanceSeen(asset=asset, free=held), BalanceSeen(asset=asset, free=D(0)),
                    BalanceSeen(asset=asset, free=(held / 2).quantize(D("0.001")))]
    raise AssertionError(f"no answers for {command!r}")


@dataclass
class World:
    """The pair machine and a venue that answers its commands in any way it can."""

    state: PairState = field(default_factory=lambda: flat(last_ts=D(1000)))
    pending: list[Any] = field(default_factory=list)
    ts: D = D(1000)
    price: D = D(100)

    def apply(self, event: Any) -> None:
        self.state, effects = step(PAIR, self.state, event)
        for command in [e.command for e in effects if isinstance(e, Send)]:
            if isinstance(command, DropMove):  # the Gateway drops the move if it still has it
                self.withdraw(command.order)
            else:
                self.pending.append(command)

    def withdraw(self, order: Order) -> None:
        queued = [c for c in self.pending if isinstance(c, ReplaceStop)
                  and c.new.client_order_id == order.client_order_id]
        if queued:
            self.pending.remove(queued[0])
            self.apply(MoveDropped(order=order))

    def held(self) -> D:
        p = self.state.position
        return p.qty if p.state in (PositionState.OPEN, PositionState.EXITING) else D(0)

    def live_stop(self) -> Order | None:
        return next((o for o in self.state.orders.values()
                     if is_stop(o) and o.state.is_open), None)

    def tick(self, price: D) -> None:
        self.ts += 1
        self.price = price
        self.apply(PriceSeen(tick=Tick(symbol=SYM, price=price, high=price, low=price,
                                       ts=self.ts, time=str(self.ts))))

    def later(self, seconds: int) -> None:
        self.ts += seconds
        self.apply(TimePassed(ts=self.ts))

    def answer(self, index: int, choice: int) -> None:
        command = self.pending.pop(index)
        options = answers(command, self.price, self.held())
        self.apply(options[choice % len(options)])


def bare(state: PairState) -> bool:
    """Coins held, no stop on the venue, nothing asked, no wait with an end."""
    p = state.position
    if p.state not in (PositionState.OPEN, PositionState.EXITING) or p.qty <= 0:
        return False
    if any(is_stop(o) and o.state.is_open for o in state.orders.values()):
        return False
    return not (state.in_flight or state.guard.market_closed or state.guard.retry_at)


def play(world: World, data: Any, steps: int) -> None:
    for _ in range(steps):
        moves = ["price", "time", "restart", "fill", "cancel"] + ["answer"] * 6
        move = data.draw(st.sampled_from(moves))
        if move == "answer" and world.pending:
            world.answer(data.draw(st.integers(0, len(world.pending) - 1)),
                         data.draw(st.integers(0, 12)))
        elif move == "price":
            world.tick(data.draw(st.sampled_from(PRICES)))
        elif move == "time":
            world.later(data.draw(st.sampled_from([1, 5, 61, 130])))
        elif move == "restart":
            world.pending.clear()  # the Gateway died with whatever it had in hand
            world.apply(GatewayRestarted())
        elif (stop := world.live_stop()) is not None and move in ("fill", "cancel"):
            state = OrderState.FILLED if move == "fill" else OrderState.CANCELED
            world.apply(OrderUpdated(report=report(stop, state, price=stop.limit_price)))
        assert not bare(world.state), (move, world.state)


def settle(world: World) -> None:
    """The venue answers plainly and time passes: the coins end protected or sold."""
    for _ in range(60):
        if world.pending:
            world.answer(0, 0)
        else:
            world.later(61)
        assert not bare(world.state)
        p = world.state.position
        done = p.state is PositionState.FLAT or (
            p.state is PositionState.OPEN and world.live_stop() is not None)
        if done and not world.pending:
            return
    raise AssertionError(f"never protected nor sold: {world.state}")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_sequence_of_answers_leaves_held_coins_bare(data):
    world = World()

    play(world, data, steps=40)
    settle(world)


def test_the_world_reaches_every_refusal_class():
    """The vocabulary above is not vacuous: a stop and a sale can each be refused every way."""
    world = World()
    world.tick(D(100))
    buy = world.pending[0]
    kinds = {a.kind for a in answers(PlaceStop(order=buy.order), D(100), D(1))
             if hasattr(a, "kind")}
    assert len(kinds) == len(REFUSALS)
    assert world.state.position.state is PositionState.ENTERING and buy.order.side is Side.BUY
