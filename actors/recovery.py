"""Boot reconciliation (DESIGN.md §5): gather the venue's view, diff it with ``core.reconcile``,
and carry out the actions. Boot and crash recovery share it; ``ratchet reconcile --dry-run``
stops after the diff.

Gathering costs one all-symbol openOrders call (weight 80), one account call, and one query by
client id (weight 4) for each local order that is not open on the venue.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from core import pair_logic as logic
from core import reconcile as rc
from core.errors import (
    OrderRejected,
    RetryableVenueError,
    StatusUnknown,
    StorageFailed,
    UnknownOrder,
)
from core.trailing import StopLevels, levels_at
from core.types import Order, OrderState, PairSettings, Position, PositionState, SymbolFilters
from exchange.base import Exchange, OrderReport
from telemetry.logs import log_event

log = logging.getLogger("ratchet.reconcile")

REPORT_KEY = "reconcile:last"
READ_ATTEMPTS = 6  # about 1.5 s of asking again before boot gives up on a read
T = TypeVar("T")


@dataclass(slots=True, kw_only=True)
class Plan:
    local: rc.LocalState
    venue: rc.VenueState
    actions: list[Any]
    queried: int = 0


@dataclass(slots=True, kw_only=True)
class RecoveryReport:
    actions: dict[str, int]
    duration_s: float
    queried: int
    halted: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Client ids the venue listed open and reconciliation left open, and the stops it placed:
    # the pairs started right after boot need not ask about these (not in the stored report).
    open_at_venue: frozenset[str] = frozenset()

    def to_json(self) -> str:
        return json.dumps({"actions": self.actions, "duration_s": round(self.duration_s, 6),
                           "queried": self.queried, "halted": self.halted,
                           "errors": self.errors, "at": time.time()}, sort_keys=True)


def read_again(call: Callable[[], T], *, attempts: int = READ_ATTEMPTS,
               sleep: Callable[[float], None] = time.sleep) -> T:
    """Make a read, asking again while the answer is unclear (5xx, timeout) or rate limited.

    A read changes nothing on the venue, so asking again is always safe; boot must not fail
    on one lost answer. The last failure is raised after ``attempts`` tries.
    """
    delay = 0.05
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except (StatusUnknown, RetryableVenueError) as exc:
            if attempt == attempts:
                raise
            sleep(getattr(exc, "retry_after_s", None) or delay)
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")


def plan(
    exchange: Exchange, positions: tuple[Position, ...], orders: tuple[Order, ...], *,
    settings: Mapping[str, PairSettings], filters: Mapping[str, SymbolFilters], prefix: str,
) -> Plan:
    """Read the venue and diff it with the DB. Changes nothing anywhere."""
    open_positions = tuple(p for p in positions if p.state is not PositionState.FLAT)
    last_prices: dict[str, Decimal] = {}
    symbols = sorted({p.symbol for p in open_positions})
    # Without a last price, reconcile falls back to the persisted highest.
    with contextlib.suppress(StatusUnknown, RetryableVenueError):
        last_prices = read_again(lambda: exchange.last_prices(symbols)) if symbols else {}
    local = rc.LocalState(
        positions=open_positions, orders=tuple(o for o in orders if not o.state.is_final),
        settings=settings, filters=filters, last_prices=last_prices, prefix=prefix,
    )
    # Balances before orders: a stop that fills between the two reads then shows as filled
    # with its base still counted. Read after, the base is gone while the listing still
    # shows the stop open, and the pair is halted for a balance "below" its position.
    balances = read_again(exchange.balances)
    open_orders = tuple(read_again(exchange.open_orders))
    queried: dict[str, OrderReport | None] = {}
    for order in rc.orders_to_query(local, open_orders):
        try:
            queried[order.client_order_id] = read_again(lambda o=order: exchange.get_order(
                symbol=o.symbol, client_order_id=o.client_order_id))
        except UnknownOrder:
            queried[order.client_order_id] = None
    venue = rc.VenueState(open_orders=open_orders, queried=queried, balances=balances)
    return Plan(local=local, venue=venue, actions=rc.reconcile(local, venue),
                queried=len(queried))


class Applier:
    """Carries out reconcile actions: the DB first for intents, then the venue."""

    def __init__(
        self, exchange: Exchange, persist: Callable[..., None], *,
        settings: Mapping[str, PairSettings], filters: Mapping[str, SymbolFilters], prefix: str,
        positions: tuple[Position, ...], orders: tuple[Order, ...],
        open_orders: Mapping[str, OrderReport] | None = None,
    ) -> None:
        self.exchange = exchange
        self.persist = persist  # durable: persist(positions=..., orders=..., fills=...)
        self.settings = settings
        self.filters = filters
        self.prefix = prefix
        self.positions = {p.position_id: p for p in positions}
        self.orders = {o.client_order_id: o for o in orders}
        self.open_orders = dict(open_orders or {})  # the venue's view, by client id
        self.halted: list[str] = []
        self.errors: list[str] = []
        self.placed: set[str] = set()  # stops placed here that the venue answered open
        self.now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def apply(self, actions: list[Any]) -> None:
        for action in actions:
            try:
                self._apply(action)
            except (StatusUnknown, OrderRejected) as exc:
                self.errors.append(f"{action.kind}: {exc}")
                log_event(log, "reconcile_action_failed", level=logging.ERROR,
                          kind=action.kind, error=str(exc))
        self._protect_open_positions()

    def _apply(self, action: Any) -> None:
        match action:
            case rc.KeepStop(position_id=pid, client_order_id=cid):
                position = self.positions[pid]
                if position.stop_order_id != cid:  # e.g. an exit whose stop was never canceled
                    stop = self.orders[cid]
                    position = position.replace(state=PositionState.OPEN, stop_order_id=cid,
                                                stop=stop.stop_price, limit=stop.limit_price)
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
                if last is not None and last <= stop:
                    self._exit_now(position)  # a stop there would trigger at once (-2010)
                else:
                    self._place_stop(position, StopLevels(stop=stop, limit=limit))
            case rc.AdoptIntent(order=order, report=report):
                self._adopt(order, report)
            case rc.FailIntent(order=order):
                self._fail(order)
            case rc.MarkOrder(order=order, report=report):
                self.persist(orders=(logic.apply_report(order, report),))
            case rc.CancelOrphan(report=report):
                try:
                    canceled = self._send(lambda: self.exchange.cancel(
                        symbol=report.symbol, client_order_id=report.client_order_id))
                except UnknownOrder:
                    canceled = None
                row = self.orders.get(report.client_order_id)
                if row is not None and canceled is not None:
                    self.orders[row.client_order_id] = logic.apply_report(row, canceled)
                    self.persist(orders=(self.orders[row.client_order_id],))
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
                                               self.prefix, self.now)
                self.persist(positions=(opened.position,),
                             orders=(opened.entry_order, opened.stop_order), fills=opened.fills)
                self.positions[position.position_id] = opened.position
                self._send_stop(opened.position, opened.stop_order)
            elif report.state.is_final:
                self._abandon(position, updated)
            return
        if report.state is OrderState.FILLED:
            reason = "stop" if order.type.value == "STOP_LOSS_LIMIT" else "timeout"
            self._close(position, order, report, reason=reason)
        elif report.state.is_open and order.type.value == "STOP_LOSS_LIMIT":
            adopted = position.replace(stop=order.stop_price, limit=order.limit_price,
                                       stop_order_id=order.client_order_id)
            self.persist(positions=(adopted,), orders=(updated,))
            self.positions[position.position_id] = adopted
            self.orders[order.client_order_id] = updated
        else:
            self.persist(orders=(updated,))

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
        self.persist(positions=(position,), orders=(order,))  # write-ahead
        self.positions[position.position_id] = position
        try:
            report = self._send(lambda: self.exchange.market_order(
                symbol=order.symbol, side=order.side, qty=order.qty,
                client_order_id=order.client_order_id))
        except StatusUnknown:
            return  # stays PENDING_NEW; the pair settles it by client id when it starts
        if report.state is OrderState.FILLED:
            self._close(position, order, report, reason="stop")
        else:
            self.persist(orders=(logic.apply_report(order, report),))

    def _send(self, call: Callable[[], T]) -> T:
        """An order request, sent again while the venue refuses it for a rate limit: that
        refusal changed nothing (§4: wait out Retry-After), and a restart with many stops to
        re-place must not fail at the order limit. An unclear answer is never resent."""
        while True:
            try:
                return call()
            except RetryableVenueError as exc:
                time.sleep(exc.retry_after_s if exc.retry_after_s is not None else 0.5)

    def _save(self, position: Position) -> None:
        self.positions[position.position_id] = position
        self.persist(positions=(position,))

    def _place_stop(self, position: Position, levels: StopLevels) -> None:
        position, order = logic.plan_stop(position, levels, self.prefix)
        self.persist(positions=(position,), orders=(order,))  # write-ahead
        self.positions[position.position_id] = position
        self._send_stop(position, order)

    def _send_stop(self, position: Position, order: Order) -> None:
        try:
            report = self._send(lambda: self.exchange.place_stop_limit(
                symbol=order.symbol, qty=order.qty, stop_price=order.stop_price,
                limit_price=order.limit_price, client_order_id=order.client_order_id))
        except StatusUnknown:
            return  # stays PENDING_NEW; the pair settles it by client id when it starts
        except OrderRejected as exc:
            rejected = order.replace(state=OrderState.REJECTED, reason=str(exc))
            self.orders[order.client_order_id] = rejected
            self.persist(orders=(rejected,))
            raise
        placed = logic.apply_report(order, report)
        self.orders[order.client_order_id] = placed
        self.persist(orders=(placed,))
        if placed.state.is_open:
            self.placed.add(order.client_order_id)

    def _protect_open_positions(self) -> None:
        """Every open position leaves recovery with a stop, or a pending intent for one."""
        for position in list(self.positions.values()):
            if position.state is not PositionState.OPEN or position.halted:
                continue
            stop = self.orders.get(position.stop_order_id or "")
            if stop is not None and (stop.state.is_open or stop.state is OrderState.PENDING_NEW):
                continue
            settings, filters = self.settings[position.symbol], self.filters[position.symbol]
            if position.stop is not None:
                levels = StopLevels(stop=position.stop, limit=position.limit)
            else:
                levels = levels_at(position.highest, settings, filters.tick)
            try:
                self._place_stop(position, levels)
            except OrderRejected as exc:
                self.errors.append(f"protect {position.symbol}: {exc}")


def reconcile_with_db(
    exchange: Exchange, db: Any, *, settings: Mapping[str, PairSettings],
    filters: Mapping[str, SymbolFilters], prefix: str, metrics: Any = None,
) -> RecoveryReport:
    """Boot reconciliation through a running DBWriter (``db``): plan, apply, report."""
    from actors.messages import LoadState, Persist

    def durable(**rows) -> None:
        try:
            db.ask(Persist(**rows), timeout=60)
        except Exception as exc:  # noqa: BLE001 - nothing may be sent that is not on disk
            raise StorageFailed(f"database write failed: {exc}") from exc

    started = time.perf_counter()
    state = db.ask(LoadState(open_only=True), timeout=60)
    settings, filters = dict(settings), dict(filters)
    for p in state.positions:  # positions of pairs no longer configured keep their stops
        if p.symbol not in settings:
            settings[p.symbol] = PairSettings(symbol=p.symbol)
            filters[p.symbol] = exchange.symbol_filters(p.symbol)
    the_plan = plan(exchange, state.positions, state.orders, settings=settings,
                    filters=filters, prefix=prefix)
    applier = Applier(exchange, durable, settings=settings, filters=filters, prefix=prefix,
                      positions=state.positions, orders=state.orders,
                      open_orders={r.client_order_id: r for r in the_plan.venue.open_orders})
    applier.apply(the_plan.actions)
    counts = rc.summarize(the_plan.actions)
    seen_open = frozenset(o.client_order_id for o in the_plan.venue.open_orders)
    canceled = {a.report.client_order_id for a in the_plan.actions
                if isinstance(a, rc.CancelOrphan)}
    report = RecoveryReport(actions=counts, duration_s=time.perf_counter() - started,
                            queried=the_plan.queried, halted=applier.halted,
                            errors=applier.errors,
                            open_at_venue=(seen_open - canceled) | applier.placed)
    durable(kv=((REPORT_KEY, report.to_json()),))
    log_event(log, "reconciled", actions=counts, queried=report.queried, halted=report.halted,
              errors=len(report.errors), duration_s=round(report.duration_s, 6))
    if metrics is not None:
        metrics.reconcile(counts, report.duration_s)
        if report.errors:
            metrics.reconcile_failed()
    return report
