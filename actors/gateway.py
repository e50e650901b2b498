"""Gateway: the one actor that talks to the exchange. It serialises access, keeps the budget,
and turns every command into exactly one reply event for the pair that sent it (DESIGN.md §4):

- an unknown outcome (timeout, 5xx, -1007) is never resent blind: query by client id, then act;
- -2011 on cancel: re-query, the order may have filled;
- 429 and clock skew: wait, then resend as is; 418: stop all sending until Retry-After;
- a rejection is reported, never retried as is.

When the venue matches in-process (the paper exchange), prices pass through here first, so the
venue matches them before the pair decides (§3, step 1).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pykka

from actors.conflation import TickSlot, tell_if_alive
from actors.messages import (
    CancelOrder,
    DrainMoves,
    Maintain,
    OrderMissing,
    OrderRejected,
    OrderUnknown,
    OrderUpdated,
    PlaceMarketOrder,
    PlaceStop,
    PriceReady,
    QueryOrder,
    RegisterPair,
    ReplaceStop,
    StopReplaced,
    Sync,
    UnregisterPair,
)
from core.errors import (
    InvariantViolation,
    RetryableVenueError,
    StatusUnknown,
    UnknownOrder,
    VenueBanned,
    VenueError,
)
from core.errors import (
    OrderRejected as VenueRejected,
)
from core.types import Order, OrderState
from exchange.base import Exchange, OrderReport, ReplaceReport
from telemetry.logs import log_event

log = logging.getLogger("ratchet.gateway")

QUERY_PATIENCE_S = 30.0
MAINTAIN_EVERY_S = 1.0  # how long to keep asking about an unknown outcome before giving up


class Gateway(pykka.ThreadingActor):
    def __init__(
        self, exchange: Exchange, *, metrics: Any = None, matches_prices: bool = False,
        clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
        order_headroom: float = 0.9, closing: threading.Event | None = None,
    ) -> None:
        super().__init__()
        self.closing = closing or threading.Event()  # set by the Supervisor before stop()
        self.exchange = exchange
        self.metrics = metrics
        self.matches_prices = matches_prices
        self.clock = clock
        self.sleep = sleep
        self.order_headroom = order_headroom
        self.routes: dict[str, tuple[pykka.ActorRef, TickSlot]] = {}
        self.price_slots: dict[str, TickSlot] = {}
        self.moves: dict[str, ReplaceStop] = {}
        self.drain_scheduled = False
        self.banned_until = 0.0
        self.stopped = False

    # --- wiring -------------------------------------------------------------------------------

    def on_start(self) -> None:
        self._schedule(MAINTAIN_EVERY_S, Maintain())

    def on_stop(self) -> None:
        self.stopped = True

    def price_slot(self, symbol: str) -> TickSlot:
        """Where the Feed puts prices when the venue matches in-process (called via proxy)."""
        return self.price_slots.setdefault(symbol, TickSlot(symbol))

    def on_receive(self, message):
        if self.closing.is_set():
            # Shutting down: the pairs are stopped, and every intent is on disk for the next
            # boot's reconciliation. Skip the backlog so stop() is not stuck behind it.
            return None
        order = getattr(message, "order", None) or getattr(message, "new", None)
        try:
            return self._dispatch(message)
        except StatusUnknown as exc:
            # The venue did not tell us in time; the pair asks again (never resends blind).
            self._tell(order.symbol, OrderUnknown(order=order, reason=str(exc)))

    def _dispatch(self, message):
        match message:
            case PriceReady(symbol=symbol):
                self._match(symbol)
            case PlaceMarketOrder(order=order):
                self._place(order, lambda: self.exchange.market_order(
                    symbol=order.symbol, side=order.side, qty=order.qty,
                    client_order_id=order.client_order_id))
            case PlaceStop(order=order):
                self._place(order, lambda: self.exchange.place_stop_limit(
                    symbol=order.symbol, qty=order.qty, stop_price=order.stop_price,
                    limit_price=order.limit_price, client_order_id=order.client_order_id))
            case ReplaceStop(old=old):
                self.moves[old.symbol] = message  # the latest wanted stop per symbol
                self._schedule_drain(0)
            case OrderUpdated(report=report):  # pushed by the venue (user-data stream)
                self._tell(report.symbol, message)
            case Maintain():
                try:
                    self.exchange.maintain()
                except VenueError as exc:  # a failed poll is simply due again next time
                    log_event(log, "maintain_failed", level=logging.WARNING, error=str(exc))
                finally:
                    self._schedule(MAINTAIN_EVERY_S, Maintain())
            case DrainMoves():
                self.drain_scheduled = False
                self._drain_moves()
            case CancelOrder(order=order):
                self._cancel(order)
            case QueryOrder(order=order):
                self._reply(order, self._settle(order))
            case RegisterPair(symbol=symbol, pair=pair, slot=slot):
                self.routes[symbol] = (pair, slot)
            case UnregisterPair(symbol=symbol):
                self.routes.pop(symbol, None)
            case Sync():
                return len(self.moves)
            case _:
                raise InvariantViolation(f"Gateway got an unknown message {message!r}")

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
            tell_if_alive(pair, OrderUpdated(report=report))
        if slot.put_tick(tick):
            tell_if_alive(pair, PriceReady(symbol=symbol))

    # --- commands -----------------------------------------------------------------------------

    def _place(self, order: Order, send: Callable[[], OrderReport]) -> None:
        try:
            outcome = self._send(send)
        except VenueRejected as exc:
            self._tell(order.symbol, OrderRejected(order=order, reason=str(exc), code=exc.code))
            return
        except StatusUnknown:
            outcome = self._settle(order)
        self._reply(order, outcome)

    def _cancel(self, order: Order) -> None:
        try:
            outcome = self._send(lambda: self.exchange.cancel(
                symbol=order.symbol, client_order_id=order.client_order_id))
        except (UnknownOrder, StatusUnknown):
            outcome = self._settle(order)  # -2011: it may have filled; ask what it is now
        except VenueRejected as exc:
            self._tell(order.symbol, OrderRejected(order=order, reason=str(exc), code=exc.code))
            return
        self._reply(order, outcome)

    def _replace(self, move: ReplaceStop) -> None:
        old, new = move.old, move.new
        try:
            report = self._send(lambda: self.exchange.cancel_replace(
                symbol=new.symbol, cancel_client_order_id=old.client_order_id, qty=new.qty,
                stop_price=new.stop_price, limit_price=new.limit_price,
                new_client_order_id=new.client_order_id))
        except (StatusUnknown, UnknownOrder, VenueRejected) as exc:
            report = self._settle_replace(old, new, exc)
        self._tell(new.symbol, StopReplaced(old=old, new=new, report=report))

    def _settle_replace(self, old: Order, new: Order, exc: VenueError) -> ReplaceReport:
        """Read both halves back from the venue after an unclear cancelReplace."""
        old_now = self._settle(old)
        new_now = self._settle(new)
        canceled = old_now if isinstance(old_now, OrderReport) and \
            old_now.state is OrderState.CANCELED else None
        placed = new_now if isinstance(new_now, OrderReport) else None
        return ReplaceReport(canceled=canceled, new=placed, cancel_error=str(exc),
                             new_error=None if placed else str(exc),
                             cancel_error_code=exc.code)

    def _drain_moves(self) -> None:
        """Send queued stop moves, the widest gap first, within the order budget."""
        for symbol, move in sorted(self.moves.items(), key=lambda kv: kv[1].gap, reverse=True):
            if self.closing.is_set():
                return
            if not self._order_budget_left():
                self._schedule_drain(1.0)
                return
            del self.moves[symbol]
            try:
                self._replace(move)
            except StatusUnknown as exc:  # both halves still unknown: the pair asks again
                self._tell(symbol, OrderUnknown(order=move.new, reason=str(exc)))

    def _order_budget_left(self) -> bool:
        budget = self.exchange.rate_budget()
        return budget.orders_used < budget.orders_limit * self.order_headroom

    def _schedule_drain(self, delay_s: float) -> None:
        if self.drain_scheduled:
            return
        self.drain_scheduled = True
        self._schedule(delay_s, DrainMoves())

    def _schedule(self, delay_s: float, message: Any) -> None:
        if self.stopped:
            return
        if delay_s <= 0:
            self.actor_ref.tell(message)
            return
        timer = threading.Timer(delay_s, tell_if_alive, args=(self.actor_ref, message))
        timer.daemon = True
        timer.start()

    # --- outcomes -----------------------------------------------------------------------------

    def _send(self, call: Callable[[], Any]) -> Any:
        """Call the venue; wait out bans and rate limits; raise what the caller must handle."""
        while True:
            self._wait_out_ban()
            try:
                return call()
            except VenueBanned as exc:
                self.banned_until = self.clock() + exc.retry_after_s
                log_event(log, "exchange_banned", level=logging.ERROR,
                          retry_after_s=exc.retry_after_s)
                if self.metrics is not None:
                    self.metrics.banned(True)
            except RetryableVenueError as exc:
                self.sleep(exc.retry_after_s if exc.retry_after_s is not None else 0.5)

    def _wait_out_ban(self) -> None:
        while (wait := self.banned_until - self.clock()) > 0:
            if self.closing.is_set():  # shutting down: the intent waits on disk for the boot
                raise StatusUnknown("not sent: shutting down during an exchange ban")
            self.sleep(min(wait, 0.5))
        if self.banned_until and self.metrics is not None:
            self.metrics.banned(False)
        self.banned_until = 0.0

    def _settle(self, order: Order) -> OrderReport | None:
        """Query an order until its state is known. ``None`` means the venue never saw it."""
        deadline = self.clock() + QUERY_PATIENCE_S
        delay = 0.05
        while True:
            try:
                return self._send(lambda: self.exchange.get_order(
                    symbol=order.symbol, client_order_id=order.client_order_id))
            except UnknownOrder:
                return None
            except (StatusUnknown, VenueRejected) as exc:
                if self.clock() > deadline or self.closing.is_set():
                    raise StatusUnknown(f"{order.client_order_id}: still unknown: {exc}") from exc
                self.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _reply(self, order: Order, outcome: OrderReport | None) -> None:
        if outcome is None:
            self._tell(order.symbol, OrderMissing(order=order))
        else:
            self._tell(order.symbol, OrderUpdated(report=outcome, reply=True))

    def _tell(self, symbol: str, message: Any) -> None:
        route = self.routes.get(symbol)
        if route is None:
            log_event(log, "no_pair_for_report", level=logging.WARNING, symbol=symbol,
                      message=type(message).__name__)
            return
        if not tell_if_alive(route[0], message):
            log_event(log, "pair_down", level=logging.WARNING, symbol=symbol,
                      message=type(message).__name__, note="settled on its restart")

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        log_event(log, "gateway_failed", level=logging.ERROR, error=repr(exception_value))

