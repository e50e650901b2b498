"""PairActor: one per symbol. It owns that symbol's position, FLAT → ENTERING → OPEN → EXITING.

A thin shell: it unpacks a message, asks ``core.pair_logic`` what to do, writes intents ahead
through the DBWriter (an ``ask``: the row is on disk before the order leaves), and ``tell``s
the Gateway. It never touches the network. Data that breaks an invariant crashes it, and the
Supervisor restarts it from the DB.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from decimal import Decimal

import pykka

from actors.conflation import TickSlot
from actors.messages import (
    CancelOrder,
    Crash,
    GetSnapshot,
    OrderMissing,
    OrderRejected,
    OrderUnknown,
    OrderUpdated,
    PairFailed,
    Persist,
    PlaceMarketOrder,
    PlaceStop,
    PriceReady,
    QueryOrder,
    RegisterPair,
    ReplaceStop,
    StopReplaced,
    Sync,
)
from core import pair_logic as logic
from core.errors import BelowMinNotional, EntryRefused, InvariantViolation, StorageFailed
from core.trailing import StopLevels, levels_at
from core.types import (
    EntryMode,
    Order,
    OrderState,
    OrderType,
    PairSettings,
    Position,
    PositionState,
    Side,
    SymbolFilters,
    Tick,
)
from exchange.base import Execution, OrderReport
from telemetry.logs import log_event, log_order_event

log = logging.getLogger("ratchet.pair")


@dataclass(slots=True, kw_only=True)
class PairWiring:
    """What a PairActor is connected to. ``supervisor`` may be None in tests."""

    db_writer: pykka.ActorRef
    gateway: pykka.ActorRef
    slot: TickSlot
    prefix: str = "rt"
    supervisor: pykka.ActorRef | None = None
    metrics: object | None = None
    durable_timeout_s: float = 30.0
    on_trade: object | None = None  # callable(Position) for replay reports
    # Replay stops at an entry it cannot size (BelowMinNotional); live trading halts the pair.
    on_failure: object | None = None  # callable(exception), told when the actor dies
    strict_entry: bool = False
    # Lock-step replay: called (with the position) once a price is fully handled, i.e. the
    # pair has decided on it and every command it sent has been answered.
    on_idle: object | None = None


class PairActor(pykka.ThreadingActor):
    def __init__(
        self, *, settings: PairSettings, filters: SymbolFilters, wiring: PairWiring,
        position: Position | None = None, orders: tuple[Order, ...] = (),
        realized: Decimal = Decimal(0), confirmed_open: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__()
        self.confirmed_open = confirmed_open  # seen open by boot reconciliation just now
        self.symbol = settings.symbol
        self.settings = settings
        self.filters = filters
        self.w = wiring
        self.position = position or logic.flat_position(self.symbol)
        self.orders: dict[str, Order] = {o.client_order_id: o for o in orders
                                          if not o.state.is_final}
        self.in_flight: set[str] = set()
        self.executions: dict[str, dict[str, Execution]] = {}  # partial fills, by order
        self.awaiting_idle = False
        self.exiting = False  # a timeout exit: cancel sent, market sell follows
        self.exit_order: Order | None = None  # its sale, written ahead before the cancel
        self.closed_on_this_price = False
        self.matched = False  # the report being handled came from the venue's own matching
        self.last_price: Decimal | None = None
        self.last_ts = Decimal(0)
        self.tick_time = ""
        self.entry_refusals = 0  # refused entry buys in a row
        self.entry_retry_at: Decimal | None = None  # price time of the next entry attempt
        self.refusal_reason: str | None = None
        self.realized = realized
        self.halted = position.halted if position else False
        self.metrics = wiring.metrics.pair(self.symbol) if wiring.metrics else None

    # --- lifecycle ------------------------------------------------------------------------

    def on_start(self) -> None:
        # Register with the Gateway before _resume's queries: tells from one thread to one
        # actor stay in order, while the Supervisor's RegisterPair, sent after start() returns,
        # could arrive after them, and their replies would be dropped ("no pair for ...").
        self.w.gateway.tell(RegisterPair(symbol=self.symbol, pair=self.actor_ref,
                                         slot=self.w.slot))
        if self.metrics:
            self.metrics.quote_asset(self.filters.quote_asset)
            self.metrics.halted(self.halted)
            self.metrics.up(not self.halted)
            self.metrics.realized(self.realized)
        if not self.halted:
            self._resume()
        self._observe_protection()

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        if self.w.on_failure is not None:
            self.w.on_failure(exception_value)
        if self.metrics:
            self.metrics.up(False)
        if self.w.supervisor is not None:
            self.w.supervisor.tell(PairFailed(
                symbol=self.symbol, error=str(exception_value), actor_urn=self.actor_urn,
                fatal=isinstance(exception_value, StorageFailed)))

    def _resume(self) -> None:
        """After a (re)start from the DB: settle every order whose outcome is not known. At
        boot, the orders reconciliation has just seen open are not asked about again (with
        1,000 pairs that is 1,000 queries); the venue reports any change to them."""
        for order in list(self.orders.values()):
            if order.state is OrderState.PENDING_NEW or (
                    order.state.is_open and order.client_order_id not in self.confirmed_open):
                self._send(QueryOrder(order=order), order)
        p = self.position
        if p.state is PositionState.OPEN and not self._stop_order_known():
            self._place_fresh_stop(p.highest)

    def _stop_order_known(self) -> bool:
        sid = self.position.stop_order_id
        return sid is not None and sid in self.orders

    # --- dispatch ---------------------------------------------------------------------------

    def on_receive(self, message):
        try:
            return self._dispatch(message)
        finally:
            self._observe_protection()
            if self.awaiting_idle and not self.in_flight:
                self.awaiting_idle = False
                self.w.on_idle(self.position)

    def _dispatch(self, message):
        match message:
            case PriceReady():
                tick = self.w.slot.take()
                if tick is not None:
                    self._on_tick(tick)
                    self.awaiting_idle = self.w.on_idle is not None
            case OrderUpdated(report=report, reply=reply):
                self._done(report.client_order_id, reply)
                self.matched = not reply
                self._on_report(report)
            case StopReplaced():
                self._done(message.new.client_order_id, True)
                self._on_replaced(message)
            case OrderRejected(order=order):
                self._done(order.client_order_id, True)
                self._on_rejected(message)
            case OrderMissing(order=order):
                self._done(order.client_order_id, True)
                self._on_missing(order)
            case OrderUnknown(order=order):
                self._done(order.client_order_id, True)
                self._send(QueryOrder(order=order), order)
            case Sync():
                return len(self.in_flight)
            case GetSnapshot():
                return self._snapshot()
            case Crash(reason=reason):
                raise InvariantViolation(f"{self.symbol}: {reason}")
            case _:
                raise InvariantViolation(f"PairActor got an unknown message {message!r}")

    # --- prices -----------------------------------------------------------------------------

    def _on_tick(self, tick: Tick) -> None:
        self.last_price, self.last_ts = tick.price, tick.ts
        closed_now, self.closed_on_this_price = self.closed_on_this_price, False
        p = self.position
        if self.halted:
            pass
        elif p.state is PositionState.FLAT:
            if (not closed_now and not self.in_flight and self.settings.entry is EntryMode.ALWAYS
                    and (self.entry_retry_at is None or tick.ts >= self.entry_retry_at)):
                self._enter(tick)
        elif p.state is PositionState.OPEN:
            self._trail(tick)
        self._observe(tick)

    def _enter(self, tick: Tick) -> None:
        try:
            position, order = logic.plan_entry(self.position, tick, self.settings, self.filters,
                                               self.w.prefix)
        except BelowMinNotional as exc:
            error = BelowMinNotional(f"{exc} at {tick.time or tick.ts} price {tick.price}")
            if self.w.strict_entry:
                raise error from None
            self._halt(str(error))
            return
        self._durable(positions=(position,), orders=(order,))
        self.position = position
        self._send(PlaceMarketOrder(order=order), order)

    def _trail(self, tick: Tick) -> None:
        stop = self.orders.get(self.position.stop_order_id or "")
        settled = stop is not None and stop.state.is_open and not self.in_flight
        decision = logic.on_price(self.position, tick, self.settings, self.filters,
                                  may_move=settled)
        # A new highest alone is not written: the live stop on the venue is the protection,
        # and recovery recomputes from max(persisted highest, last price). A trigger is.
        triggered = decision.position.triggered_at != self.position.triggered_at
        self.position = decision.position
        if decision.timeout_exit and settled and not self.exiting:
            # The sale is on disk before the stop goes: if it cannot be written (disk full),
            # the triggered stop stays on the venue instead of leaving the position bare.
            position, sale = logic.plan_exit(self.position, self.w.prefix)
            position = position.replace(stop_order_id=stop.client_order_id)
            self._durable(positions=(position,), orders=(sale,))
            self.position, self.exit_order, self.exiting = position, sale, True
            self._send(CancelOrder(order=stop), stop)
        elif decision.move_to is not None:
            position, new = logic.plan_stop_move(self.position, decision.move_to, self.w.prefix)
            self._durable(positions=(position,), orders=(new,))
            self.position = position
            self._send(ReplaceStop(old=stop, new=new, gap=new.stop_price - stop.stop_price), new)
        elif triggered:
            self._persist(positions=(self.position,))

    # --- venue events -----------------------------------------------------------------------

    def _on_report(self, report: OrderReport) -> None:
        order = self.orders.get(report.client_order_id)
        if order is None:
            log.debug("report for an order this pair no longer tracks: %s",
                      report.client_order_id)
            return
        self._log_order(report.client_order_id, report.state, report.type)
        report = self._with_all_executions(report)
        if order.side is Side.BUY:
            self._on_entry_report(order, report)
        elif order.type is OrderType.MARKET:
            self._on_exit_report(order, report)
        else:
            self._on_stop_report(order, report)

    def _with_all_executions(self, report: OrderReport) -> OrderReport:
        """A user-stream report carries only its latest execution; a partly filled order's
        earlier ones are kept here (by trade id) so its close books every fill."""
        seen = self.executions.setdefault(report.client_order_id, {})
        for execution in report.executions:
            seen[execution.trade_id] = execution
        if report.state.is_final:
            self.executions.pop(report.client_order_id, None)
        if len(seen) == len(report.executions):
            return report
        return dataclasses.replace(report, executions=tuple(seen.values()))

    def _on_entry_report(self, order: Order, report: OrderReport) -> None:
        if report.state is OrderState.FILLED:
            opened = logic.on_entry_filled(self.position, order, report, self.settings,
                                           self.filters, self.w.prefix, self._time_of(report))
            self._durable(positions=(opened.position,),
                          orders=(opened.entry_order, opened.stop_order), fills=opened.fills)
            self._forget(order)
            self.position = opened.position
            self.entry_refusals, self.entry_retry_at = 0, None
            self.orders[opened.stop_order.client_order_id] = opened.stop_order
            self._count_order(order, "filled")
            self._send(PlaceStop(order=opened.stop_order), opened.stop_order)
        elif report.state.is_final:
            self._abandon_entry(logic.apply_report(order, report))
        else:
            self._track(logic.apply_report(order, report))

    def _on_exit_report(self, order: Order, report: OrderReport) -> None:
        if report.state is OrderState.FILLED:
            self._close(order, report, reason="timeout")
        elif report.state.is_final:
            self._track(logic.apply_report(order, report))
            self._persist(orders=(self.orders[order.client_order_id],))
            self._retry_exit()
        else:
            self._track(logic.apply_report(order, report))

    def _on_stop_report(self, order: Order, report: OrderReport) -> None:
        updated = logic.apply_report(order, report)
        if report.state is OrderState.FILLED:
            self._close(order, report, reason="stop")
        elif report.state in (OrderState.CANCELED, OrderState.EXPIRED, OrderState.REJECTED):
            self._forget(updated)
            self._persist(orders=(updated,))
            self._count_order(updated, updated.state.value.lower())
            if order.client_order_id != self.position.stop_order_id:
                return
            if self.exiting and self.exit_order is not None:
                sale, self.exit_order = self.exit_order, None
                self.position = self.position.replace(stop_order_id=None)
                self._send(PlaceMarketOrder(order=sale), sale)
            elif self.exiting:
                self._retry_exit()
            else:  # canceled from outside: the position must not stay unprotected
                self._place_fresh_stop(max(self.position.highest, self.last_price or 0))
        else:
            if order.state is OrderState.PENDING_NEW and updated.state.is_open:
                self._count_order(updated, "accepted")  # the venue acknowledged a new stop
            self._track(updated)
            self._persist(orders=(updated,))
            self._note_trigger(order, report)

    def _note_trigger(self, order: Order, report: OrderReport) -> None:
        """The venue says the stop triggered (perhaps while we were down): its clock, not our
        first price through the stop, starts the stop-fill timeout (§3)."""
        p = self.position
        if (report.triggered and report.triggered_ts is not None and p.triggered_at is None
                and order.client_order_id == p.stop_order_id and p.state is PositionState.OPEN):
            self.position = p.replace(triggered_at=report.triggered_ts)
            self._persist(positions=(self.position,))

    def _on_replaced(self, msg: StopReplaced) -> None:
        r = msg.report
        old = r.canceled and logic.apply_report(msg.old, r.canceled)
        if r.canceled is not None and r.new is not None:
            new = logic.apply_report(msg.new, r.new)
            self.position = logic.stop_moved(self.position, new)
            self._forget(old)
            self._track(new)
            self._persist(positions=(self.position,), orders=(old, new))
            self._log_order(new.client_order_id, new.state, new.type)
            self._count_order(new, "replaced")
            if self.metrics:
                self.metrics.stop_moved()
            return
        failed = msg.new.replace(state=OrderState.FAILED, reason=r.new_error or r.cancel_error)
        self._forget(failed)
        self._count_order(failed, "failed")
        if r.canceled is None:  # the old stop is not canceled: it may have filled; ask
            self._persist(orders=(failed,))
            self._send(QueryOrder(order=msg.old), msg.old)
            return
        # The old stop is gone but the new one failed: protect the position now.
        self._forget(old)
        self._persist(orders=(old, failed))
        self._place_fresh_stop(self.position.highest, levels_from=msg.new)

    def _on_rejected(self, msg: OrderRejected) -> None:
        order = msg.order.replace(state=OrderState.REJECTED, reason=msg.reason)
        self._forget(order)
        self._persist(orders=(order,))
        self._count_order(order, "rejected")
        log_order_event(log, "order_rejected", symbol=self.symbol,
                        client_order_id=order.client_order_id, state=order.state,
                        level=logging.WARNING, code=msg.code, reason=msg.reason)
        if order.side is Side.BUY:
            self._abandon_entry(order)
            self._entry_refused(msg.code, msg.reason)
        elif order.client_order_id == self.position.stop_order_id or order.replaces:
            self._halt(f"stop order rejected: {msg.reason}")

    def _entry_refused(self, code: int | None, reason: str) -> None:
        """Halt, or wait out the backoff before the next entry: never one buy per price."""
        self.entry_refusals += 1
        refusal = logic.on_entry_refused(code=code, reason=reason, refusals=self.entry_refusals,
                                         now=self.last_ts)
        self.refusal_reason = refusal.reason
        if refusal.halt:
            if self.w.strict_entry:
                raise EntryRefused(f"{self.symbol}: {refusal.reason}")
            self._halt(refusal.reason)
            return
        self.entry_retry_at = refusal.retry_at
        log_event(log, "entry_backoff", level=logging.WARNING, symbol=self.symbol,
                  reason=refusal.reason, refusals=self.entry_refusals,
                  retry_in_s=refusal.retry_at - self.last_ts)

    def _on_missing(self, order: Order) -> None:
        """The venue does not know this order: an intent that never arrived, or a stale row."""
        failed = order.replace(state=OrderState.FAILED, reason="unknown to the venue")
        self._forget(failed)
        self._persist(orders=(failed,))
        if order.side is Side.BUY:
            self._abandon_entry(failed)
        elif order.type is OrderType.MARKET:
            self._retry_exit()
        elif order.client_order_id == self.position.stop_order_id:
            self._place_fresh_stop(self.position.highest)

    # --- transitions --------------------------------------------------------------------------

    def _close(self, order: Order, report: OrderReport, *, reason: str) -> None:
        closed = logic.close_position(self.position, order, report, self.settings, self.filters,
                                      reason=reason, time=self._time_of(report))
        unsent = ()
        if self.exit_order is not None:  # the stop filled before our cancel: no sale needed
            unsent = (self.exit_order.replace(state=OrderState.FAILED, reason="not needed"),)
            self.exit_order = None
        self._durable(positions=(closed.position,), orders=(closed.order, *unsent),
                      fills=closed.fills)
        self._forget(closed.order)
        for stale in [o for o in self.orders.values() if o.side is Side.SELL]:
            self._forget(stale)
        self.position = closed.position
        self.exiting = False
        # Closed by the venue matching a price (§3 step 2): re-enter on the next price, not this.
        self.closed_on_this_price = self.matched
        self._count_order(order, "filled")
        log_event(log, "position_closed", symbol=self.symbol,
                  position_id=closed.position.position_id, reason=reason,
                  quote=self.filters.quote_asset,
                  entry_price=closed.position.entry_price, exit_price=closed.position.exit_price,
                  qty=closed.position.qty, pnl=closed.position.pnl)
        if self.w.on_trade is not None:
            self.w.on_trade(closed.position)
        self.realized += closed.position.pnl
        if self.metrics:
            self.metrics.realized(self.realized)

    def _abandon_entry(self, order: Order) -> None:
        self._forget(order)
        self.position = self.position.replace(state=PositionState.FLAT, exit_reason="no_entry",
                                              qty=Decimal(0))
        self._persist(positions=(self.position,), orders=(order,))

    def _retry_exit(self) -> None:
        """Sell at market after the stop was canceled (timeout), or again after a failure."""
        position, order = logic.plan_exit(self.position, self.w.prefix)
        self._durable(positions=(position,), orders=(order,))
        self.position = position
        self._send(PlaceMarketOrder(order=order), order)

    def _place_fresh_stop(self, highest: Decimal, levels_from: Order | None = None) -> None:
        if levels_from is not None:
            levels = StopLevels(stop=levels_from.stop_price, limit=levels_from.limit_price)
        else:
            levels = levels_at(highest, self.settings, self.filters.tick)
            if self.position.stop is not None and levels.stop < self.position.stop:
                levels = StopLevels(stop=self.position.stop, limit=self.position.limit)
        position, order = logic.plan_stop(self.position.replace(highest=highest), levels,
                                          self.w.prefix)
        self._durable(positions=(position,), orders=(order,))
        self.position = position
        self._send(PlaceStop(order=order), order)

    def _halt(self, reason: str) -> None:
        self.halted = True
        self.position = self.position.replace(halted=True, halt_reason=reason)
        self._persist(positions=(self.position,))
        log_event(log, "pair_halted", level=logging.ERROR, symbol=self.symbol, reason=reason)
        if self.metrics:
            self.metrics.halted(True)  # also takes the pair down

    # --- plumbing ---------------------------------------------------------------------------

    def _send(self, command, order: Order) -> None:
        self.in_flight.add(order.client_order_id)
        self._track(order)
        self.w.gateway.tell(command)

    def _done(self, client_order_id: str, reply: bool) -> None:
        if reply:
            self.in_flight.discard(client_order_id)

    def _track(self, order: Order) -> None:
        self.orders[order.client_order_id] = order

    def _forget(self, order: Order) -> None:
        self.orders.pop(order.client_order_id, None)

    def _durable(self, **rows) -> None:
        """Write ahead: block until the DBWriter has committed these rows."""
        try:
            self.w.db_writer.ask(Persist(**rows), timeout=self.w.durable_timeout_s)
        except pykka.ActorDeadError:
            raise
        except Exception as exc:  # the intent is not on disk: nothing may be sent
            raise StorageFailed(f"database write failed: {exc}") from exc

    def _persist(self, **rows) -> None:
        self.w.db_writer.tell(Persist(**rows))

    def _time_of(self, report: OrderReport) -> str:
        """When a fill happened: the venue's time of its last execution."""
        if report.executions and report.executions[-1].time:
            return report.executions[-1].time
        return self.tick_time or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def _observe(self, tick: Tick) -> None:
        self.tick_time = tick.time
        if self.metrics is None:
            return
        p = self.position
        self.metrics.tick(tick.price, p.highest or None, p.stop, p.qty,
                          logic.unrealized_pnl(p, tick.price, self.settings.fee_pct))
        if tick.received_ns:
            self.metrics.decision_latency((time.perf_counter_ns() - tick.received_ns) / 1e9)

    def _observe_protection(self) -> None:
        """Flag a held position with no live stop on the exchange. During a cancelReplace the
        old stop stays tracked and open until the venue confirms, so a move is not a gap."""
        if self.metrics is None:
            return
        held = self.position.state in (PositionState.OPEN, PositionState.EXITING)
        self.metrics.unprotected(held and not any(
            o.side is Side.SELL and o.type is OrderType.STOP_LOSS_LIMIT and o.state.is_open
            for o in self.orders.values()))

    def _count_order(self, order: Order, result: str) -> None:
        if self.metrics:
            self.metrics.order(order.type.value, result)

    def _log_order(self, client_order_id: str, state, type_) -> None:
        log_order_event(log, "order", symbol=self.symbol, client_order_id=client_order_id,
                        state=state, type=type_)

    def _snapshot(self) -> dict:
        return {"symbol": self.symbol, "position": self.position,
                "orders": dict(self.orders), "in_flight": len(self.in_flight),
                "halted": self.halted, "last_price": self.last_price,
                "realized": self.realized, "entry_refusals": self.entry_refusals,
                "refusal_reason": self.refusal_reason}

