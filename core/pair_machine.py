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
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core import pair_logic as logic
from core.commands import (
    CancelOrder,
    CancelStrays,
    Command,
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
from core.errors import BelowMinNotional, InvariantViolation
from core.stop_rules import fit_stop, would_trigger
from core.trailing import StopLevels, levels_at
from core.types import (
    EntryMode,
    Execution,
    Fill,
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

ZERO = Decimal(0)

# --- the pair, its state, its events, its effects --------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Pair:
    """What does not change while the pair runs."""

    settings: PairSettings
    filters: SymbolFilters
    prefix: str = "rt"


@dataclass(frozen=True, slots=True, kw_only=True)
class PairState:
    """Everything the pair knows. ``orders`` are the position's orders that are not final;
    ``in_flight`` the client ids with a command out and no answer yet; ``executions`` every
    execution seen per open order (a user-stream report carries only its latest);
    ``exit_executions`` what sells that ended unfilled (a stop partly filled, then canceled)
    already sold of the position."""

    position: Position
    orders: Mapping[str, Order] = field(default_factory=dict)
    in_flight: frozenset[str] = frozenset()
    executions: Mapping[str, Mapping[str, Execution]] = field(default_factory=dict)
    exit_executions: tuple[Execution, ...] = ()  # sells of the position that ended unfilled
    last_price: Decimal | None = None
    last_ts: Decimal = ZERO
    last_time: str = ""
    closed_on_this_price: bool = False
    halted: bool = False
    entry_refusals: int = 0
    entry_retry_at: Decimal | None = None
    refusal_reason: str | None = None
    realized: Decimal = ZERO

    def replace(self, **changes: Any) -> PairState:
        return dataclasses.replace(self, **changes)

    @property
    def stop_order(self) -> Order | None:
        """The position's own stop, while the pair tracks it."""
        return self.orders.get(self.position.stop_order_id or "")

    @property
    def protected(self) -> bool:
        """A held position has an open stop on the venue (a stop being moved still counts)."""
        return any(_is_stop(o) and o.state.is_open for o in self.orders.values())


def initial_state(position: Position | None, orders: tuple[Order, ...], *, symbol: str,
                  realized: Decimal = ZERO) -> PairState:
    """A pair's state rebuilt from the DB: its position and the orders not yet final."""
    position = position or logic.flat_position(symbol)
    tracked = {o.client_order_id: o for o in orders
               if not o.state.is_final and o.position_id == position.position_id}
    return PairState(position=position, orders=tracked, halted=position.halted,
                     realized=realized)


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceSeen:
    tick: Tick
    matched: tuple[OrderReport, ...] = ()  # unused by step; the venue's reports come first


@dataclass(frozen=True, slots=True, kw_only=True)
class Started:
    """The pair (re)started from the DB. ``confirmed_open``: orders boot reconciliation has
    just seen open on the venue, which need not be asked about again."""

    confirmed_open: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayRestarted:
    """The Gateway was replaced: whatever it had in hand is lost, so ask about it again."""


Event = (PriceSeen | Started | GatewayRestarted | OrderUpdated | StopReplaced | OrderRejected
         | OrderMissing | StraysCanceled)


@dataclass(frozen=True, slots=True, kw_only=True)
class Write:
    positions: tuple[Position, ...] = ()
    orders: tuple[Order, ...] = ()
    fills: tuple[Fill, ...] = ()
    durable: bool = False  # on disk before the next effect runs (a write-ahead intent)


@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    command: Command


@dataclass(frozen=True, slots=True, kw_only=True)
class Halt:
    """Stop trading the pair; its stop stays on the venue. ``entry``: an entry that can never
    be made (a replay stops there)."""

    reason: str
    entry: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Log:
    event: str
    level: str = "info"
    fields: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Count:
    """One order outcome (``orders_total{type,result}``)."""

    order_type: str
    result: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StopMoved:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Closed:
    """A trade closed; ``position`` carries its exit and P&L."""

    position: Position


Effect = Write | Send | Halt | Log | Count | StopMoved | Closed


def step(pair: Pair, state: PairState, event: Event) -> tuple[PairState, tuple[Effect, ...]]:
    """Apply one event; the new state and the effects to carry out, in order."""
    run = _Step(pair, state)
    run.handle(event)
    run.drive()
    return run.state, tuple(run.effects)


# --- the machine ------------------------------------------------------------------------------


def _is_stop(order: Order) -> bool:
    return order.side is Side.SELL and order.type is OrderType.STOP_LOSS_LIMIT


def _is_sale(order: Order) -> bool:
    return order.side is Side.SELL and order.type is OrderType.MARKET


class _Step:
    """One call of ``step``: the state as it changes, and the effects so far."""

    def __init__(self, pair: Pair, state: PairState) -> None:
        self.pair = pair
        self.state = state
        self.effects: list[Effect] = []

    # small helpers

    @property
    def position(self) -> Position:
        return self.state.position

    def set(self, **changes: Any) -> None:
        self.state = self.state.replace(**changes)

    def track(self, order: Order) -> None:
        self.set(orders={**self.state.orders, order.client_order_id: order})

    def forget(self, order: Order) -> None:
        orders = dict(self.state.orders)
        orders.pop(order.client_order_id, None)
        self.set(orders=orders, in_flight=self.state.in_flight - {order.client_order_id})

    def answered(self, client_order_id: str) -> None:
        self.set(in_flight=self.state.in_flight - {client_order_id})

    def write(self, *, durable: bool = False, **rows: Any) -> None:
        self.effects.append(Write(durable=durable, **rows))

    def send(self, command: Command, order: Order) -> None:
        self.track(order)
        self.set(in_flight=self.state.in_flight | {order.client_order_id})
        self.effects.append(Send(command=command))

    def log(self, event: str, level: str = "info", **fields: Any) -> None:
        self.effects.append(Log(event=event, level=level, fields=tuple(fields.items())))

    def count(self, order: Order, result: str) -> None:
        self.effects.append(Count(order_type=order.type.value, result=result))

    def halt(self, reason: str, *, entry: bool = False) -> None:
        position = self.position.replace(halted=True, halt_reason=reason)
        self.set(position=position, halted=True)
        self.write(positions=(position,))
        self.effects.append(Halt(reason=reason, entry=entry))

    # dispatch

    def handle(self, event: Event) -> None:
        match event:
            case PriceSeen(tick=tick):
                self.on_price(tick)
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
            case StraysCanceled():
                self.answered(self._strays_id())
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
        if self.state.halted:
            return
        if p.state is PositionState.FLAT:
            retry_at = self.state.entry_retry_at
            if (not closed_now and not self.state.in_flight
                    and self.pair.settings.entry is EntryMode.ALWAYS
                    and (retry_at is None or tick.ts >= retry_at)):
                self.enter(tick)
        elif p.state is PositionState.OPEN:
            self.trail(tick)

    def enter(self, tick: Tick) -> None:
        s = self.pair
        try:
            position, order = logic.plan_entry(self.position, tick, s.settings, s.filters,
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
        decision = logic.on_price(before, tick, self.pair.settings, self.pair.filters,
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
        fitted = fit_stop(levels, self.position.qty, self.pair.filters, price)
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
        report = self.with_all_executions(report)
        self.log("order", client_order_id=report.client_order_id, state=report.state,
                 type=report.type)
        if order.side is Side.BUY:
            self.on_entry_report(order, report)
        elif _is_sale(order):
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
            opened = logic.on_entry_filled(self.position, order, report, s.settings, s.filters,
                                           self.time_of(report))
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
            # A move whose answer was lost (the Gateway restarted): the venue did it.
            self.set(position=logic.stop_moved(self.position, updated))
            self.count(updated, "replaced")
            self.effects.append(StopMoved())
            previous = self.state.orders.get(order.replaces)
            if previous is not None:
                self.query(previous)
        elif order.state is OrderState.PENDING_NEW and updated.state.is_open:
            self.count(updated, "accepted")
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
            self.set(position=logic.stop_moved(self.position, new))
            self.write(positions=(self.position,), orders=(old, new))
            self.log("order", client_order_id=new.client_order_id, state=new.state,
                     type=new.type)
            self.count(new, "replaced")
            self.effects.append(StopMoved())
            return
        failed = msg.new.replace(state=OrderState.FAILED, reason=r.new_error or r.cancel_error)
        self.forget(failed)
        self.count(failed, "failed")
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
        elif _is_sale(order):
            if msg.insufficient:
                self.halt(f"market sell refused: {msg.reason} (coins sold outside Ratchet?)")
        elif msg.would_trigger:
            self.set(position=self.position.replace(stop_order_id=None))
            self.begin_exit("stop")
        elif msg.too_many_algo:
            self.set(position=self.position.replace(stop_order_id=None))
            keep = frozenset(cid for cid, o in self.state.orders.items() if _is_stop(o))
            self.effects.append(Send(command=CancelStrays(
                symbol=self.pair.settings.symbol, prefix=self.pair.prefix, keep=keep)))
            self.set(in_flight=self.state.in_flight | {self._strays_id()})
        elif order.replaces is None or msg.insufficient:
            self.halt(f"stop order rejected: {msg.reason}")
        # A refused move (its filters, checked before the cancel) leaves the old stop in place.

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
        if self.state.halted and not only_in_flight:
            return
        for order in list(self.state.orders.values()):
            cid = order.client_order_id
            asked = (cid in self.state.in_flight if only_in_flight else
                     order.state is OrderState.PENDING_NEW
                     or (order.state.is_open and cid not in confirmed))
            if asked:
                self.query(order)

    # transitions

    def entry_refused(self, code: int | None, reason: str) -> None:
        refusals = self.state.entry_refusals + 1
        refusal = logic.on_entry_refused(code=code, reason=reason, refusals=refusals,
                                         now=self.state.last_ts)
        self.set(entry_refusals=refusals, refusal_reason=refusal.reason)
        if refusal.halt:
            self.halt(refusal.reason, entry=True)
            return
        self.set(entry_retry_at=refusal.retry_at)
        self.log("entry_backoff", "warning", reason=refusal.reason, refusals=refusals,
                 retry_in_s=refusal.retry_at - self.state.last_ts)

    def abandon_entry(self, order: Order) -> None:
        self.forget(order)
        self.abandon_entry_position(orders=(order,))

    def abandon_entry_position(self, orders: tuple[Order, ...] = ()) -> None:
        flat = self.position.replace(state=PositionState.FLAT, exit_reason="no_entry",
                                     qty=ZERO)
        self.set(position=flat)
        self.write(positions=(flat,), orders=orders)

    def protect(self, position: Position, *, filled: tuple[Order, tuple[Fill, ...]] | None = None,
                highest: Decimal | None = None) -> None:
        """Place a stop under an OPEN position that has none: after its entry, or again. Its
        level follows §3 from ``highest`` (default: the position's), never below the stop it
        had; one that would trigger or that the filters refuse becomes an exit at market."""
        s = self.pair
        top = position.highest if highest is None else highest
        levels = levels_at(top, s.settings, s.filters.tick)
        if position.stop is not None and levels.stop < position.stop:
            levels = StopLevels(stop=position.stop, limit=position.limit)
        position = position.replace(highest=top)
        rows: dict[str, Any] = {"orders": (), "fills": ()}
        if filled is not None:
            rows = {"orders": (filled[0],), "fills": filled[1]}
        fitted = fit_stop(levels, self.remaining(position), s.filters, self.state.last_price)
        trigger = would_trigger(fitted.levels.stop, self.state.last_price)
        if trigger or fitted.problem is not None:
            self.log("stop_not_placed", "warning", stop=fitted.levels.stop,
                     price=self.state.last_price,
                     problem="would trigger immediately" if trigger else fitted.problem,
                     action="exit at market")
            self.set(position=position)
            self.write(durable=True, positions=(position,), **rows)
            self.begin_exit("stop")
            return
        position, order = logic.plan_stop(position, fitted.levels, s.prefix,
                                          qty=self.remaining(position))
        self.write(durable=True, positions=(position,), orders=(*rows["orders"], order),
                   fills=rows["fills"])
        self.set(position=position)
        self.send(PlaceStop(order=order), order)

    def begin_exit(self, reason: str) -> None:
        """OPEN → EXITING: write the sale ahead (not sent yet); drive cancels the stop first."""
        position, sale = logic.plan_exit(self.position, self.pair.prefix,
                                         qty=self.remaining(self.position))
        position = position.replace(stop_order_id=self.position.stop_order_id,
                                    exit_reason=reason)
        # The sale is on disk before the stop goes: if it cannot be written (disk full), the
        # stop stays on the venue instead of leaving the position bare.
        self.write(durable=True, positions=(position,), orders=(sale,))
        self.set(position=position)
        self.track(sale)

    def close(self, order: Order, report: OrderReport, *, reason: str, matched: bool) -> None:
        s = self.pair
        closed = logic.close_position(self.position, order, report, s.settings, s.filters,
                                      reason=reason, time=self.time_of(report),
                                      earlier_exits=self.state.exit_executions)
        unsent = tuple(o.replace(state=OrderState.FAILED, reason="not needed")
                       for o in self.state.orders.values()
                       if o.state is OrderState.PENDING_NEW and o is not order
                       and o.client_order_id not in self.state.in_flight)
        self.write(durable=True, positions=(closed.position,), orders=(closed.order, *unsent),
                   fills=closed.fills)
        for stale in [o for o in self.state.orders.values() if o.side is Side.SELL]:
            self.forget(stale)
        self.set(position=closed.position, realized=self.state.realized + closed.position.pnl,
                 closed_on_this_price=matched,  # §3 step 2: re-enter on the next price
                 executions={}, exit_executions=())
        self.count(order, "filled")
        self.log("position_closed", position_id=closed.position.position_id, reason=reason,
                 quote=s.filters.quote_asset, entry_price=closed.position.entry_price,
                 exit_price=closed.position.exit_price, qty=closed.position.qty,
                 pnl=closed.position.pnl)
        self.effects.append(Closed(position=closed.position))

    def query(self, order: Order) -> None:
        self.send(QueryOrder(order=order), order)

    # standing goals

    def drive(self) -> None:
        """An OPEN position has a stop; an EXITING one is on its way out at market. A stop
        that cannot be placed turns OPEN into EXITING, so this runs until nothing changes."""
        for _ in range(3):
            before = self.state
            self.drive_once()
            if self.state is before:
                return

    def drive_once(self) -> None:
        p = self.position
        if self.state.halted or self.state.in_flight:
            return
        if p.state is PositionState.OPEN and not any(
                _is_stop(o) for o in self.state.orders.values()):
            self.protect(p, highest=max(p.highest, self.state.last_price or ZERO))
        elif p.state is PositionState.EXITING:
            self.drive_exit()
        elif p.state is PositionState.ENTERING and not any(
                o.side is Side.BUY for o in self.state.orders.values()):
            self.abandon_entry_position()

    def drive_exit(self) -> None:
        stop = next((o for o in self.state.orders.values() if _is_stop(o)), None)
        if stop is not None:
            if stop.state is OrderState.PENDING_NEW:
                self.query(stop)  # it may be on the venue: know before selling
            else:
                self.send(CancelOrder(order=stop), stop)
            return
        sale = next((o for o in self.state.orders.values() if _is_sale(o)), None)
        remaining = self.remaining(self.position)
        if sale is not None and sale.state is OrderState.PENDING_NEW and sale.qty != remaining:
            self.forget(sale)  # the stop sold part of the position while it was canceled
            self.write(orders=(sale.replace(state=OrderState.FAILED, reason="qty changed"),))
            sale = None
        if sale is None:
            position, sale = logic.plan_exit(self.position, self.pair.prefix, qty=remaining)
            position = position.replace(exit_reason=self.position.exit_reason)
            self.write(durable=True, positions=(position,), orders=(sale,))
            self.set(position=position)
        if sale.state is OrderState.PENDING_NEW:
            self.send(PlaceMarketOrder(order=sale), sale)

    # derived values

    def remaining(self, position: Position) -> Decimal:
        """What the position still holds: its qty less what its sells already executed."""
        ended = sum((ex.qty for ex in self.state.exit_executions), ZERO)
        live = sum((o.executed_qty for o in self.state.orders.values() if o.side is Side.SELL),
                   ZERO)
        return position.qty - ended - live

    def fills_of(self, order: Order, report: OrderReport) -> tuple[Fill, ...]:
        s = self.pair
        return tuple(logic.executions_to_fills(order, report.executions, s.filters.quote_asset,
                                               s.settings.fee_pct))

    def time_of(self, report: OrderReport) -> str:
        """When a fill happened: the venue's time of its last execution, else the price's."""
        if report.executions and report.executions[-1].time:
            return report.executions[-1].time
        return self.state.last_time

    def _strays_id(self) -> str:
        return f"strays:{self.pair.settings.symbol}"
