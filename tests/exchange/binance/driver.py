"""A small order driver that follows DESIGN.md §4 over ``BinanceExchange``, for fault runs.

It keeps its own "DB" of order rows, written before each request (the write-ahead intent), and
handles each outcome as the rules say:
- unknown (timeout, 5xx, -1007): never resend; query by client id, then act;
- -2011 on cancel: re-query;
- cancelReplace 409/400: read both halves;
- 429 / clock skew: wait, then resend as is (nothing happened on the venue);
- a rejection: record it, never retry as is.
Every client id goes out in at most one order request, apart from those safe resends.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from core.errors import OrderRejected, RetryableVenueError, StatusUnknown, UnknownOrder
from core.money import floor_step
from core.types import OrderState, Side
from exchange.base import OrderReport, ReplaceReport
from exchange.binance import BinanceExchange

OPEN = (OrderState.NEW, OrderState.PARTIALLY_FILLED)


@dataclass
class Row:
    client_order_id: str
    symbol: str
    kind: str  # "buy" | "stop"
    state: OrderState = OrderState.PENDING_NEW
    sends: int = 0


@dataclass
class Position:
    position_id: str
    symbol: str
    tick: Decimal = Decimal("0.01")
    qty: Decimal = Decimal(0)
    stop: Decimal = Decimal(0)
    stop_order_id: str | None = None
    seq: int = 0


@dataclass
class Driver:
    ex: BinanceExchange
    rows: dict[str, Row] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    order_ops: int = 0
    outcomes: Counter = field(default_factory=Counter)

    # --- the write-ahead intent and one send ----------------------------------------------

    def intent(self, pos: Position, kind: str) -> Row:
        pos.seq += 1
        row = Row(f"rt-{pos.position_id}-{pos.seq}", pos.symbol, kind)
        self.rows[row.client_order_id] = row
        return row

    def send(self, rows: list[Row], call):
        """One order request; resent as is only when the venue certainly did nothing."""
        for row in rows:
            row.sends += 1
        while True:
            self.order_ops += 1
            try:
                return call()
            except RetryableVenueError as exc:
                self.outcomes["retryable"] += 1
                time.sleep(exc.retry_after_s or 0.01)

    def query(self, row: Row) -> OrderReport | None:
        """Ask until the venue answers. ``None``: it never saw the order."""
        while True:
            try:
                report = self.ex.get_order(symbol=row.symbol, client_order_id=row.client_order_id)
            except UnknownOrder:
                return None
            except (StatusUnknown, RetryableVenueError):
                self.outcomes["query-retry"] += 1
                time.sleep(0.005)
                continue
            row.state = report.state
            return report

    def settle_new(self, row: Row, call) -> OrderReport | None:
        """Send a new order; on an unknown outcome, query; a missing order's intent failed."""
        try:
            report = self.send([row], call)
            row.state = report.state
            self.outcomes["ok"] += 1
            return report
        except OrderRejected:
            row.state = OrderState.REJECTED
            self.outcomes["rejected"] += 1
            return None
        except StatusUnknown:
            self.outcomes["unknown"] += 1
            report = self.query(row)
            if report is None:
                row.state = OrderState.FAILED
                self.outcomes["unknown-not-placed"] += 1
            return report

    # --- position steps ----------------------------------------------------------------------

    def open(self, pos: Position, qty: Decimal) -> None:
        self.positions[pos.position_id] = pos
        while pos.qty == 0:
            row = self.intent(pos, "buy")
            report = self.settle_new(row, lambda r=row: self.ex.market_order(
                symbol=pos.symbol, side=Side.BUY, qty=qty, client_order_id=r.client_order_id))
            if report is not None and report.state is OrderState.FILLED:
                pos.qty = received(self.ex, report)

    def protect(self, pos: Position, stop: Decimal) -> None:
        """Place a stop until one is open."""
        while pos.stop_order_id is None:
            row = self.intent(pos, "stop")
            report = self.settle_new(row, lambda r=row: self.ex.place_stop_limit(
                symbol=pos.symbol, qty=pos.qty, stop_price=stop,
                limit_price=stop - 10 * pos.tick, client_order_id=r.client_order_id))
            if report is not None and report.state in OPEN:
                pos.stop_order_id, pos.stop = row.client_order_id, stop

    def move(self, pos: Position, stop: Decimal) -> None:
        """cancelReplace the stop; read both halves whatever happens."""
        old = self.rows[pos.stop_order_id]
        new = self.intent(pos, "stop")
        try:
            report = self.send([new], lambda: self.ex.cancel_replace(
                symbol=pos.symbol, cancel_client_order_id=old.client_order_id, qty=pos.qty,
                stop_price=stop, limit_price=stop - 10 * pos.tick,
                new_client_order_id=new.client_order_id))
            self.outcomes["replace-ok" if report.new and report.canceled else "replace-half"] += 1
        except OrderRejected:
            self.outcomes["rejected"] += 1
            new.state = OrderState.REJECTED
            return
        except StatusUnknown:
            self.outcomes["replace-unknown"] += 1
            report = ReplaceReport(canceled=None, new=None)
        old_now = report.canceled or self.query(old)
        new_now = report.new or self.query(new)
        if report.canceled is not None:
            old.state = report.canceled.state
        if report.new is not None:
            new.state = report.new.state
        if new_now is None:
            new.state = OrderState.FAILED
        if new_now is not None and new_now.state in OPEN:
            pos.stop_order_id, pos.stop = new.client_order_id, stop
        elif old_now is not None and old_now.state in OPEN:
            pass  # nothing happened: the old stop still protects the position
        else:
            pos.stop_order_id = None  # canceled and not replaced: protect again at once
            self.protect(pos, stop)

    def cancel_and_replace_by_hand(self, pos: Position, stop: Decimal) -> None:
        """A plain cancel (as on exit), then a fresh stop: exercises -2011 and unknowns."""
        old = self.rows[pos.stop_order_id]
        try:
            report = self.send([], lambda: self.ex.cancel(
                symbol=pos.symbol, client_order_id=old.client_order_id))
            old.state = report.state
        except (StatusUnknown, UnknownOrder):
            self.outcomes["cancel-requery"] += 1
            self.query(old)
        if old.state in OPEN:
            return  # the cancel did not happen; the stop still protects
        pos.stop_order_id = None
        self.protect(pos, stop)


def received(ex: BinanceExchange, report: OrderReport) -> Decimal:
    """What a filled BUY left in the account (DESIGN.md §3): its executed quantity minus the
    commission charged in the base asset, floored to the step."""
    filters = ex.symbol_filters(report.symbol)
    base_fee = sum((e.fee for e in report.executions if e.fee_asset == filters.base_asset),
                   Decimal(0))
    return floor_step(report.executed_qty - base_fee, filters.step)
