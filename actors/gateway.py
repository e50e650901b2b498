"""Gateway: the one actor that talks to the exchange. It serialises access, keeps the order
budget, and answers every command with exactly one event for the pair that sent it (§4).

It never waits on one order. Each message makes at most one venue call, and what a failure
means comes from ``exchange.policy``:
- an unknown outcome (timeout, 403, 5xx, -1006/-1007/-1008) is never resent blind: a query by
  client id is scheduled (a ``tell`` to itself after a backoff), and other pairs' commands go
  on meanwhile; until the venue's ``landing_window_s`` has passed since the request, "no such
  order" is not believed (the order may still land) and the query is asked again;
- -2011 on cancel: query, the order may have filled;
- 429, -1021 and a ban (418): nothing is sent until the pause is over, then the same request;
- a rejection is reported, never retried as is;
- the reads a pair asks for after a refusal (``WatchMarket``, ``RefreshFilters``,
  ``ReadBalance``) are asked again with backoff until they have an answer (``ReadAgain``); a
  market is watched from 1 s, doubling to 60 s, until it trades.

Which command goes next is the order scheduler's (``exchange.scheduler``, pure): queries and
cancels at once; under the ORDERS budget, protection of held coins first, then stop moves (the
latest per symbol, the widest gap first), then entries, each of which leaves only with room for
its first stop. ``priority="fifo"`` is the Gateway as it was before the classes, for
comparison: stops, sales and buys first come first served, moves by the budget.
When the venue matches in-process (the paper exchange), prices pass through here first, so the
venue matches them before the pair decides (§3, step 1). If it dies, ``on_failure`` tells the
Supervisor, which starts a new one. Pairs that adopt coins are told their base asset's balance
(``actors.adopters``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import pykka

from actors.adopters import Adopters
from actors.conflation import TickSlot, tell_if_alive, tell_later
from actors.messages import (
    BalanceSeen,
    BalancesUpdated,
    CancelOrder,
    CancelRefused,
    CancelStrays,
    Crash,
    DrainMoves,
    DropMove,
    FiltersRefreshed,
    GatewayFailed,
    Maintain,
    MarketReopened,
    MoveDropped,
    OrderMissing,
    OrderUpdated,
    PlaceMarketOrder,
    PlaceStop,
    PriceReady,
    QueryOrder,
    ReadAgain,
    ReadBalance,
    RefreshFilters,
    RegisterPair,
    ReplaceStop,
    Settle,
    StopReplaced,
    StraysCanceled,
    Sync,
    UnregisterPair,
    WatchMarket,
)
from core.errors import InvariantViolation, VenueError
from core.types import Balance, Order, OrderReport, OrderState, ReplaceReport, Side
from exchange import policy, venue_ops
from exchange.base import Exchange
from exchange.policy import Verdict
from exchange.scheduler import Kind, OrderScheduler
from telemetry.logs import log_event

log = logging.getLogger("ratchet.gateway")

MAINTAIN_EVERY_S = 1.0
WATCH_FIRST_S = 1.0  # a closed market is looked at again after 1 s, doubling to 60 s
WATCH_MAX_S = 60.0
PairRead = WatchMarket | RefreshFilters | ReadBalance


def _protects(command: Any) -> bool:
    return isinstance(command, PlaceStop) or isinstance(command, PlaceMarketOrder) \
        and command.order.side is Side.SELL


class Gateway(pykka.ThreadingActor):
    def __init__(
        self, exchange: Exchange, *, metrics: Any = None, matches_prices: bool = False,
        clock: Callable[[], float] = time.monotonic, order_headroom: float = 0.9,
        closing: threading.Event | None = None, supervisor: pykka.ActorRef | None = None,
        move_order: str = "widest", priority: str = "classes",
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.closing = closing or threading.Event()  # set by the Supervisor before stop()
        self.exchange = exchange
        self.metrics = metrics
        self.matches_prices = matches_prices
        self.clock = clock
        self.wall = wall  # the venue's windows are on the clock, not the monotonic one
        self.supervisor = supervisor
        self.scheduler = OrderScheduler(headroom=order_headroom,
                                        widest_first=move_order == "widest",
                                        classes=priority == "classes")
        self.routes: dict[str, tuple[pykka.ActorRef, TickSlot]] = {}
        self.price_slots: dict[str, TickSlot] = {}
        self.drain_at: float | None = None
        self.stopped = False
        self.adopters = Adopters()  # pairs told their base asset's balance (entry = adopt)

    def on_start(self) -> None:
        self._schedule(MAINTAIN_EVERY_S, Maintain())

    def on_stop(self) -> None:
        self.stopped = True

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        log_event(log, "gateway_failed", level=logging.ERROR, error=repr(exception_value))
        if self.supervisor is not None:
            tell_if_alive(self.supervisor, GatewayFailed(error=str(exception_value)))

    def price_slot(self, symbol: str) -> TickSlot:
        """Where the Feed puts prices when the venue matches in-process (called via proxy)."""
        return self.price_slots.setdefault(symbol, TickSlot(symbol))

    def on_receive(self, message):
        if self.closing.is_set():
            # Shutting down, every intent on disk: skip the backlog (stop() is not stuck behind
            # it) but for a stop, or the sale that follows a canceled one: they protect.
            waiting = self.scheduler.drain_protective()
            for command in [*waiting, *([message] if _protects(message) else [])]:
                self._run(command)
            return None
        match message:
            case PriceReady(symbol=symbol):
                self._match(symbol)
            case QueryOrder(order=order) if order.state is OrderState.PENDING_NEW:
                # An intent whose request may still be on its way (a restart, a lost Gateway):
                # "no such order" is believed only once it can no longer land.
                landing_by = self.clock() + self.exchange.landing_window_s
                self.scheduler.add(Settle(command=message, landing_by=landing_by), self.wall())
                self._pump()
            case PlaceMarketOrder() | PlaceStop() | CancelOrder() | QueryOrder() | CancelStrays() \
                    | Settle() | WatchMarket() | RefreshFilters() | ReadBalance() | ReadAgain() \
                    | ReplaceStop():
                self.scheduler.add(message, self.wall())
                self._pump()
            case DrainMoves():
                self.drain_at = None
                self._pump()
            case DropMove(order=order):  # its stop is gone: withdraw it if not sent yet
                if self.scheduler.drop_move(order.client_order_id, order.symbol) is not None:
                    self._tell(order.symbol, MoveDropped(order=order))
            case OrderUpdated(report=report):  # pushed by the venue (user-data stream)
                self._tell(report.symbol, message)
            case BalancesUpdated(balances=balances):  # pushed by the venue (user-data stream)
                self._tell_balances(balances, every=False)
            case Maintain():
                self._maintain()
            case RegisterPair(symbol=symbol, pair=pair, slot=slot, base_asset=base,
                              scan_s=scan_s):
                self.routes[symbol] = (pair, slot)
                self.adopters.register(symbol, base, scan_s, self.clock())
            case UnregisterPair(symbol=symbol):
                self.routes.pop(symbol, None)
                self.adopters.forget(symbol)
            case Sync():
                return len(self.scheduler)
            case Crash(reason=reason):
                raise InvariantViolation(f"Gateway: {reason}")
            case _:
                raise InvariantViolation(f"Gateway got an unknown message {message!r}")
        return None

    # --- prices (in-process venue only) -------------------------------------------------------

    def _match(self, symbol: str) -> None:
        tick = self.price_slot(symbol).take()
        if tick is None:
            return
        reports: list[OrderReport] = []
        if tick.count > 1 and tick.low < tick.price:
            # A conflated tick: the low may have triggered a stop before the last price.
            reports += self.exchange.on_price(symbol, tick.low, tick.ts, tick.time)
        reports += self.exchange.on_price(symbol, tick.price, tick.ts, tick.time)
        route = self.routes.get(symbol)
        if route is None:
            return
        pair, slot = route
        for report in reports:
            tell_if_alive(pair, OrderUpdated(report=report, matched=True))
        if slot.put_tick(tick):
            tell_if_alive(pair, PriceReady(symbol=symbol))

    # --- sending ------------------------------------------------------------------------------

    def _pump(self) -> None:
        """Send what the scheduler releases now; then wake when it may release more."""
        while not self.closing.is_set():
            budget = self.exchange.rate_budget()
            released = self.scheduler.next(self.wall(), orders_used=budget.orders_used,
                                           orders_limit=budget.orders_limit)
            if released is None:
                break
            if released.kind is Kind.PROTECT and self.metrics is not None:
                self.metrics.protection_wait(released.waited_s)
            self._run(released.command)
        now = self.wall()
        wake = self.scheduler.wake_at(now)
        if wake is not None and not self.closing.is_set():
            self._drain_in(max(wake - now, 0.0))

    def _run(self, command: Any) -> None:
        if isinstance(command, Settle):
            order, call = venue_ops.request(self.exchange, command.command, settling=True)
            self._call(command, order, call, attempt=command.attempt)
        elif isinstance(command, ReadAgain):
            _, call = venue_ops.request(self.exchange, command.command)
            self._call(command, None, call, attempt=command.attempt)
        else:
            order, call = venue_ops.request(self.exchange, command)
            self._call(command, order, call)

    def _call(self, command: Any, order: Order | None, call: Callable[[], Any], *,
              attempt: int = 1) -> None:
        """One venue call; its answer, or what its failure means, goes to the pair."""
        sent_at = self.clock()
        try:
            outcome = call()
        except VenueError as exc:
            self._failed(command, order, exc, attempt, sent_at)
            return
        if isinstance(command, PairRead | ReadAgain):
            self._read(command, outcome, attempt)
        elif self._not_landed_yet(command, outcome):
            self._schedule(policy.backoff_s(attempt + 1), Settle(
                command=command.command, attempt=attempt + 1, landing_by=command.landing_by))
        elif isinstance(outcome, ReplaceReport):
            move = command.command if isinstance(command, Settle) else command
            self._tell(move.new.symbol, StopReplaced(old=move.old, new=move.new,
                                                     report=outcome))
        elif isinstance(outcome, OrderReport):
            self._tell(outcome.symbol, OrderUpdated(report=outcome, reply=True))
        elif isinstance(command, CancelStrays):
            self._tell(command.symbol, StraysCanceled(symbol=command.symbol, canceled=outcome))
        elif outcome is None and order is not None:  # a query: the venue never saw it
            self._tell(order.symbol, OrderMissing(order=order))

    def _read(self, command: Any, outcome: Any, attempt: int) -> None:
        """A pair's read: its answer, or (a market not trading yet) the next look."""
        read = command.command if isinstance(command, ReadAgain) else command
        if isinstance(outcome, MarketReopened | FiltersRefreshed | BalanceSeen):
            self._tell(read.symbol, outcome)
            return
        delay = min(WATCH_FIRST_S * 2 ** (attempt - 1), WATCH_MAX_S)
        self._schedule(delay, ReadAgain(command=read, attempt=attempt + 1))

    def _not_landed_yet(self, command: Any, outcome: Any) -> bool:
        """A settle that finds no trace of what it sent while the order may still land."""
        if not isinstance(command, Settle) or self.clock() >= command.landing_by:
            return False
        if isinstance(outcome, ReplaceReport):
            return outcome.canceled is None and outcome.new is None
        return outcome is None

    def _failed(self, command: Any, order: Order | None, exc: VenueError, attempt: int,
                sent_at: float) -> None:
        decision = policy.decide(exc, attempt)
        if decision.verdict in (Verdict.BANNED, Verdict.RETRY):
            # Nothing happened on the venue: the same request again once the pause is over.
            now = self.wall()
            self.scheduler.pause(now + decision.delay_s)
            if decision.verdict is Verdict.BANNED:
                log_event(log, "exchange_banned", level=logging.ERROR,
                          retry_after_s=decision.delay_s)
            self.scheduler.again(command, now)
            return
        if isinstance(command, PairRead | ReadAgain):  # a read: ask again, later
            read = command.command if isinstance(command, ReadAgain) else command
            log_event(log, "read_failed", level=logging.WARNING, symbol=read.symbol,
                      read=type(read).__name__, error=str(exc), attempt=attempt)
            self._schedule(policy.backoff_s(attempt + 1), ReadAgain(command=read,
                                                                    attempt=attempt + 1))
            return
        if order is None:  # CancelStrays: the next refusal asks again
            self._tell(command.symbol, StraysCanceled(symbol=command.symbol))
            return
        if isinstance(command, CancelOrder) and "market is closed" in str(exc).lower():
            # HALT, BREAK: the venue keeps the order and refuses to cancel it (-2011 "Market is
            # closed."): the pair waits for the market instead of asking about it in a loop.
            self._tell(order.symbol, CancelRefused(order=order, reason=str(exc)))
            return
        if decision.verdict is Verdict.REJECTED and not isinstance(command, QueryOrder | Settle):
            self._tell(order.symbol, venue_ops.refused(command, order, exc))
            return
        if decision.verdict is Verdict.MISSING and isinstance(command, Settle | QueryOrder):
            self._tell(order.symbol, OrderMissing(order=order))
            return
        # Unknown (or -2011 on a cancel, which may have filled): ask, later, never resend.
        settle = command.command if isinstance(command, Settle) else (
            command if isinstance(command, ReplaceStop) else QueryOrder(order=order))
        next_attempt = attempt + 1 if isinstance(command, Settle) else 1
        if isinstance(command, Settle):
            landing_by = command.landing_by
        elif isinstance(command, PlaceStop | PlaceMarketOrder | ReplaceStop):
            landing_by = sent_at + self.exchange.landing_window_s  # it may still land
        else:
            landing_by = 0.0
        log_event(log, "order_outcome_unknown", level=logging.WARNING, symbol=order.symbol,
                  client_order_id=order.client_order_id, error=str(exc), attempt=attempt)
        self._schedule(policy.backoff_s(next_attempt), Settle(
            command=settle, attempt=next_attempt, landing_by=landing_by))

    def _maintain(self) -> None:
        try:
            self.exchange.maintain()
            now = self.clock()
            pause_left = max(self.scheduler.paused_until - self.wall(), 0.0)
            if self.adopters.scan_due(now, now + pause_left):
                self._tell_balances(self.exchange.balances().values(), every=True)
        except VenueError as exc:  # a failed poll is simply due again next time
            log_event(log, "maintain_failed", level=logging.WARNING, error=str(exc))
        finally:
            self._schedule(MAINTAIN_EVERY_S, Maintain())

    def _tell_balances(self, balances: Iterable[Balance], *, every: bool) -> None:
        for symbol, seen in self.adopters.seen(balances, every=every):
            self._tell(symbol, seen)

    # --- plumbing -----------------------------------------------------------------------------

    def _drain_in(self, delay_s: float) -> None:
        due = self.clock() + delay_s
        if self.drain_at is not None and self.drain_at <= due:
            return
        self.drain_at = due
        self._schedule(delay_s, DrainMoves())

    def _schedule(self, delay_s: float, message: Any) -> None:
        if self.stopped:
            return
        tell_later(self.actor_ref, delay_s, message)

    def _tell(self, symbol: str, message: Any) -> None:
        route = self.routes.get(symbol)
        if route is None:
            log_event(log, "no_pair_for_report", level=logging.WARNING, symbol=symbol,
                      message=type(message).__name__)
            return
        if not tell_if_alive(route[0], message):
            log_event(log, "pair_down", level=logging.WARNING, symbol=symbol,
                      message=type(message).__name__, note="settled on its restart")
