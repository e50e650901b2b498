"""Asynchronous order reports: the user-data socket, and REST polling while it is down. The
socket's balance updates (``outboundAccountPosition``) go to a balance listener of their own;
one that cannot be read is logged and dropped (the Gateway's periodic ``balances()`` scan reads
the same figures).

An executionReport that cannot be read is never dropped: it may have carried a fill, so the
same REST catch-up runs at once (``unreadable`` counts them). The stream carries every order of
the account, another bot's and the app's too: one whose client id lacks our prefix (and, for a
cancel, whose original client id lacks it too) is not ours and is dropped before it is read
(``foreign`` counts them), so nobody else's orders cost a REST catch-up.

Cadence of the REST fallback: one all-symbol openOrders (weight 80) at most every
``POLL_INTERVAL_S`` (5 s), i.e. at most 960 of the 6,000 weight a minute (16 %); plus, per
order that left the book since the last look, GET order (weight 4) and, if it filled, myTrades
(weight 20 on Binance). A poll is skipped while the last seen weight is above
``POLL_WEIGHT_CEILING`` (70 %) of the limit, so polling never crowds out order traffic.

A stream that is up can still be silent (a proxy, a half-dead connection): the same poll runs
as an audit every ``audit_s`` (default 30 s) whatever the stream does. What it finds that the
stream did not say (a stop gone, a fill) is delivered as the event would have been, and
counted (``missed_events``). An audit that finds changes while the stream has said nothing for
longer than ``audit_s`` judges it stale: it is reconnected, and ``stale`` stays set until it
speaks again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from core.errors import StatusUnknown, UnknownOrder, VenueError
from exchange.base import BalanceListener, ExecutionListener, OrderReport, RateBudget
from exchange.binance import enums, translate
from exchange.binance.account_dto import AccountPositionDTO
from exchange.binance.dto import ExecutionReportDTO
from exchange.binance.tracker import OpenOrderTracker
from exchange.binance.user_stream import UserStream

log = logging.getLogger("ratchet.binance.updates")

POLL_INTERVAL_S = 5.0
POLL_WEIGHT_CEILING = 0.7
WEIGHT_OPEN_ORDERS_ALL = 80

StreamFactory = Callable[[Callable[[dict[str, Any]], None], Callable[[bool], None]], UserStream]


class OrderUpdates:
    """Delivers ``OrderReport``s to one listener, from the stream's thread or from a poll."""

    def __init__(
        self, *, tracker: OpenOrderTracker, list_open: Callable[[], list[OrderReport]],
        get_order: Callable[..., OrderReport], budget: Callable[[], RateBudget],
        clock: Callable[[], float], stream_factory: StreamFactory,
        on_unreadable: Callable[[], None] | None = None, prefix: str = "rt",
        audit_s: float = 30.0, on_missed: Callable[[int], None] | None = None,
        on_stale: Callable[[bool], None] | None = None,
    ) -> None:
        self._on_unreadable = on_unreadable
        self._audit_s = audit_s
        self._on_missed = on_missed
        self._on_stale = on_stale
        self._last_event = clock()
        self.stale = False
        self.missed = 0  # order changes the stream did not report, found by an audit
        self._ours = prefix + "-"
        self._tracker = tracker
        self._list_open = list_open
        self._get_order = get_order
        self._budget = budget
        self._clock = clock
        self._stream_factory = stream_factory
        self._listener: ExecutionListener | None = None
        self._balance_listener: BalanceListener | None = None
        self._waker: Callable[[], None] | None = None
        self._stream: UserStream | None = None
        self._up = threading.Event()
        self._catch_up = False
        self._now = False  # an event was unreadable: catch up at once, whatever the cadence
        self._last_poll = float("-inf")
        self.unreadable = 0  # executionReports that could not be read
        self.foreign = 0  # executionReports of orders that are not ours

    def owns(self, client_order_id: str) -> bool:
        return client_order_id.startswith(self._ours)

    def set_listener(self, listener: ExecutionListener | None) -> None:
        self._listener = listener

    def set_balance_listener(self, listener: BalanceListener | None) -> None:
        self._balance_listener = listener

    def set_waker(self, wake: Callable[[], None] | None) -> None:
        """Called when a catch-up poll is due now (an unreadable event): the Gateway then runs
        its upkeep at once instead of within the second."""
        self._waker = wake

    # --- the user-data socket -----------------------------------------------------------------

    @property
    def stream_up(self) -> bool:
        return self._up.is_set()

    def start_stream(self) -> None:
        if self._stream is not None and self._stream.is_alive():
            return
        self._stream = self._stream_factory(self._on_event, self._on_state)
        self._stream.start()

    def stop_stream(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream = None
        self._up.clear()

    def wait_stream(self, timeout_s: float) -> bool:
        return self._up.wait(timeout_s)

    def _on_state(self, up: bool) -> None:
        if up:
            self._up.set()
        else:
            self._up.clear()
            self._now = True  # down: the first REST catch-up runs at once
        self._catch_up = True  # events may have been missed: the next poll runs regardless
        waker = self._waker
        if not up and waker is not None:
            waker()

    def _on_event(self, event: dict[str, Any]) -> None:
        self._last_event = self._clock()
        if self.stale:
            self._set_stale(False)
        if event.get("e") == enums.EVENT_ACCOUNT_POSITION:
            self._on_balances(event)
            return
        if event.get("e") != enums.EVENT_EXECUTION_REPORT:
            return
        if not any(self.owns(str(event.get(key) or "")) for key in ("c", "C")):
            self.foreign += 1
            return
        try:
            report = translate.execution_report(ExecutionReportDTO.parse(event))
        except (VenueError, enums.UnmappedEnum) as exc:
            # It may have carried a fill: never drop it, read the venue's state over REST now.
            self.unreadable += 1
            if self._on_unreadable is not None:
                self._on_unreadable()
            self._catch_up = self._now = True
            log.warning("unreadable executionReport, catching up over REST: %s", exc)
            waker = self._waker
            if waker is not None:
                waker()
            return
        self._tracker.note(report)
        self._deliver(report)

    def _on_balances(self, event: dict[str, Any]) -> None:
        try:
            balances = translate.balances(AccountPositionDTO.parse(event))
        except VenueError as exc:
            log.warning("unreadable outboundAccountPosition, dropped: %s", exc)
            return
        listener = self._balance_listener
        if listener is not None and balances:
            listener(balances)

    def _deliver(self, report: OrderReport) -> None:
        listener = self._listener
        if listener is not None:
            listener(report)

    # --- the REST fallback --------------------------------------------------------------------

    def poll_due(self) -> bool:
        if self._now:
            return True
        every = self._audit_s if self.stream_up and not self._catch_up else POLL_INTERVAL_S
        if self._clock() - self._last_poll < every:
            return False
        budget = self._budget()
        return budget.weight_used + WEIGHT_OPEN_ORDERS_ALL <= \
            budget.weight_limit * POLL_WEIGHT_CEILING

    def poll(self, *, force: bool = False) -> list[OrderReport]:
        if not force and not self.poll_due():
            return []
        audit = self.stream_up and not self._catch_up and not self._now
        self._last_poll = self._clock()
        changed, gone = self._tracker.diff([r for r in self._list_open()
                                            if self.owns(r.client_order_id)])
        # Only once the list came: a failed catch-up is due again.
        self._catch_up = self._now = False
        reports = list(changed)
        for symbol, client_order_id in gone:
            try:
                reports.append(self._get_order(symbol=symbol, client_order_id=client_order_id))
            except UnknownOrder:
                self._tracker.forget(client_order_id)
            except StatusUnknown as exc:
                log.info("poll: %s still unknown: %s", client_order_id, exc)
        for report in reports:
            self._deliver(report)
        if audit and reports:
            self._missed(len(reports))
        return reports

    def _missed(self, n: int) -> None:
        """An audit found ``n`` changes the stream did not report."""
        self.missed += n
        if self._on_missed is not None:
            self._on_missed(n)
        silent_s = self._clock() - self._last_event
        log.warning("the user stream missed %d order change(s); silent for %.0f s", n,
                    silent_s)
        if silent_s > self._audit_s and self._stream is not None:
            self._set_stale(True)
            self.stop_stream()  # reconnect: a silent connection is not a live one
            self.start_stream()

    def _set_stale(self, stale: bool) -> None:
        self.stale = stale
        if self._on_stale is not None:
            self._on_stale(stale)
