"""The pair's moves between states and its standing goals, for ``core.pair_machine``.

``Transitions`` is the step's working state: the pair, its state as it changes, and the effects
so far, with the bookkeeping every handler uses (track, forget, write, send) and the moves
they share: protect an OPEN position, begin an exit, close, abandon an entry, back off. After
every event ``drive`` restores the standing goals: an OPEN position has a stop (or is leaving at
market), an EXITING one is on its way out. It waits only for an answer in flight, a market that
is not trading, or a retry's time (``core.pair_guard``): a halt stops entries, never protection.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core import pair_logic as logic
from core.commands import (
    CancelOrder,
    Command,
    DropMove,
    PlaceMarketOrder,
    PlaceStop,
    QueryOrder,
)
from core.pair_state import (
    NO_GUARD,
    ZERO,
    Closed,
    Count,
    Effect,
    Halt,
    Log,
    Pair,
    PairState,
    Send,
    Write,
    halt_key,
    halt_record,
    is_sale,
    is_stop,
)
from core.stop_rules import fit_stop, would_trigger
from core.trailing import StopLevels, levels_at
from core.types import (
    Fill,
    Order,
    OrderReport,
    OrderState,
    Position,
    PositionState,
    Side,
    SymbolFilters,
)


class Transitions:
    def __init__(self, pair: Pair, state: PairState) -> None:
        self.pair = pair
        self.state = state
        self.effects: list[Effect] = []

    # bookkeeping

    @property
    def position(self) -> Position:
        return self.state.position

    @property
    def filters(self) -> SymbolFilters:
        """The symbol's filters: read again after a filter refusal, else the pair's."""
        return self.state.filters or self.pair.filters

    @property
    def now(self) -> Decimal:
        """The pair's clock: the latest price's time, or a later ``TimePassed``."""
        return self.state.last_ts

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
        """Stop entries: called only while the pair holds no coins (FLAT, or an entry that
        bought nothing). Protection never halts (``core.refusals``)."""
        position = self.position.replace(halted=True, halt_reason=reason)
        self.set(position=position, halted=True)
        # Durable, with the settings it holds under: the same after SIGTERM and kill -9.
        self.write(durable=True, positions=(position,), kv=(
            (halt_key(self.pair.settings.symbol), halt_record(reason, self.pair.settings)),))
        self.effects.append(Halt(reason=reason, entry=entry))

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
        """Place a stop under an OPEN position that has none: after its entry (or adoption), or
        again. Its level follows §3 from ``highest`` (default: the position's), never below the
        stop it had; a native one (§3b) takes its fixed limit from ``highest`` and the delta,
        and keeps the level as Ratchet's estimate. One that would trigger (the estimate, for a
        native stop) or that the filters refuse becomes an exit at market."""
        s = self.pair
        top = position.highest if highest is None else highest
        levels = levels_at(top, s.settings, self.filters.tick)
        if s.trailing_delta is None and position.trailing_delta is None and \
                position.stop is not None and levels.stop < position.stop:
            levels = StopLevels(stop=position.stop, limit=position.limit)
        position = position.replace(highest=top)
        rows: dict[str, Any] = {"orders": (), "fills": ()}
        if filled is not None:
            rows = {"orders": (filled[0],), "fills": filled[1]}
        fitted = fit_stop(levels, self.remaining(position), self.filters, self.state.last_price)
        trigger = would_trigger(fitted.levels.stop, self.state.last_price)
        if trigger or fitted.problem is not None:
            self.log("stop_not_placed", "warning", stop=fitted.levels.stop,
                     price=self.state.last_price,
                     problem="would trigger immediately" if trigger else fitted.problem,
                     action="exit at market")
            self.set(position=position)
            self.begin_exit("stop", **rows)  # one unit: the entry's rows and the sale
            return
        position, order = logic.plan_stop(position, fitted.levels, s.prefix,
                                          qty=self.remaining(position),
                                          trailing_delta=s.trailing_delta)
        self.write(durable=True, positions=(position,), orders=(*rows["orders"], order),
                   fills=rows["fills"])
        self.set(position=position)
        self.send(PlaceStop(order=order), order)

    def begin_exit(self, reason: str, *, orders: tuple[Order, ...] = (),
                   fills: tuple[Fill, ...] = ()) -> None:
        """OPEN → EXITING: write the sale ahead (not sent yet); drive cancels the stop first.
        ``orders``/``fills``: rows that must commit with it (a just-filled entry's)."""
        position, sale = logic.plan_exit(self.position, self.pair.prefix,
                                         qty=self.remaining(self.position))
        position = position.replace(stop_order_id=self.position.stop_order_id,
                                    exit_reason=reason)
        # The sale is on disk before the stop goes: if it cannot be written (disk full), the
        # stop stays on the venue instead of leaving the position bare.
        self.write(durable=True, positions=(position,), orders=(*orders, sale), fills=fills)
        self.set(position=position, guard=self.state.guard.replace(retry_at=None, retries=0))
        self.track(sale)

    def close(self, order: Order, report: OrderReport, *, reason: str, matched: bool) -> None:
        s = self.pair
        closed = logic.close_position(self.position, order, report, s.settings, self.filters,
                                      reason=reason, time=self.time_of(report),
                                      earlier_exits=self.state.exit_executions)
        unsent = tuple(o.replace(state=OrderState.FAILED, reason="not needed")
                       for o in self.state.orders.values()
                       if o.state is OrderState.PENDING_NEW and o is not order
                       and o.client_order_id not in self.state.in_flight)
        self.write(durable=True, positions=(closed.position,), orders=(closed.order, *unsent),
                   fills=closed.fills)
        self.retire(order)
        self.set(orders={cid: o for cid, o in self.state.orders.items()
                         if o.side is not Side.SELL},
                 in_flight=self.state.in_flight - {order.client_order_id})
        self.set(position=closed.position, realized=self.state.realized + closed.position.pnl,
                 closed_on_this_price=matched,  # §3 step 2: re-enter on the next price
                 executions={}, exit_executions=(), guard=NO_GUARD, filters=None)
        self.count(order, "filled")
        self.log("position_closed", position_id=closed.position.position_id, reason=reason,
                 quote=self.filters.quote_asset, entry_price=closed.position.entry_price,
                 exit_price=closed.position.exit_price, qty=closed.position.qty,
                 pnl=closed.position.pnl)
        self.effects.append(Closed(position=closed.position))

    def query(self, order: Order) -> None:
        self.send(QueryOrder(order=order), order)

    def retire(self, closing: Order | None = None) -> None:
        """The position closes: its orders still waiting for the venue go to ``history`` (their
        answers are then about a past position, ``core.pair_past``), staying in flight; a stop
        move still queued in the Gateway is withdrawn (``DropMove``)."""
        history = dict(self.state.history)
        for order in self.state.orders.values():
            if order is closing or order.client_order_id not in self.state.in_flight:
                continue
            history[order.client_order_id] = order
            if order.replaces is not None and order.state is OrderState.PENDING_NEW:
                self.effects.append(Send(command=DropMove(order=order)))
        self.set(history=history)

    def withdraw_move_of(self, stop: Order) -> None:
        """The stop a move in flight would replace is final: withdraw the move, if the Gateway
        still holds it (it answers ``MoveDropped``)."""
        for order in self.state.orders.values():
            if order.replaces == stop.client_order_id and \
                    order.client_order_id in self.state.in_flight:
                self.effects.append(Send(command=DropMove(order=order)))

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
        if self.state.in_flight:
            return
        bare = p.state is PositionState.OPEN and not any(
            is_stop(o) for o in self.state.orders.values())
        if bare and self.unprotected_too_long():
            self.log("unprotected_exit", "warning", since=self.state.guard.bare_since,
                     action="exit at market")
            self.begin_exit("unprotected")
        elif self.waiting():
            return
        elif bare:
            self.protect(p, highest=max(p.highest, self.state.last_price or ZERO))
        elif p.state is PositionState.EXITING:
            self.drive_exit()
        elif p.state is PositionState.ENTERING and not any(
                o.side is Side.BUY for o in self.state.orders.values()):
            self.abandon_entry_position()

    def drive_exit(self) -> None:
        stop = next((o for o in self.state.orders.values() if is_stop(o)), None)
        if stop is not None:
            if stop.state is OrderState.PENDING_NEW:
                self.query(stop)  # it may be on the venue: know before selling
            else:
                self.send(CancelOrder(order=stop), stop)
            return
        sale = next((o for o in self.state.orders.values() if is_sale(o)), None)
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
        return tuple(logic.executions_to_fills(order, report.executions,
                                               self.filters.quote_asset, s.settings.fee_pct))

    def time_of(self, report: OrderReport) -> str:
        """When a fill happened: the venue's time of its last execution, else the price's."""
        if report.executions and report.executions[-1].time:
            return report.executions[-1].time
        return self.state.last_time

    def waiting(self) -> bool:
        """Whether the standing goals wait: for a market to trade again, or a retry's time."""
        guard = self.state.guard
        return guard.market_closed or (guard.retry_at is not None and self.now < guard.retry_at)

    def unprotected_too_long(self) -> bool:
        """Held coins the venue has refused to protect for ``unprotected_exit_s`` (0: never),
        in a market that trades (a closed one refuses the sale too)."""
        limit, guard = self.pair.settings.unprotected_exit_s, self.state.guard
        return (limit > 0 and guard.bare_since is not None and not guard.market_closed
                and self.now - guard.bare_since >= limit)

    def _strays_id(self) -> str:
        return f"strays:{self.pair.settings.symbol}"

