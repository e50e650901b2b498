"""PairActor: one per symbol, an interpreter of ``core.pair_machine``.

It turns each message into an event, asks ``step`` what it means, and carries out the effects
in order: a durable ``Write`` is an ``ask`` to the DBWriter (the row is on disk before the
next effect, so an intent is committed before its order leaves), any other write a ``tell``;
a ``Send`` is a ``tell`` to the Gateway. It never touches the network and decides nothing.
Data that breaks an invariant crashes it, and the Supervisor restarts it from the DB.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from decimal import Decimal

import pykka

from actors.conflation import TickSlot, tell_if_alive
from actors.messages import (
    BalanceSeen,
    Crash,
    GetSnapshot,
    PairDrained,
    PairFailed,
    Persist,
    PriceReady,
    RegisterPair,
    Sync,
    UseGateway,
)
from core import pair_logic as logic
from core import pair_machine as machine
from core.commands import (
    CancelRefused,
    FiltersRefreshed,
    MarketReopened,
    MoveDropped,
    OrderMissing,
    OrderRejected,
    OrderUpdated,
    StopReplaced,
    StraysCanceled,
)
from core.errors import EntryRefused, InvariantViolation, StorageFailed
from core.stop_mode import native_delta
from core.types import EntryMode, Order, PairSettings, Position, PositionState, SymbolFilters
from telemetry.logs import log_event

log = logging.getLogger("ratchet.pair")

_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


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
    on_failure: object | None = None  # callable(exception), told when the actor dies
    # Replay stops at an entry it can never make; live trading halts the pair instead.
    strict_entry: bool = False
    # Lock-step replay: called (with the position) once a price is fully handled, i.e. the
    # pair has decided on it and every command it sent has been answered.
    on_idle: object | None = None


class PairActor(pykka.ThreadingActor):
    def __init__(
        self, *, settings: PairSettings, filters: SymbolFilters, wiring: PairWiring,
        position: Position | None = None, orders: tuple[Order, ...] = (),
        realized: Decimal = Decimal(0), confirmed_open: frozenset[str] = frozenset(),
        draining: bool = False, halt: str | None = None,
    ) -> None:
        super().__init__()
        self.symbol = settings.symbol
        self.pair = machine.Pair(settings=settings, filters=filters, prefix=wiring.prefix,
                                 trailing_delta=native_delta(settings, filters))
        self.state = machine.initial_state(position, orders, symbol=self.symbol,
                                           realized=realized, halt=halt)
        self.draining = draining  # left the config: protect, buy nothing, say when flat
        self.confirmed_open = confirmed_open  # seen open by boot reconciliation just now
        self.w = wiring
        self.awaiting_idle = False
        self.metrics = wiring.metrics.pair(self.symbol) if wiring.metrics else None

    def on_start(self) -> None:
        # Register before the first queries go out: tells from one thread to one actor stay
        # in order, so the Gateway knows where to send their answers.
        self._register(self.w.gateway)
        if self.metrics:
            self.metrics.quote_asset(self.pair.filters.quote_asset)
            self.metrics.halted(self.state.halted)
            self.metrics.up(not self.state.halted)
            self.metrics.realized(self.state.realized)
        self._step(machine.Started(confirmed_open=self.confirmed_open))
        if self.draining:
            self._step(machine.Draining(on=True))
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

    def on_receive(self, message):
        try:
            return self._dispatch(message)
        finally:
            self._observe_protection()
            if self.awaiting_idle and not self.state.in_flight:
                self.awaiting_idle = False
                self.w.on_idle(self.state.position)

    def _dispatch(self, message):
        match message:
            case PriceReady():
                tick = self.w.slot.take()
                if tick is not None:
                    self._step(machine.PriceSeen(tick=tick))
                    self._observe(tick)
                    self.awaiting_idle = self.w.on_idle is not None
            case OrderUpdated() | StopReplaced() | OrderRejected() | OrderMissing() | \
                    StraysCanceled() | BalanceSeen() | MarketReopened() | FiltersRefreshed() | \
                    CancelRefused() | MoveDropped() | machine.TimePassed() | machine.Draining():
                self._step(message)
            case UseGateway(gateway=gateway):
                self.w.gateway = gateway
                self._register(gateway)
                self._step(machine.GatewayRestarted())
            case Sync():
                return len(self.state.in_flight)
            case GetSnapshot():
                return self._snapshot()
            case Crash(reason=reason):
                raise InvariantViolation(f"{self.symbol}: {reason}")
            case _:
                raise InvariantViolation(f"PairActor got an unknown message {message!r}")

    def _register(self, gateway) -> None:
        s = self.pair.settings
        adopts = s.entry is EntryMode.ADOPT
        gateway.tell(RegisterPair(
            symbol=self.symbol, pair=self.actor_ref, slot=self.w.slot,
            base_asset=self.pair.filters.base_asset if adopts else None,
            scan_s=float(s.adopt_scan_s)))  # seconds, not money

    # --- carrying out effects -----------------------------------------------------------------

    def _step(self, event) -> None:
        self.state, effects = machine.step(self.pair, self.state, event)
        for effect in effects:
            self._apply(effect)

    def _apply(self, effect) -> None:
        match effect:
            case machine.Write(durable=True):
                self._durable(effect)
            case machine.Write():
                self.w.db_writer.tell(Persist(positions=effect.positions, orders=effect.orders,
                                              fills=effect.fills, kv=effect.kv))
            case machine.Send(command=command):
                # A dead Gateway is being replaced: the command waits in flight, and the pair
                # asks about it on UseGateway (an intent that never left is then missing).
                tell_if_alive(self.w.gateway, command)
            case machine.Halt(reason=reason, entry=entry):
                if entry and self.w.strict_entry:
                    raise EntryRefused(reason)
                log_event(log, "pair_halted", level=logging.ERROR, symbol=self.symbol,
                          reason=reason)
                if self.metrics:
                    self.metrics.halted(True)  # also takes the pair down
            case machine.Log(event=event, level=level, fields=fields):
                log_event(log, event, level=_LEVELS[level], symbol=self.symbol, **dict(fields))
            case machine.Count(order_type=order_type, result=result):
                if self.metrics:
                    self.metrics.order(order_type, result)
            case machine.StopMoved(old=old, new=new):
                if self.metrics:
                    self.metrics.stop_moved(old, new)
            case machine.Closed(position=position):
                if self.w.on_trade is not None:
                    self.w.on_trade(position)
                if self.metrics:
                    self.metrics.realized(self.state.realized)
            case machine.Drained():
                if self.w.supervisor is not None:
                    self.w.supervisor.tell(PairDrained(symbol=self.symbol))
            case machine.AdoptSkipped(reason=reason):
                if self.metrics:
                    self.metrics.adopt_skipped(reason is not None)
            case _:
                raise InvariantViolation(f"unknown effect {effect!r}")

    def _durable(self, write: machine.Write) -> None:
        """Write ahead: block until the DBWriter has committed these rows."""
        try:
            self.w.db_writer.ask(Persist(positions=write.positions, orders=write.orders,
                                         fills=write.fills, kv=write.kv),
                                 timeout=self.w.durable_timeout_s)
        except pykka.ActorDeadError:
            raise
        except Exception as exc:  # the intent is not on disk: nothing may be sent
            raise StorageFailed(f"database write failed: {exc}") from exc

    # --- display ------------------------------------------------------------------------------

    def _observe(self, tick) -> None:
        if self.metrics is None:
            return
        p = self.state.position
        self.metrics.tick(tick.price, p.highest or None, p.stop, p.qty,
                          logic.unrealized_pnl(p, tick.price, self.pair.settings.fee_pct))
        self.metrics.stop_estimate(p.trailing_delta is not None and p.state in (
            PositionState.OPEN, PositionState.EXITING))
        if tick.received_ns:
            self.metrics.decision_latency((time.perf_counter_ns() - tick.received_ns) / 1e9)

    def _observe_protection(self) -> None:
        """Flag a held position with no live stop on the exchange. During a cancelReplace the
        old stop stays tracked and open until the venue confirms, so a move is not a gap."""
        if self.metrics is not None:
            held = self.state.position.state in (PositionState.OPEN, PositionState.EXITING)
            self.metrics.unprotected(held and not self.state.protected)

    def _snapshot(self) -> dict:
        s = self.state
        return {"symbol": self.symbol, "position": s.position, "orders": dict(s.orders),
                "in_flight": len(s.in_flight), "halted": s.halted,
                "last_price": s.last_price, "realized": s.realized,
                "entry_refusals": s.entry_refusals, "refusal_reason": s.refusal_reason,
                "adopt_skipped": s.adopt_skipped, "market_closed": s.guard.market_closed,
                "draining": s.draining}
