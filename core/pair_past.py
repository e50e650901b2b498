"""Venue events about orders of a position that is no longer the pair's current one, for
``core.pair_machine``.

Every event about an order is matched to the position that order belongs to (the position part
of its client id, ``prefix-position-seq``), never to "the current position". An event about an
order of an earlier position updates that order's row, and books its fills against that
position, and nothing else: it never closes, resizes or protects the current position. The
orders of a position that closed while some of its commands were still out stay in
``PairState.history`` until the venue has answered them.

- A late fill (a sale of coins the current position does not own) is booked and logged.
- A stop of an earlier position that the venue says is still open (a move that went through
  after the position closed) is cancelled: it would sell coins no position owns.
- A stop move still waiting in the Gateway when its stop stopped mattering (filled, canceled)
  is withdrawn (``DropMove``); the Gateway answers ``MoveDropped`` if it had not sent it yet.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core import pair_logic as logic
from core.commands import (
    CancelOrder,
    CancelRefused,
    MoveDropped,
    OrderMissing,
    OrderRejected,
    OrderUpdated,
    StopReplaced,
)
from core.pair_state import Count, Send, is_stop
from core.pair_transitions import Transitions
from core.types import Order, OrderReport, OrderState, PositionState, Side

ZERO = Decimal(0)


def position_of(client_order_id: str) -> str | None:
    """The position part of one of our client ids (``prefix-position-seq``), or None."""
    parts = client_order_id.split("-")
    return parts[1] if len(parts) == 3 else None


def event_position(event: Any) -> str | None:
    """The position an order event is about (None: the event is not about one order)."""
    match event:
        case OrderUpdated(report=report):
            return position_of(report.client_order_id)
        case StopReplaced(new=order) | OrderRejected(order=order) | OrderMissing(order=order) \
                | CancelRefused(order=order) | MoveDropped(order=order):
            return order.position_id
    return None


class Past(Transitions):

    def is_past(self, event: Any) -> bool:
        """About an order of an earlier position: another position's, or, once the position
        closed (FLAT), one of its orders the pair no longer tracks."""
        pid = event_position(event)
        if pid is None:
            return False
        if pid != self.position.position_id:
            return True
        return self.position.state is PositionState.FLAT and \
            _client_id(event) not in self.state.orders

    def on_past(self, event: Any) -> None:
        match event:
            case OrderUpdated(report=report):
                self.answered(report.client_order_id)
                self.past_report(report)
            case StopReplaced(old=old, new=new, report=r):
                self.answered(new.client_order_id)
                rows = [new.replace(state=OrderState.FAILED, reason=r.new_error or r.cancel_error)
                        if r.new is None else logic.apply_report(new, r.new)]
                if r.canceled is not None:
                    rows.append(logic.apply_report(old, r.canceled))
                self.write(orders=tuple(rows))
                self.drop_history(new, old)
                if r.new is not None and r.new.state.is_open:
                    self.cancel_past(rows[0])  # placed after its position closed
            case OrderRejected(order=order, reason=reason):
                self.answered(order.client_order_id)
                self.write(orders=(order.replace(state=OrderState.REJECTED, reason=reason),))
                self.drop_history(order)
            case OrderMissing(order=order):
                self.answered(order.client_order_id)
                self.write(orders=(order.replace(state=OrderState.FAILED,
                                                 reason="unknown to the venue"),))
                self.drop_history(order)
            case MoveDropped(order=order):
                self.answered(order.client_order_id)
                self.write(orders=(order.replace(state=OrderState.FAILED, reason="not sent: "
                                                 "its stop no longer protected anything"),))
                self.drop_history(order)
            case CancelRefused(order=order):
                self.answered(order.client_order_id)
                self.log("past_order_not_canceled", "warning",
                         client_order_id=order.client_order_id, reason=event.reason)

    def past_report(self, report: OrderReport) -> None:
        cid = report.client_order_id
        row = self.state.history.get(cid) or _row_of(report)
        updated = logic.apply_report(row, report)
        fills = self.fills_of(updated, report) if report.executions else ()
        self.write(orders=(updated,), fills=fills)
        if report.executions and row.side is Side.SELL:
            sold = sum((ex.qty for ex in report.executions), ZERO)
            self.log("late_fill_of_a_closed_position", "warning", client_order_id=cid,
                     position_id=row.position_id, qty=sold,
                     note="booked against that position; the current one is untouched")
            self.effects.append(Count(order_type=row.type.value, result="late_fill"))
        if updated.state.is_final:
            self.drop_history(row)
        elif is_stop(updated) and updated.state.is_open:
            self.cancel_past(updated)  # a live stop for a position that closed
        else:
            self.set(history={**self.state.history, cid: updated})

    def cancel_past(self, order: Order) -> None:
        self.log("past_stop_canceled", "warning", client_order_id=order.client_order_id,
                 position_id=order.position_id, action="cancel: no position owns its coins")
        self.set(history={**self.state.history, order.client_order_id: order},
                 in_flight=self.state.in_flight | {order.client_order_id})
        self.effects.append(Send(command=CancelOrder(order=order)))

    def drop_history(self, *orders: Order) -> None:
        history = dict(self.state.history)
        for order in orders:
            history.pop(order.client_order_id, None)
        self.set(history=history)


def _client_id(event: Any) -> str:
    if isinstance(event, OrderUpdated):
        return event.report.client_order_id
    if isinstance(event, StopReplaced):
        return event.new.client_order_id
    return event.order.client_order_id


def _row_of(report: OrderReport) -> Order:
    """An order row rebuilt from the venue's report (one the pair no longer holds)."""
    return Order(client_order_id=report.client_order_id,
                 position_id=position_of(report.client_order_id) or "",
                 symbol=report.symbol, side=report.side, type=report.type, qty=report.qty,
                 state=report.state, stop_price=report.stop_price,
                 limit_price=report.limit_price, exchange_order_id=report.exchange_order_id,
                 trailing_delta=report.trailing_delta)
