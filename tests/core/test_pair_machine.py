"""The pair's state machine, table-driven: every transition of FLAT → ENTERING → OPEN →
EXITING → FLAT, each venue outcome in each state, partial fills, outside cancels, the timeout
exit, refused moves and stops that would trigger (DESIGN.md §3, §4)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal as D
from typing import Any

import pytest

from core.commands import (
    BalanceSeen,
    CancelOrder,
    CancelStrays,
    OrderMissing,
    OrderRejected,
    OrderUpdated,
    PlaceMarketOrder,
    PlaceStop,
    QueryOrder,
    ReplaceStop,
    StopReplaced,
    StraysCanceled,
)
from core.errors import INSUFFICIENT_BALANCE
from core.pair_machine import (
    Closed,
    Count,
    GatewayRestarted,
    Log,
    Pair,
    PairState,
    PriceSeen,
    Send,
    Started,
    StopMoved,
    Write,
    initial_state,
)
from core.types import (
    EntryMode,
    OrderState,
    OrderType,
    PairSettings,
    PositionState,
    ReplaceReport,
    Side,
)
from tests.core.pair_builders import (  # noqa: F401 - the table's vocabulary
    FILL_100,
    FILTERS,
    PAIR,
    PID,
    SETTINGS,
    SYM,
    buy,
    cid,
    entering,
    ex,
    exiting,
    flat,
    opened,
    order,
    position,
    refused,
    report,
    run,
    sale,
    sends,
    shape,
    stop,
    tick,
)

# --- the table ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    state: PairState
    events: tuple[Any, ...]
    becomes: PositionState
    world: list[str]
    check: Callable[[PairState, list[Any]], Any] = field(default=lambda s, e: True)


FILL_100_BASE_FEE = report(buy(), OrderState.FILLED, ex("100", "1", "0.001", "BTC"))
REFUSED_FUNDS = refused(buy(), INSUFFICIENT_BALANCE)
REFUSED_FILTER = OrderRejected(order=buy(), reason="Filter failure: NOTIONAL", code=-1013)
MOVE = ReplaceStop(old=stop(), new=stop(3, OrderState.PENDING_NEW, "108", "106.92",
                                        replaces=cid(2)))


def replaced(canceled: bool, placed: bool, error: str = "Order would trigger immediately."):
    old, new = MOVE.old, MOVE.new
    return StopReplaced(old=old, new=new, report=ReplaceReport(
        canceled=report(old, OrderState.CANCELED) if canceled else None,
        new=report(new, OrderState.NEW) if placed else None,
        cancel_error=None if canceled else "Unknown order sent.",
        new_error=None if placed else error))


CASES = [
    # FLAT
    pytest.param(Case(flat(), (PriceSeen(tick=tick("100")),), PositionState.ENTERING,
                      ["write-ahead", "PlaceMarketOrder"],
                      lambda s, e: sends(e)[0].order.qty == D(1)), id="flat-price-buys"),
    pytest.param(Case(flat(closed_on_this_price=True), (PriceSeen(tick=tick("100")),),
                      PositionState.FLAT, []), id="flat-no-reentry-on-the-closing-price"),
    pytest.param(Case(flat(entry_retry_at=D(1001)), (PriceSeen(tick=tick("100")),),
                      PositionState.FLAT, []), id="flat-in-backoff-waits"),
    pytest.param(Case(flat(entry_retry_at=D(1000)), (PriceSeen(tick=tick("100")),),
                      PositionState.ENTERING, ["write-ahead", "PlaceMarketOrder"]),
                 id="flat-backoff-over-buys"),
    pytest.param(Case(flat(), (PriceSeen(tick=tick("200000")),), PositionState.FLAT,
                      ["write-ahead", "halt"],
                      lambda s, e: s.halted and "min_notional" in s.position.halt_reason
                      and e[0].kv[0][0] == "halt:BTCUSDT"),
                 id="flat-below-min-notional-halts"),
    pytest.param(Case(flat(halted=True), (PriceSeen(tick=tick("100")),), PositionState.FLAT,
                      []), id="flat-halted-does-nothing"),
    # ENTERING
    pytest.param(Case(entering(), (OrderUpdated(report=FILL_100, reply=True),),
                      PositionState.OPEN, ["write-ahead", "PlaceStop"],
                      lambda s, e: (sends(e)[0].order.stop_price, sends(e)[0].order.limit_price,
                                    s.position.entry_price) == (D(90), D("89.10"), D(100))),
                 id="entering-filled-opens-with-first-stop"),
    pytest.param(Case(entering(), (OrderUpdated(report=FILL_100_BASE_FEE, reply=True),),
                      PositionState.OPEN, ["write-ahead", "PlaceStop"],
                      lambda s, e: (s.position.qty, sends(e)[0].order.qty,
                                    s.position.entry_fee) == (D("0.999"), D("0.999"), D("0.1"))),
                 id="entering-base-fee-stop-holds-what-was-received"),
    pytest.param(Case(entering(last_price=D(89)), (OrderUpdated(report=FILL_100, reply=True),),
                      PositionState.EXITING, ["write-ahead", "PlaceMarketOrder"],
                      lambda s, e: s.position.exit_reason == "stop"),
                 id="entering-filled-after-a-fast-fall-exits-at-market"),
    pytest.param(Case(entering(last_ts=D(1000)), (REFUSED_FUNDS,), PositionState.FLAT, [],
                      lambda s, e: (s.entry_retry_at, s.halted) == (D(1001), False)),
                 id="entering-refused-for-funds-backs-off"),
    pytest.param(Case(entering(), (REFUSED_FILTER,), PositionState.FLAT, ["write-ahead", "halt"],
                      lambda s, e: s.halted), id="entering-refused-by-a-filter-halts"),
    pytest.param(Case(entering(), (OrderMissing(order=buy()),), PositionState.FLAT, []),
                 id="entering-missing-goes-flat"),
    pytest.param(Case(entering(), (OrderUpdated(report=report(buy(), OrderState.EXPIRED),
                                                reply=True),), PositionState.FLAT, []),
                 id="entering-expired-goes-flat"),
    # OPEN: prices
    pytest.param(Case(opened(), (PriceSeen(tick=tick("120")),), PositionState.OPEN,
                      ["write-ahead", "ReplaceStop"],
                      lambda s, e: (sends(e)[0].new.stop_price, sends(e)[0].gap) == (D(108), D(9))),
                 id="open-new-high-moves-the-stop"),
    pytest.param(Case(opened(stop(stop_="108", limit="106.92"), stop=D(108),
                             limit=D("106.92")),
                      (PriceSeen(tick=tick("120.5")),), PositionState.OPEN, []),
                 id="open-move-below-min-move-waits"),
    pytest.param(Case(opened(), (PriceSeen(tick=tick("107", high="120")),),
                      PositionState.EXITING, ["write-ahead", "CancelOrder"],
                      lambda s, e: s.position.exit_reason == "stop"),
                 id="open-candidate-through-the-price-exits"),
    pytest.param(Case(opened(in_flight=frozenset({cid(9)})), (PriceSeen(tick=tick("120")),),
                      PositionState.OPEN, [], lambda s, e: s.position.highest == D(120)),
                 id="open-move-in-flight-only-raises-highest"),
    pytest.param(Case(opened(), (PriceSeen(tick=tick("98", ts=1000)),), PositionState.OPEN, [],
                      lambda s, e: s.position.triggered_at == D(1000)),
                 id="open-trigger-starts-the-timeout"),
    pytest.param(Case(opened(triggered_at=D(900)), (PriceSeen(tick=tick("97", ts=960)),),
                      PositionState.EXITING, ["write-ahead", "CancelOrder"],
                      lambda s, e: s.position.exit_reason == "timeout"),
                 id="open-timeout-exit-writes-sale-then-cancels"),
    # OPEN: venue events
    pytest.param(Case(opened(), (OrderUpdated(report=report(stop(), OrderState.FILLED,
                                                            ex("99"))),),
                      PositionState.FLAT, ["write-ahead", "closed"],
                      lambda s, e: s.position.pnl == D(-1) - D("0.1") - D("0.1")),
                 id="open-stop-filled-closes"),
    pytest.param(Case(opened(), (OrderUpdated(report=report(stop(), OrderState.NEW)),),
                      PositionState.OPEN, [],
                      lambda s, e: not any(isinstance(x, Log) for x in e)),
                 id="open-stop-reported-again-unchanged-logs-nothing"),
    pytest.param(Case(opened(), (OrderUpdated(report=report(stop(), OrderState.CANCELED)),),
                      PositionState.OPEN, ["write-ahead", "PlaceStop"],
                      lambda s, e: sends(e)[0].order.stop_price == D(99)),
                 id="open-canceled-outside-places-a-fresh-stop"),
    pytest.param(Case(opened(last="98"), (OrderUpdated(report=report(stop(),
                                                                     OrderState.CANCELED)),),
                      PositionState.EXITING, ["write-ahead", "PlaceMarketOrder"]),
                 id="open-canceled-outside-below-the-stop-exits"),
    pytest.param(Case(opened(in_flight=frozenset({cid(3)}), seq=3),
                      (replaced(canceled=True, placed=True),), PositionState.OPEN, [],
                      lambda s, e: (s.position.stop, s.position.stop_moves) == (D(108), 1)
                      and [(x.old, x.new) for x in e if isinstance(x, StopMoved)]
                      == [(D(99), D(108))]
                      and [x.event for x in e if isinstance(x, Log)] == ["stop_moved"]),
                 id="open-move-done-logs-the-move-once"),
    pytest.param(Case(opened(in_flight=frozenset({cid(3)}), seq=3),
                      (replaced(canceled=True, placed=False),), PositionState.OPEN,
                      ["write-ahead", "PlaceStop"]),
                 id="open-move-409-cancel-done-new-refused-protects-again"),
    pytest.param(Case(opened(in_flight=frozenset({cid(3)}), seq=3, last="98"),
                      (replaced(canceled=True, placed=False),), PositionState.EXITING,
                      ["write-ahead", "PlaceMarketOrder"]),
                 id="open-move-409-and-fresh-stop-would-trigger-exits"),
    pytest.param(Case(opened(in_flight=frozenset({cid(3)}), seq=3),
                      (replaced(canceled=False, placed=False),), PositionState.OPEN,
                      ["QueryOrder"], lambda s, e: sends(e)[0].order == stop()),
                 id="open-move-cancel-refused-asks-about-the-old-stop"),
    pytest.param(Case(opened(stop(state=OrderState.PENDING_NEW), in_flight=frozenset({cid(2)})),
                      (refused(stop(), "Order would trigger immediately."),),
                      PositionState.EXITING, ["write-ahead", "PlaceMarketOrder"]),
                 id="open-stop-refused-would-trigger-exits"),
    pytest.param(Case(opened(stop(state=OrderState.PENDING_NEW), in_flight=frozenset({cid(2)})),
                      (refused(stop(), "Stop price would trigger immediately."),),
                      PositionState.EXITING, ["write-ahead", "PlaceMarketOrder"]),
                 id="open-stop-refused-in-the-live-venue's-words-exits"),
    pytest.param(Case(opened(stop(state=OrderState.PENDING_NEW), in_flight=frozenset({cid(2)})),
                      (refused(stop(), "Filter failure: MAX_NUM_ALGO_ORDERS", -1013),
                       StraysCanceled(symbol=SYM, canceled=2)),
                      PositionState.OPEN, ["CancelStrays", "write-ahead", "PlaceStop"]),
                 id="open-too-many-algo-orders-cancels-strays-then-protects"),
    pytest.param(Case(opened(stop(state=OrderState.PENDING_NEW), in_flight=frozenset({cid(2)})),
                      (refused(stop(), "Filter failure: MAX_NUM_ALGO_ORDERS", -2010),
                       StraysCanceled(symbol=SYM, canceled=2)),
                      PositionState.OPEN, ["CancelStrays", "write-ahead", "PlaceStop"]),
                 id="open-algo-cap-as-the-live-venue-codes-it-cancels-strays-then-protects"),
    pytest.param(Case(opened(stop(state=OrderState.PENDING_NEW), in_flight=frozenset({cid(2)})),
                      (refused(stop(), INSUFFICIENT_BALANCE),),
                      PositionState.OPEN, ["ReadBalance"],
                      lambda s, e: not s.halted and sends(e)[0].asset == "BTC"),
                 id="open-stop-refused-for-coins-reads-the-balance"),
    pytest.param(Case(opened(stop(state=OrderState.PENDING_NEW), in_flight=frozenset({cid(2)})),
                      (refused(stop(), INSUFFICIENT_BALANCE),
                       BalanceSeen(asset="BTC", free=D("0.4"))),
                      PositionState.OPEN, ["ReadBalance", "write-ahead", "PlaceStop"],
                      lambda s, e: (sends(e)[1].order.qty, s.position.qty,
                                    s.position.sold_outside, s.halted)
                      == (D("0.4"), D("0.4"), D("0.6"), False)),
                 id="open-coins-partly-sold-by-hand-protects-what-is-left"),
    pytest.param(Case(opened(stop(state=OrderState.PENDING_NEW), in_flight=frozenset({cid(2)})),
                      (refused(stop(), INSUFFICIENT_BALANCE), BalanceSeen(asset="BTC", free=D(0))),
                      PositionState.FLAT, ["ReadBalance"],
                      lambda s, e: (s.position.exit_reason, s.position.sold_outside,
                                    s.position.pnl, s.halted)
                      == ("sold_outside", D(1), None, False)),
                 id="open-coins-all-sold-by-hand-closes-unbooked"),
    pytest.param(Case(opened(stop(state=OrderState.PENDING_NEW), in_flight=frozenset({cid(2)})),
                      (OrderUpdated(report=report(stop(), OrderState.NEW, triggered_ts=990),
                                    reply=True),),
                      PositionState.OPEN, [], lambda s, e: s.position.triggered_at == D(990)
                      and Count(order_type="STOP_LOSS_LIMIT", result="accepted") in e),
                 id="open-venue-says-triggered-its-clock-starts-the-timeout"),
    pytest.param(Case(opened(), (OrderUpdated(report=report(stop(7), OrderState.FILLED,
                                                            ex("99"))),),
                      PositionState.OPEN, []), id="open-report-of-an-untracked-order-ignored"),
    # EXITING
    pytest.param(Case(exiting(), (OrderUpdated(report=report(stop(), OrderState.CANCELED),
                                               reply=True),),
                      PositionState.EXITING, ["PlaceMarketOrder"],
                      lambda s, e: sends(e)[0].order == sale()), id="exiting-canceled-sells"),
    pytest.param(Case(exiting(), (OrderUpdated(report=report(stop(), OrderState.FILLED,
                                                             ex("98.5")), reply=True),),
                      PositionState.FLAT, ["write-ahead", "closed"],
                      lambda s, e: s.position.exit_reason == "stop" and any(
                          o.state is OrderState.FAILED for w in e if isinstance(w, Write)
                          for o in w.orders)),
                 id="exiting-stop-filled-first-closes-sale-not-needed"),
    pytest.param(Case(exiting(sale(state=OrderState.PENDING_NEW)),
                      (OrderUpdated(report=report(sale(), OrderState.FILLED, ex("95")),
                                    reply=True),),
                      PositionState.FLAT, ["write-ahead", "closed"],
                      lambda s, e: (s.position.exit_reason, s.position.pnl) ==
                      ("timeout", D(-5) - D("0.2"))),
                 id="exiting-sale-filled-closes"),
    pytest.param(Case(exiting(sale(state=OrderState.NEW)),
                      (OrderUpdated(report=report(sale(), OrderState.EXPIRED), reply=True),),
                      PositionState.EXITING, ["write-ahead", "PlaceMarketOrder"],
                      lambda s, e: sends(e)[0].order.client_order_id == cid(4)),
                 id="exiting-sale-expired-sells-again"),
    pytest.param(Case(exiting(sale(state=OrderState.PENDING_NEW)),
                      (refused(sale(), INSUFFICIENT_BALANCE),),
                      PositionState.EXITING, ["ReadBalance"]),
                 id="exiting-sale-refused-for-coins-reads-the-balance"),
    pytest.param(Case(exiting(sale(state=OrderState.PENDING_NEW)),
                      (refused(sale(), INSUFFICIENT_BALANCE), BalanceSeen(asset="BTC",
                                                                       free=D("0.5"))),
                      PositionState.EXITING, ["ReadBalance", "write-ahead", "PlaceMarketOrder"],
                      lambda s, e: sends(e)[1].order.qty == D("0.5")),
                 id="exiting-sale-refused-for-coins-sells-what-is-left"),
    # partial fills
    pytest.param(Case(opened(), (
        OrderUpdated(report=report(stop(), OrderState.PARTIALLY_FILLED, ex("99", "0.4",
                                                                           tid="a"))),
        OrderUpdated(report=report(stop(), OrderState.FILLED, ex("98.5", "0.6", tid="b"),
                                   executed="1"))),
        PositionState.FLAT, ["write-ahead", "closed"],
        lambda s, e: s.position.exit_price == (D("99") * D("0.4") + D("98.5") * D("0.6"))),
        id="partial-fills-close-at-their-average"),
    pytest.param(Case(exiting(stop(executed="0.4"), sale(qty="0.6")), (
        OrderUpdated(report=report(stop(), OrderState.CANCELED, ex("99", "0.4", tid="a")),
                     reply=True),),
        PositionState.EXITING, ["PlaceMarketOrder"],
        lambda s, e: sends(e)[0].order.qty == D("0.6")),
        id="partial-stop-canceled-sells-the-rest"),
    pytest.param(Case(exiting(stop(), sale(qty="1")), (
        OrderUpdated(report=report(stop(), OrderState.CANCELED, ex("99", "0.4", tid="a")),
                     reply=True),),
        PositionState.EXITING, ["write-ahead", "PlaceMarketOrder"],
        lambda s, e: sends(e)[0].order.qty == D("0.6")),
        id="stop-filled-more-while-canceled-sale-resized"),
    # restarts
    pytest.param(Case(initial_state(position(), (stop(), stop(5, OrderState.PENDING_NEW)),
                                    symbol=SYM),
                      (Started(confirmed_open=frozenset({cid(2)})),), PositionState.OPEN,
                      ["QueryOrder"], lambda s, e: sends(e)[0].order.client_order_id == cid(5)),
                 id="started-asks-about-intents-not-about-confirmed-stops"),
    pytest.param(Case(initial_state(position(stop_order_id=None), (), symbol=SYM),
                      (Started(),), PositionState.OPEN, ["write-ahead", "PlaceStop"]),
                 id="started-open-without-stop-protects"),
    pytest.param(Case(opened(stop(), MOVE.new, in_flight=frozenset({cid(3)})),
                      (GatewayRestarted(), OrderMissing(order=MOVE.new)), PositionState.OPEN,
                      ["QueryOrder", "QueryOrder"],
                      lambda s, e: [c.order.client_order_id for c in sends(e)] ==
                      [cid(3), cid(2)]),
                 id="gateway-restart-asks-again-then-about-the-old-stop"),
    pytest.param(Case(opened(stop(), MOVE.new, in_flight=frozenset({cid(3)})),
                      (OrderUpdated(report=report(MOVE.new, OrderState.NEW), reply=True),),
                      PositionState.OPEN, ["QueryOrder"],
                      lambda s, e: s.position.stop == D(108)),
                 id="lost-move-answer-found-done"),
]


@pytest.mark.parametrize("case", CASES)
def test_step(case: Case):
    state, effects = run(case.state, *case.events)

    assert state.position.state is case.becomes
    assert shape(effects) == case.world
    assert case.check(state, effects)


# --- invariants over the table ------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_every_order_sent_was_written_ahead(case: Case):
    _, effects = run(case.state, *case.events)
    written: set[str] = {cid_ for cid_ in case.state.orders}
    for effect in effects:
        if isinstance(effect, Write):
            written |= {o.client_order_id for o in effect.orders}
        elif isinstance(effect, Send) and isinstance(effect.command, PlaceMarketOrder | PlaceStop):
            assert effect.command.order.client_order_id in written
        elif isinstance(effect, Send) and isinstance(effect.command, ReplaceStop):
            assert effect.command.new.client_order_id in written


def test_a_pair_with_entry_none_never_buys():
    pair = Pair(settings=PairSettings(symbol=SYM, entry=EntryMode.NONE), filters=FILTERS)

    state, effects = run(flat(), PriceSeen(tick=tick("100")), pair=pair)

    assert state.position.state is PositionState.FLAT and effects == []


def test_a_full_round_trip_books_the_trade_once():
    state, effects = run(
        flat(), PriceSeen(tick=tick("100")),
    )
    buy_order = sends(effects)[0].order
    fill = report(buy_order, OrderState.FILLED, ex("100"))
    state, more = run(state, OrderUpdated(report=fill, reply=True))
    first_stop = sends(more)[0].order
    state, more = run(state, OrderUpdated(report=report(first_stop, OrderState.NEW), reply=True),
                      PriceSeen(tick=tick("89", ts=1001)),
                      OrderUpdated(report=report(first_stop, OrderState.FILLED, ex("89.5")),
                                   matched=True),
                      PriceSeen(tick=tick("90", ts=1002)))

    closed = [e.position for e in more if isinstance(e, Closed)]
    assert len(closed) == 1 and closed[0].exit_reason == "stop"
    assert state.position.state is PositionState.FLAT  # no re-entry on the closing price
    assert state.realized == closed[0].pnl
    state, more = run(state, PriceSeen(tick=tick("91", ts=1003)))
    assert shape(more) == ["write-ahead", "PlaceMarketOrder"]  # the next price re-enters
    assert isinstance(sends(more)[0], PlaceMarketOrder)


def test_cancel_order_is_sent_once_per_exit():
    state, effects = run(opened(triggered_at=D(900)), PriceSeen(tick=tick("97", ts=960)),
                         PriceSeen(tick=tick("96", ts=961)))

    assert [type(c) for c in sends(effects)] == [CancelOrder]


def test_query_is_the_only_answer_to_an_unclear_intent():
    state, effects = run(initial_state(
        position(PositionState.ENTERING, stop=None, stop_order_id=None), (buy(),), symbol=SYM),
        Started())

    assert [type(c) for c in sends(effects)] == [QueryOrder]
    assert isinstance(sends(effects)[0], QueryOrder)
    assert CancelStrays not in [type(c) for c in sends(effects)]


def test_an_entry_that_cannot_be_protected_commits_its_fill_and_the_sale_in_one_unit():
    state, effects = run(entering(last_price=D(89)), OrderUpdated(report=FILL_100, reply=True))

    durable = [e for e in effects if isinstance(e, Write) and e.durable]
    assert len(durable) == 1  # a full disk leaves the entry unsettled, never a bare position
    (unit,) = durable
    assert [o.type for o in unit.orders] == [OrderType.MARKET, OrderType.MARKET]
    assert [o.side for o in unit.orders] == [Side.BUY, Side.SELL] and unit.fills
    assert state.position.state is PositionState.EXITING


def test_a_gateway_restart_during_a_cancel_of_strays_asks_again():
    state = opened(stop(state=OrderState.PENDING_NEW), in_flight=frozenset({cid(2)}))
    state, _ = run(state, refused(stop(), "Filter failure: MAX_NUM_ALGO_ORDERS", -1013))
    assert f"strays:{SYM}" in state.in_flight

    state, effects = run(state, GatewayRestarted())

    assert f"strays:{SYM}" not in state.in_flight
    assert shape(effects) == ["write-ahead", "PlaceStop"]  # protected again (or refused again)
