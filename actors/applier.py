"""Carries out boot reconciliation's actions (``core.reconcile``): the DB first for every
intent, then the venue, through the one venue-call policy (``exchange.policy.send``: sent
again only when the venue certainly did nothing). A stop that would trigger at once, or that
the filters refuse, becomes a sale at market (``core.stop_rules``). A native pair's stops are
native (§3b): the delta and the limit, no stop price, the position keeping the estimate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from core import adopt
from core import pair_logic as logic
from core import reconcile as rc
from core.errors import OrderRejected, StatusUnknown, UnknownOrder
from core.stop_mode import native_delta
from core.stop_rules import fit_stop, would_trigger
from core.trailing import StopLevels, levels_at
from core.types import (
    ENTRY_ADOPTED,
    Order,
    OrderReport,
    OrderState,
    PairSettings,
    Position,
    PositionState,
    SymbolFilters,
)
from exchange import policy
from exchange.base import Exchange
from telemetry.logs import log_event

log = logging.getLogger("ratchet.reconcile")
SENDERS = 16  # stops sent at once: within Binance's ORDERS budget, which policy.send waits out


class Applier:
    """Carries out reconcile actions: the DB first for intents, then the venue."""

    def __init__(
        self, exchange: Exchange, persist: Callable[..., None], *,
        settings: Mapping[str, PairSettings], filters: Mapping[str, SymbolFilters], prefix: str,
        positions: tuple[Position, ...], orders: tuple[Order, ...],
        open_orders: Mapping[str, OrderReport] | None = None,
        last_prices: Mapping[str, Decimal] | None = None,
    ) -> None:
        self.exchange = exchange
        self.persist = persist  # durable: persist(positions=..., orders=..., fills=...)
        self.settings = settings
        self.filters = filters
        self.prefix = prefix
        self.positions = {p.position_id: p for p in positions}
        self.orders = {o.client_order_id: o for o in orders}
        self.open_orders = dict(open_orders or {})  # the venue's view, by client id
        self.last_prices = dict(last_prices or {})
        self.halted: list[str] = []
        self.errors: list[str] = []
        self.placed: set[str] = set()  # stops placed here that the venue answered open
        self.planned: list[tuple[Position, Order]] = []  # stops to write, then send
        self.now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def apply(self, actions: list[Any]) -> None:
        for action in actions:
            try:
                self._apply(action)
            except (StatusUnknown, OrderRejected) as exc:
                self.errors.append(f"{action.kind}: {exc}")
                log_event(log, "reconcile_action_failed", level=logging.ERROR,
                          kind=action.kind, error=str(exc))
        self._flush_stops()
        self._protect_open_positions()
        self._flush_stops()

    def _apply(self, action: Any) -> None:
        match action:
            case rc.KeepStop(position_id=pid, client_order_id=cid):
                position = self.positions[pid]
                if position.stop_order_id != cid:  # e.g. an exit whose stop was never canceled
                    position = self._pointed_at(position.replace(state=PositionState.OPEN),
                                                self.orders[cid])
                    self._save(position)
                venue = self.open_orders.get(cid)
                if (venue is not None and venue.triggered and venue.triggered_ts is not None
                        and position.triggered_at is None):
                    # It triggered while we were down: the timeout runs from the venue's time.
                    self._save(position.replace(triggered_at=venue.triggered_ts))
            case rc.RecordStopFill(position_id=pid, order=order, report=report):
                self._close(self.positions[pid], order, report, reason="stop")
            case rc.ReplaceStop(position_id=pid, old_order=old, stop=stop, limit=limit,
                                highest=highest, old_report=old_report, last_price=last):
                position = self.positions[pid]
                if old is not None:
                    self._retire(old, old_report)
                position = position.replace(highest=max(position.highest, highest))
                self._protect(position, StopLevels(stop=stop, limit=limit), last_price=last,
                              trailing_delta=action.trailing_delta)
            case rc.AdoptIntent(order=order, report=report):
                self._adopt(order, report)
            case rc.FailIntent(order=order):
                self._fail(order)
            case rc.MarkOrder(order=order, report=report):
                self.persist(orders=(logic.apply_report(order, report),))
            case rc.CancelOrphan(report=report):
                try:
                    canceled = policy.send(lambda: self.exchange.cancel(
                        symbol=report.symbol, client_order_id=report.client_order_id))
                except UnknownOrder:
                    canceled = None
                row = self.orders.get(report.client_order_id)
                if row is not None and canceled is not None:
                    self.orders[row.client_order_id] = logic.apply_report(row, canceled)
                    self.persist(orders=(self.orders[row.client_order_id],))
            case rc.AdoptOrphan(report=report, last_price=last):
                self._adopt_orphan(report, last)
            case rc.ShrinkPosition(position_id=pid, qty=qty, gone=gone):
                position = self.positions[pid]
                self._save(position.replace(qty=qty, sold_outside=position.sold_outside + gone))
                log_event(log, "sold_outside", level=logging.WARNING, symbol=position.symbol,
                          position_id=pid, qty_gone=gone, qty_left=qty,
                          action="protect what is left")
            case rc.CloseUnbooked(position_id=pid, reason=reason, gone=gone):
                position = self.positions[pid]
                self._save(position.replace(
                    state=PositionState.FLAT, exit_reason=reason, exit_time=self.now,
                    stop_order_id=None, triggered_at=None,
                    sold_outside=position.sold_outside + gone))
                log_event(log, "position_left", level=logging.WARNING, symbol=position.symbol,
                          position_id=pid, reason=reason, qty_gone=gone)
            case rc.HaltPair(symbol=symbol, reason=reason):
                self.halted.append(symbol)
                for p in self.positions.values():
                    if p.symbol == symbol and p.state is not PositionState.FLAT:
                        self._save(p.replace(halted=True, halt_reason=reason))
                log_event(log, "pair_halted", level=logging.ERROR, symbol=symbol,
                          reason=reason, by="reconcile")
            case _:
                raise TypeError(f"unknown reconcile action {action!r}")

    # --- the cases --------------------------------------------------------------------------

    def _adopt(self, order: Order, report: OrderReport) -> None:
        position = self.positions.get(order.position_id)
        updated = logic.apply_report(order, report)
        if position is None:
            self.persist(orders=(updated,))
            return
        settings, filters = self.settings[order.symbol], self.filters[order.symbol]
        if order.side.value == "BUY":
            if report.state is OrderState.FILLED:
                opened = logic.on_entry_filled(position, order, report, settings, filters,
                                               self.now)
                self.persist(positions=(opened.position,), orders=(opened.entry_order,),
                             fills=opened.fills)
                self.positions[position.position_id] = opened.position
                self._protect(opened.position,
                              levels_at(opened.position.highest, settings, filters.tick),
                              trailing_delta=self._delta(order.symbol))
            elif report.state.is_final:
                self._abandon(position, updated)
            return
        if report.state is OrderState.FILLED:
            reason = "stop" if order.type.value == "STOP_LOSS_LIMIT" else "timeout"
            self._close(position, order, report, reason=reason)
        elif report.state.is_open and order.type.value == "STOP_LOSS_LIMIT":
            adopted = self._pointed_at(position, order)
            self.persist(positions=(adopted,), orders=(updated,))
            self.positions[position.position_id] = adopted
            self.orders[order.client_order_id] = updated
        else:
            self.persist(orders=(updated,))

    def _adopt_orphan(self, report: OrderReport, last: Decimal | None) -> None:
        """A stop of our prefix that no row knew (a DB older than the venue) becomes the stop of
        a new position of its quantity. Its cost is unknown, so it is entered at the last price
        (else its stop price), like adopted coins; its id's position part and sequence are
        kept where they parse, so the next orders of the position follow on."""
        parts = report.client_order_id.split("-")
        pid = parts[1] if len(parts) == 3 and parts[1] not in self.positions \
            else logic.new_position_id()
        seq = int(parts[2]) if len(parts) == 3 and parts[2].isdigit() else 1
        price = last or report.stop_price or report.limit_price or Decimal(0)
        filters = self.filters.get(report.symbol)
        order = Order(client_order_id=report.client_order_id, position_id=pid,
                      symbol=report.symbol, side=report.side, type=report.type, qty=report.qty,
                      state=report.state, stop_price=report.stop_price,
                      limit_price=report.limit_price, exchange_order_id=report.exchange_order_id,
                      trailing_delta=report.trailing_delta)
        position = Position(
            position_id=pid, symbol=report.symbol, state=PositionState.OPEN, qty=report.qty,
            entry_price=price, entry_time=self.now, highest=price,
            stop=report.stop_price if report.trailing_delta is None else None,
            limit=report.limit_price, stop_order_id=order.client_order_id, seq=seq,
            quote_asset=filters.quote_asset if filters is not None else None,
            entry_kind=ENTRY_ADOPTED, trailing_delta=report.trailing_delta)
        self.persist(positions=(position,), orders=(order,))
        self.positions[pid] = position
        self.orders[order.client_order_id] = order
        log_event(log, "orphan_adopted", symbol=report.symbol, position_id=pid,
                  client_order_id=order.client_order_id, qty=report.qty,
                  stop=report.stop_price)

    def _pointed_at(self, position: Position, stop: Order) -> Position:
        """The position with ``stop`` as its stop: its levels (a native stop keeps the
        position's estimate), and, for a top-up's larger stop, its quantity and the weighted
        entry price (the added coins at the last price)."""
        if stop.qty > position.qty:
            position = adopt.resized(position, stop, self.last_prices.get(position.symbol))
        return position.replace(
            stop=stop.stop_price if stop.trailing_delta is None else position.stop,
            limit=stop.limit_price, stop_order_id=stop.client_order_id,
            trailing_delta=stop.trailing_delta)

    def _delta(self, symbol: str) -> int | None:
        return native_delta(self.settings[symbol], self.filters[symbol])

    def _fail(self, order: Order) -> None:
        failed = order.replace(state=OrderState.FAILED, reason="intent never reached the venue")
        self.orders[order.client_order_id] = failed
        position = self.positions.get(order.position_id)
        if position is not None and order.side.value == "BUY":
            self._abandon(position, failed)
        else:
            self.persist(orders=(failed,))
            if position is not None and position.state is PositionState.EXITING:
                self._save(position.replace(state=PositionState.OPEN))

    def _close(self, position: Position, order: Order, report: OrderReport, *, reason: str):
        closed = logic.close_position(position, order, report, self.settings[position.symbol],
                                      self.filters[position.symbol], reason=reason,
                                      time=self.now)
        self.persist(positions=(closed.position,), orders=(closed.order,), fills=closed.fills)
        self.positions[position.position_id] = closed.position
        self.orders[order.client_order_id] = closed.order

    def _abandon(self, position: Position, order: Order) -> None:
        flat = position.replace(state=PositionState.FLAT, exit_reason="no_entry")
        self.persist(positions=(flat,), orders=(order,))
        self.positions[position.position_id] = flat

    def _retire(self, order: Order, report: OrderReport | None) -> None:
        """Record what became of a stop that no longer protects its position."""
        if report is not None:
            marked = logic.apply_report(order, report)
        else:
            marked = order.replace(state=OrderState.FAILED, reason="unknown to the venue")
        self.orders[order.client_order_id] = marked
        self.persist(orders=(marked,))

    def _exit_now(self, position: Position) -> None:
        """Sell at market: the price is already through where the stop would be."""
        position, order = logic.plan_exit(position, self.prefix)
        position = position.replace(exit_reason="stop")
        self.persist(positions=(position,), orders=(order,))  # write-ahead
        self.positions[position.position_id] = position
        try:
            report = policy.send(lambda: self.exchange.market_order(
                symbol=order.symbol, side=order.side, qty=order.qty,
                client_order_id=order.client_order_id))
        except StatusUnknown:
            return  # stays PENDING_NEW; the pair settles it by client id when it starts
        if report.state is OrderState.FILLED:
            self._close(position, order, report, reason="stop")
        else:
            self.persist(orders=(logic.apply_report(order, report),))

    def _save(self, position: Position) -> None:
        self.positions[position.position_id] = position
        self.persist(positions=(position,))

    def _protect(self, position: Position, levels: StopLevels,
                 last_price: Decimal | None = None, trailing_delta: int | None = None) -> None:
        """A stop under an open position, or an exit at market when the price is already
        through it (Binance would refuse it, -2010; for a native stop, through its estimate)
        or the filters refuse it."""
        fitted = fit_stop(levels, position.qty, self.filters[position.symbol], last_price)
        if would_trigger(fitted.levels.stop, last_price) or fitted.problem is not None:
            self._exit_now(position)
        else:
            self._place_stop(position, fitted.levels, trailing_delta)

    def _place_stop(self, position: Position, levels: StopLevels,
                    trailing_delta: int | None = None) -> None:
        """Plan a stop; ``_flush_stops`` writes every planned intent, then sends them."""
        position, order = logic.plan_stop(position, levels, self.prefix,
                                          trailing_delta=trailing_delta)
        self.positions[position.position_id] = position
        self.orders[order.client_order_id] = order
        self.planned.append((position, order))

    def _flush_stops(self) -> None:
        """The planned stops: their intents in one durable write, then sent side by side (the
        venue's answers overlap; a restart with many stops to re-place is not one round trip
        each), then their outcomes in one write."""
        planned, self.planned = self.planned, []
        if not planned:
            return
        self.persist(positions=tuple(p for p, _ in planned), orders=tuple(o for _, o in planned))
        with ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="reconcile") as pool:
            outcomes = list(pool.map(self._send_stop, (o for _, o in planned)))
        written = [o for o in outcomes if o is not None]
        for order in written:
            self.orders[order.client_order_id] = order
            if order.state.is_open:
                self.placed.add(order.client_order_id)
            elif order.state is OrderState.REJECTED:
                self.errors.append(f"replace_stop: {order.symbol}: {order.reason}")
                log_event(log, "reconcile_action_failed", level=logging.ERROR,
                          kind="replace_stop", error=order.reason)
        if written:
            self.persist(orders=tuple(written))

    def _send_stop(self, order: Order) -> Order | None:
        """The stop's row after sending it; None while its outcome is unknown (it stays
        PENDING_NEW, and the pair settles it by client id when it starts)."""
        try:
            report = policy.send(lambda: self.exchange.place_stop_limit(
                symbol=order.symbol, qty=order.qty, stop_price=order.stop_price,
                limit_price=order.limit_price, client_order_id=order.client_order_id,
                trailing_delta=order.trailing_delta))
        except StatusUnknown:
            return None
        except OrderRejected as exc:
            return order.replace(state=OrderState.REJECTED, reason=str(exc))
        return logic.apply_report(order, report)

    def _protect_open_positions(self) -> None:
        """Every open position leaves recovery with a stop, or a pending intent for one."""
        for position in list(self.positions.values()):
            if position.state is not PositionState.OPEN or position.halted:
                continue
            stop = self.orders.get(position.stop_order_id or "")
            if stop is not None and (stop.state.is_open or stop.state is OrderState.PENDING_NEW):
                continue
            settings, filters = self.settings[position.symbol], self.filters[position.symbol]
            delta = self._delta(position.symbol)
            if position.stop is not None and delta is None:
                levels = StopLevels(stop=position.stop, limit=position.limit)
            else:
                levels = levels_at(position.highest, settings, filters.tick)
            try:
                self._place_stop(position, levels, delta)
            except OrderRejected as exc:
                self.errors.append(f"protect {position.symbol}: {exc}")
