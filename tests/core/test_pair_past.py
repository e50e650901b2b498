"""An event about an order of an earlier position never touches the current one (issue 26):
a report, a query's answer, a cancelReplace refused with -2022 and a missing order of the
previous position's stop, while a new position is open, update that order's row (and book
its fill against that position) and nothing else."""

from __future__ import annotations

from decimal import Decimal as D

from core.commands import (
    CancelOrder,
    DropMove,
    MoveDropped,
    OrderMissing,
    OrderUpdated,
    QueryOrder,
    ReplaceStop,
    StopReplaced,
)
from core.pair_machine import Closed, PriceSeen, StopMoved, Write
from core.types import Order, OrderState, OrderType, PositionState, ReplaceReport, Side
from tests.core.pair_builders import (
    FILL_100,
    SYM,
    buy,
    entering,
    ex,
    opened,
    report,
    run,
    sends,
    stop,
    tick,
)

OLD = "p0"  # the previous position; the current one is "p1" (pair_builders.PID)


def old_order(seq: int, state: OrderState = OrderState.NEW, **kw) -> Order:
    return Order(client_order_id=f"rt-{OLD}-{seq}", position_id=OLD, symbol=SYM,
                 side=Side.SELL, type=OrderType.STOP_LOSS_LIMIT, qty=D(1), state=state,
                 stop_price=D(99), limit_price=D("98.01"), **kw)


def current():
    """A new position open with its own stop; the old stop's move is still out."""
    move = old_order(3, OrderState.PENDING_NEW, replaces=f"rt-{OLD}-2")
    return opened(in_flight=frozenset({move.client_order_id})).replace(
        history={move.client_order_id: move})


def untouched(before, after, effects) -> bool:
    return (after.position == before.position and after.orders == before.orders
            and not any(isinstance(e, Closed | StopMoved) for e in effects))


def rows(effects) -> dict[str, Order]:
    return {o.client_order_id: o for e in effects if isinstance(e, Write) for o in e.orders}


def test_a_fill_report_of_the_old_stop_is_booked_against_the_old_position_only():
    before = current()
    filled = report(old_order(2), OrderState.FILLED, ex("99", tid="late"))

    after, effects = run(before, OrderUpdated(report=filled))

    assert untouched(before, after, effects)
    assert rows(effects)[f"rt-{OLD}-2"].state is OrderState.FILLED
    fills = [f for e in effects if isinstance(e, Write) for f in e.fills]
    assert [(f.position_id, f.exchange_trade_id) for f in fills] == [(OLD, "late")]


def test_a_query_answer_about_the_old_stop_does_not_close_the_new_position():
    before = current()

    after, effects = run(before, OrderUpdated(report=report(old_order(2), OrderState.FILLED,
                                                            ex("99")), reply=True))

    assert untouched(before, after, effects)
    assert after.position.state is PositionState.OPEN


def test_a_move_of_the_old_stop_refused_2022_updates_its_rows_and_asks_nothing():
    before = current()
    move = before.history[f"rt-{OLD}-3"]
    refused = StopReplaced(old=old_order(2), new=move, report=ReplaceReport(
        canceled=None, new=None, cancel_error="Unknown order sent.", cancel_error_code=-2011))

    after, effects = run(before, refused)

    assert untouched(before, after, effects)
    assert rows(effects)[move.client_order_id].state is OrderState.FAILED
    assert not [c for c in sends(effects) if isinstance(c, QueryOrder)]
    assert move.client_order_id not in after.in_flight and after.history == {}


def test_a_missing_order_of_the_old_position_is_marked_failed_only():
    before = current()
    move = before.history[f"rt-{OLD}-3"]

    after, effects = run(before, OrderMissing(order=move))

    assert untouched(before, after, effects)
    assert rows(effects)[move.client_order_id].state is OrderState.FAILED


def test_a_move_that_went_through_after_its_position_closed_is_canceled():
    before = current()
    move = before.history[f"rt-{OLD}-3"]
    both = StopReplaced(old=old_order(2), new=move, report=ReplaceReport(
        canceled=report(old_order(2), OrderState.CANCELED), new=report(move, OrderState.NEW)))

    after, effects = run(before, both)

    assert untouched(before, after, effects)
    assert [type(c) for c in sends(effects)] == [CancelOrder]
    assert sends(effects)[0].order.client_order_id == move.client_order_id


def test_the_issue_sequence_move_waits_stop_fills_pair_reenters_then_2022():
    # A move waits in the Gateway; the stop fills; the position closes; the move is withdrawn.
    state, effects = run(opened(), PriceSeen(tick=tick("120")))
    (move,) = [c for c in sends(effects) if isinstance(c, ReplaceStop)]
    state, effects = run(state, OrderUpdated(report=report(stop(), OrderState.FILLED,
                                                           ex("99"))))
    assert state.position.state is PositionState.FLAT
    assert [type(c) for c in sends(effects)] == [DropMove]
    # The Gateway had sent it already: no MoveDropped. The pair buys again once answered.
    refused = StopReplaced(old=move.old, new=move.new, report=ReplaceReport(
        canceled=None, new=None, cancel_error="Unknown order sent.", cancel_error_code=-2011))
    state, _ = run(state, refused, PriceSeen(tick=tick("100", ts=1001)))
    assert state.position.state is PositionState.ENTERING
    new_pid = state.position.position_id
    buy = next(iter(state.orders.values()))
    fill = report(buy, OrderState.FILLED, ex("100", qty=str(buy.qty), tid="new-buy"))
    state, effects = run(state, OrderUpdated(report=fill, reply=True))

    assert state.position.state is PositionState.OPEN and state.position.position_id == new_pid
    assert state.history == {} and "PlaceStop" in [type(c).__name__ for c in sends(effects)]


def test_a_move_withdrawn_before_it_was_sent_is_marked_not_sent():
    state, effects = run(opened(), PriceSeen(tick=tick("120")))
    (move,) = [c for c in sends(effects) if isinstance(c, ReplaceStop)]
    state, _ = run(state, OrderUpdated(report=report(stop(), OrderState.FILLED, ex("99"))))

    state, effects = run(state, MoveDropped(order=move.new))

    assert state.in_flight == frozenset() and state.history == {}
    assert rows(effects)[move.new.client_order_id].state is OrderState.FAILED


def test_an_entry_given_up_that_fills_after_all_is_taken_on_and_protected():
    flat, _ = run(entering(), OrderMissing(order=buy()))
    assert flat.position.state is PositionState.FLAT

    after, effects = run(flat, OrderUpdated(report=FILL_100))

    assert after.position.state is PositionState.OPEN and after.position.qty == D(1)
    assert [type(c).__name__ for c in sends(effects)] == ["PlaceStop"]
