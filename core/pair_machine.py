"""One pair's state machine: ``step(pair, state, event) -> (state, effects)``. Pure: no pykka,
no peewee, no IO, no clock but the prices' own timestamps.

The position goes FLAT → ENTERING → OPEN → EXITING → FLAT (DESIGN.md §3, §4):
- FLAT: with ``entry = "always"`` a price buys at market (not the price that closed the last
  trade, §3 step 2). A refused buy backs off or halts (``core.pair_logic.on_entry_refused``).
- ENTERING: the buy is out. Filled: OPEN, and its first stop.
- OPEN: each price trails the stop (``core.pair_logic.on_price``); a triggered stop that does
  not fill in ``stop_fill_timeout_s`` becomes an exit. The position always has a stop: one
  canceled from outside, refused, or lost in a failed move is placed again.
- EXITING: leaving at market. The sale is written ahead, then the stop is canceled, then the
  sale is sent. A stop that fills meanwhile closes the position instead.

A stop that would trigger at once (its stop price at or above the last price: Binance refuses
it with -2010) is never sent: the price is already through it, so the position exits at market,
which is what §3 means by such a stop. So does a stop the filters refuse (``core.stop_rules``).

Events are a price (``PriceSeen``), a venue event (``core.commands``), or a (re)start of the
pair or of the Gateway. Effects are data, carried out in order by the PairActor: ``Write`` rows
(``durable``: committed before the next effect, the write-ahead intent of §4), ``Send`` a
command to the Gateway, ``Halt``, ``Log``, ``Count`` an order outcome, ``StopMoved``, ``Closed``.

After every event ``_drive`` restores the standing goals, so every path that loses a stop (a
cancel from outside, a partial cancelReplace failure, a refusal, a restart) heals the same way.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from core import pair_logic as logic
from core.commands import (
    BalanceSeen,
    CancelRefused,
    FiltersRefreshed,
    MarketReopened,
    MoveDropped,
    OrderMissing,
    OrderRejected,
    OrderUpdated,
    PlaceMarketOrder,
    QueryOrder,
    ReplaceStop,
    StopReplaced,
    StraysCanceled,
)
from core.errors import BelowMinNotional, InvariantViolation
from core.pair_adopt import Holdings
from core.pair_state import (  # noqa: F401 - the machine's data, re-exported
    NO_GUARD,
    AdoptSkipped,
    Closed,
    Count,
    Drained,
    Draining,
    Effect,
    Event,
    GatewayRestarted,
    Halt,
    Log,
    Pair,
    PairState,
    PriceSeen,
    Send,
    Started,
    StopMoved,
    TimePassed,
    Write,
    initial_state,
    is_sale,
    is_stop,
)
from core.stop_rules import fit_stop, would_trigger
from core.trailing import StopLevels
from core.types import EntryMode, Order, OrderReport, OrderState, PositionState, Side, Tick


def step(pair: Pair, state: PairState, event: Event) -> tuple[PairState, tuple[Effect, ...]]:
    """Apply one event; the new state and the effects to carry out, in order."""
    run = _Step(pair, state)
    run.handle(event)
    run.drive()
    run.say_drained()
    return run.state, tuple(run.effects)


class _Step(Holdings):
    """One call of ``step``: the handlers of each event."""

    # dispatch

    def handle(self, event: Event) -> None:
        if self.state.balance is not None and not isinstance(
                event, PriceSeen | BalanceSeen | TimePassed):
            self.set(balance=None)  # a venue event may have changed the balance kept
        if self.late_entry(event):
            return
        if self.is_past(event):  # about an order of an earlier position: its history only
            self.on_past(event)
            return
        match event:
            case PriceSeen(tick=tick):
                self.on_price(tick)
            case TimePassed(ts=ts):
                self.on_time(ts)
            case Draining(on=on):
                self.set(draining=on, drained=False)
                self.log("draining" if on else "trading again",
                         note="protects its position, buys nothing" if on else "")
            case OrderUpdated(report=report, reply=reply, matched=matched):
                if reply:
                    self.answered(report.client_order_id)
                self.on_report(report, matched=matched)
            case StopReplaced():
                self.answered(event.new.client_order_id)
                self.on_replaced(event)
            case OrderRejected(order=order):
                self.answered(order.client_order_id)
                self.on_rejected(event)
            case OrderMissing(order=order):
                self.answered(order.client_order_id)
                self.on_missing(order)
            case StraysCanceled(canceled=canceled):
                self.answered(self._strays_id())
                if canceled == 0:  # the cap is full of orders that are not ours: wait, retry
                    self.retry_later()
            case BalanceSeen() if self.state.guard.balance \
                    and event.asset == self.filters.base_asset:
                self.on_balance_read(event)
            case BalanceSeen():
                self.on_balance(event)
            case MarketReopened():
                self.on_market_reopened(event)
            case FiltersRefreshed():
                self.on_filters(event)
            case CancelRefused(order=order):
                self.answered(order.client_order_id)
                self.watch_market()  # the order stands; drive asks again once it trades
            case MoveDropped(order=order):  # the stop it would replace is gone: never sent
                self.answered(order.client_order_id)
                self.forget(order)
                self.write(orders=(order.replace(state=OrderState.FAILED,
                                                 reason="not sent: its stop was gone"),))
            case Started(confirmed_open=confirmed):
                self.on_started(confirmed)
            case GatewayRestarted():
                self.on_started(frozenset(), only_in_flight=True)
            case _:
                raise InvariantViolation(f"pair machine got an unknown event {event!r}")

    # prices

    def on_price(self, tick: Tick) -> None:
        closed_now = self.state.closed_on_this_price
        self.set(last_price=tick.price, last_ts=tick.ts, last_time=tick.time,
                 closed_on_this_price=False)
        p = self.position
        if p.state is PositionState.FLAT:
            retry_at = self.state.entry_retry_at
            if (not closed_now and not self.state.in_flight and not self.state.halted
                    and not self.state.draining
                    and self.pair.settings.entry is EntryMode.ALWAYS
                    and (retry_at is None or tick.ts >= retry_at)):
                self.enter(tick)
        elif p.state is PositionState.OPEN:
            if p.trailing_delta is not None:
                self.trail_native(tick)  # §3b: the venue trails it; never moved
            else:
                self.trail(tick)
        self.balance_on_price(closed_now)

    def late_entry(self, event) -> bool:
        """An entry given up (its buy unknown to the venue) that filled after all, while the
        pair is still flat: the coins were bought, so the position takes them on and protects
        them (the landing window makes this rare)."""
        p = self.position
        if not (isinstance(event, OrderUpdated) and p.state is PositionState.FLAT
                and p.exit_reason == "no_entry" and event.report.side is Side.BUY
                and event.report.state is OrderState.FILLED
                and event.report.client_order_id.startswith(
                    f"{self.pair.prefix}-{p.position_id}-")):
            return False
        r = event.report
        buy = Order(client_order_id=r.client_order_id, position_id=p.position_id,
                    symbol=r.symbol, side=r.side, type=r.type, qty=r.qty,
                    state=OrderState.PENDING_NEW)
        self.log("late_entry_fill", "warning", client_order_id=r.client_order_id,
                 action="take the coins on and protect them")
        self.set(position=p.replace(state=PositionState.ENTERING, exit_reason=None))
        self.answered(r.client_order_id)
        self.on_entry_report(buy, self.with_all_executions(r))
        return True

    def say_drained(self) -> None:
        """A draining pair that is flat and waits for nothing says so, once."""
        s = self.state
        if s.draining and not s.drained and not s.in_flight \
                and self.position.state is PositionState.FLAT:
            self.set(drained=True)
            self.effects.append(Drained())

    def on_time(self, ts: Decimal) -> None:
        """The clock moved with no price: a triggered stop that has not filled in
        ``stop_fill_timeout_s`` becomes an exit; retries come due (``drive``)."""
        if ts <= self.state.last_ts:
            return
        self.set(last_ts=ts)
        p, stop = self.position, self.state.stop_order
        settled = stop is not None and stop.state.is_open and not self.state.in_flight
        if (p.state is PositionState.OPEN and settled and p.triggered_at is not None
                and ts - p.triggered_at >= self.pair.settings.stop_fill_timeout_s):
            self.begin_exit("timeout")

    def enter(self, tick: Tick) -> None:
        s = self.pair
        try:
            position, order = logic.plan_entry(self.position, tick, s.settings, self.filters,
                                               s.prefix)
        except BelowMinNotional as exc:
            self.halt(f"{exc} at {tick.time or tick.ts} price {tick.price}", entry=True)
            return
        self.write(durable=True, positions=(position,), orders=(order,))
        self.set(position=position)
        self.send(PlaceMarketOrder(order=order), order)

    def trail(self, tick: Tick) -> None:
        stop = self.state.stop_order
        settled = stop is not None and stop.state.is_open and not self.state.in_flight
        before = self.position
        decision = logic.on_price(before, tick, self.pair.settings, self.filters,
                                  may_move=settled)
        self.set(position=decision.position)
        if decision.timeout_exit and settled:
            self.begin_exit("timeout")
        elif decision.move_to is not None:
            self.move_stop(stop, decision.move_to, tick.price)
        elif decision.position.triggered_at != before.triggered_at:
            self.write(positions=(decision.position,))  # the timeout runs from here

    def move_stop(self, stop: Order, levels: StopLevels, price: Decimal) -> None:
        if would_trigger(levels.stop, price):
            self.log("stop_would_trigger", "warning", stop=levels.stop, price=price,
                     action="exit at market")
            self.begin_exit("stop")
            return
        fitted = fit_stop(levels, self.position.qty, self.filters, price)
        if fitted.problem is not None:
            self.log("stop_move_not_sent", "warning", stop=levels.stop, problem=fitted.problem)
            return
        if fitted.clamped:
            self.log("stop_limit_clamped", limit=levels.limit, to=fitted.levels.limit)
        position, new = logic.plan_stop_move(self.position, fitted.levels, self.pair.prefix)
        self.write(durable=True, positions=(position,), orders=(new,))
        self.set(position=position)
        self.send(ReplaceStop(old=stop, new=new, gap=new.stop_price - stop.stop_price), new)

    # venue reports

    def on_report(self, report: OrderReport, *, matched: bool) -> None:
        order = self.state.orders.get(report.client_order_id)
        if order is None:
            return  # an order this pair no longer tracks (superseded, or a closed position)
        known = len(self.state.executions.get(report.client_order_id, {}))
        report = self.with_all_executions(report)
        if report.state is not order.state or len(report.executions) > known:
            self.log("order", client_order_id=report.client_order_id, state=report.state,
                     type=report.type)
        if order.side is Side.BUY:
            self.on_entry_report(order, report)
        elif is_sale(order):
            self.on_sale_report(order, report, matched=matched)
        else:
            self.on_stop_report(order, report, matched=matched)

    def with_all_executions(self, report: OrderReport) -> OrderReport:
        cid = report.client_order_id
        seen = dict(self.state.executions.get(cid, {}))
        for execution in report.executions:
            seen[execution.trade_id] = execution
        executions = dict(self.state.executions)
        if report.state.is_final:
            executions.pop(cid, None)
        else:
            executions[cid] = seen
        self.set(executions=executions)
        if len(seen) == len(report.executions):
            return report
        return dataclasses.replace(report, executions=tuple(seen.values()))

    def on_entry_report(self, order: Order, report: OrderReport) -> None:
        if report.state is OrderState.FILLED:
            s = self.pair
            opened = logic.on_entry_filled(self.position, order, report, s.settings,
                                           self.filters, self.time_of(report))
            self.forget(order)
            self.set(entry_refusals=0, entry_retry_at=None, exit_executions=())
            self.count(order, "filled")
            self.protect(opened.position, filled=(opened.entry_order, opened.fills))
        elif report.state.is_final:
            self.abandon_entry(logic.apply_report(order, report))
        else:
            self.track(logic.apply_report(order, report))

    def on_sale_report(self, order: Order, report: OrderReport, *, matched: bool) -> None:
        updated = logic.apply_report(order, report)
        if report.state is OrderState.FILLED:
            self.close(order, report, reason=self.position.exit_reason or "timeout",
                       matched=matched)
        elif report.state.is_final:  # expired unfilled: the next sale is planned by drive
            self.forget(updated)
            self.set(exit_executions=(*self.state.exit_executions, *report.executions))
            self.write(orders=(updated,), fills=self.fills_of(updated, report))
            self.count(updated, updated.state.value.lower())
        else:
            self.track(updated)

    def on_stop_report(self, order: Order, report: OrderReport, *, matched: bool) -> None:
        updated = logic.apply_report(order, report)
        if report.state is OrderState.FILLED:
            self.close(order, report, reason="stop", matched=matched)
            return
        if report.state.is_final:  # canceled, expired or rejected: no longer protects
            self.withdraw_move_of(order)
            self.forget(updated)
            self.set(exit_executions=(*self.state.exit_executions, *report.executions))
            self.write(orders=(updated,), fills=self.fills_of(updated, report))
            self.count(updated, updated.state.value.lower())
            if order.client_order_id == self.position.stop_order_id:
                self.set(position=self.position.replace(stop_order_id=None))
                if self.position.state is PositionState.OPEN:
                    self.log("stop_gone", "warning", client_order_id=order.client_order_id,
                             state=report.state, action="place a fresh stop")
            return
        if (order.state is OrderState.PENDING_NEW and updated.state.is_open
                and order.replaces is not None and order.replaces == self.position.stop_order_id):
            # A move (or top-up) whose answer was lost (the Gateway restarted): the venue did it.
            previous = self.state.orders.get(order.replaces)
            self.count(updated, "replaced")
            if previous is None or not self.replaced_by(previous, updated):
                old_stop = self.position.stop
                self.set(position=logic.stop_moved(self.position, updated))
                self.effects.append(StopMoved(old=old_stop, new=self.position.stop))
            if previous is not None:
                self.query(previous)
        elif order.state is OrderState.PENDING_NEW and updated.state.is_open:
            self.count(updated, "accepted")
            self.set(guard=NO_GUARD)  # the coins are under a stop again
        self.track(updated)
        self.write(orders=(updated,))
        p = self.position
        if (report.triggered and report.triggered_ts is not None and p.triggered_at is None
                and order.client_order_id == p.stop_order_id and p.state is PositionState.OPEN):
            # It triggered (perhaps while we were down): the venue's clock starts the timeout.
            self.set(position=p.replace(triggered_at=report.triggered_ts))
            self.write(positions=(self.position,))

    def on_replaced(self, msg: StopReplaced) -> None:
        r = msg.report
        old = logic.apply_report(msg.old, r.canceled) if r.canceled is not None else None
        if old is not None and r.new is not None:
            new = logic.apply_report(msg.new, r.new)
            self.forget(old)
            self.track(new)
            resized = self.replaced_by(msg.old, new)
            old_stop = self.position.stop
            if not resized:
                self.set(position=logic.stop_moved(self.position, new))
            self.write(positions=(self.position,), orders=(old, new))
            self.count(new, "replaced")
            if resized:
                self.log("order", client_order_id=new.client_order_id, state=new.state,
                         type=new.type)
            else:
                self.log("stop_moved", client_order_id=new.client_order_id,
                         old_stop=old_stop, new_stop=self.position.stop)
                self.effects.append(StopMoved(old=old_stop, new=self.position.stop))
            return
        failed = msg.new.replace(state=OrderState.FAILED, reason=r.new_error or r.cancel_error)
        self.forget(failed)
        self.count(failed, "failed")
        self.set(topup_price=None)
        if old is None:  # the old stop was not canceled: it may have filled; ask
            self.write(orders=(failed,))
            self.query(msg.old)
            return
        # Binance 409 -2021: the old stop is gone and the new one refused. drive places a
        # fresh stop at once, or exits at market if that would trigger too.
        self.forget(old)
        self.write(orders=(old, failed))
        self.set(position=self.position.replace(stop_order_id=None))
        self.log("stop_replace_half_failed", "warning", old=old.client_order_id,
                 error=r.new_error, action="protect again")

    def on_rejected(self, msg: OrderRejected) -> None:
        order = msg.order.replace(state=OrderState.REJECTED, reason=msg.reason)
        self.forget(order)
        self.write(orders=(order,))
        self.count(order, "rejected")
        self.log("order_rejected", "warning", client_order_id=order.client_order_id,
                 code=msg.code, reason=msg.reason)
        if order.side is Side.BUY:
            self.abandon_entry(order)
            self.entry_refused(msg.code, msg.reason)
        else:  # a stop for held coins, or their sale: never a halt
            self.refused_protection(order, msg.kind, msg.reason)

    def on_missing(self, order: Order) -> None:
        """The venue does not know this order: an intent that never arrived, or a stale row."""
        failed = order.replace(state=OrderState.FAILED, reason="unknown to the venue")
        self.forget(failed)
        self.write(orders=(failed,))
        if order.side is Side.BUY:
            self.abandon_entry(failed)
        elif order.client_order_id == self.position.stop_order_id:
            self.set(position=self.position.replace(stop_order_id=None))
        elif order.replaces is not None and order.replaces in self.state.orders:
            self.query(self.state.orders[order.replaces])  # did the lost move cancel it?

    def on_started(self, confirmed: frozenset[str], *, only_in_flight: bool = False) -> None:
        if only_in_flight:  # reads the lost Gateway had in hand: drive asks again if needed
            for key in (self._strays_id(), self._market_id(), self._filters_id(),
                        self._balance_id()):
                self.answered(key)
            self.set(guard=self.state.guard.replace(market_closed=False, balance=False))
        for order in list(self.state.orders.values()):
            cid = order.client_order_id
            asked = (cid in self.state.in_flight if only_in_flight else
                     order.state is OrderState.PENDING_NEW
                     or (order.state.is_open and cid not in confirmed))
            if asked:
                self.query(order)
        for order in list(self.state.history.values()):  # an earlier position's, still out
            if order.client_order_id in self.state.in_flight:
                self.ask(QueryOrder(order=order), order.client_order_id)

