"""``ratchet run``'s live view, when stderr is a terminal (cli/run_cmd.py decides).

Everything is read at the edge, never pushed by an actor:
- prices, highest, stop, quantity and P&L from the metrics registry (``Metrics.pairs()``: the
  Decimals the pairs publish on every tick);
- each pair's state from the Supervisor's ``GetSnapshot`` (an ``ask``, allowed at the edge),
  once a second; a pair that does not answer is shown from its metrics alone;
- order events from the structured log records (``EventTap``), so the last event of each pair
  and the latest events under the table need no new message. A report that repeats the one
  before it for the same order (Binance answers a new order and its stream reports it NEW
  too) is one event, not two;
- stop moves from the pair's metrics (``PairMetrics.last_move``): one event ``stop OLD → NEW``.

The table takes the terminal's width: below ``cli.table.WIDE_MIN`` columns it drops whole
columns (never a cut number). Prices and quantities read to each symbol's tick and step, P&L
in its quote asset (``format_of``).

Meanwhile the log lines go to a rotated file (``--log-file``, next to the DB by default), not to
the screen the table is drawn on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import pykka
from rich.console import Console
from rich.live import Live

from actors.messages import GetSnapshot
from cli.numbers import PLAIN, SymbolFormat
from cli.table import EventRow, PairRow, live_view
from telemetry.logs import event_of, redact

REFRESH_S = 1.0
EVENTS_SHOWN = 8
#: Structured events shown under the table; every one carries a ``symbol`` field.
SHOWN_EVENTS = frozenset({"order", "order_rejected", "position_closed", "pair_halted",
                          "pair_failed"})


def describe(event: str, fields: Mapping[str, Any], number: SymbolFormat = PLAIN) -> str:
    """A few words for an event, e.g. ``STOP_LOSS_LIMIT NEW`` or
    ``closed stop pnl -1.25 USDT``."""
    if event == "order":
        return f"{_v(fields.get('type'))} {_v(fields.get('state'))}".strip()
    if event == "order_rejected":
        return f"rejected {_v(fields.get('code'))}: {_v(fields.get('reason'))}"[:60]
    if event == "position_closed":
        pnl = fields.get("pnl")
        shown = number.money(pnl) if isinstance(pnl, Decimal) else _v(pnl)
        return f"closed {_v(fields.get('reason'))} pnl {shown}"
    if event == "pair_halted":
        return f"halted: {_v(fields.get('reason') or fields.get('error'))}"[:60]
    return f"{event.replace('_', ' ')}: {_v(fields.get('error'))}"[:60]


class EventTap(logging.Handler):
    """Keeps the latest order events from the log records (any thread), for display."""

    def __init__(self, keep: int = 200) -> None:
        super().__init__(level=logging.INFO)
        self._events: deque[EventRow] = deque(maxlen=keep)
        self._last: dict[str, EventRow] = {}
        self._orders: dict[str, tuple[str, str]] = {}  # symbol -> its last (order id, state)
        #: How a symbol's numbers read (the live view sets it once the venue is known).
        self.format_of: Callable[[str], SymbolFormat] = lambda symbol: PLAIN
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        found = event_of(record)
        if found is None or found[0] not in SHOWN_EVENTS or "symbol" not in found[1]:
            return
        event, fields = found
        symbol = str(fields["symbol"])
        if event == "order":
            key = (_v(fields.get("client_order_id")), _v(fields.get("state")))
            with self._lock:
                if self._orders.get(symbol) == key:
                    return  # the same order's same state, reported twice
                self._orders[symbol] = key
        try:
            number = self.format_of(symbol)
        except Exception:  # noqa: BLE001 - a display detail never loses the event
            number = PLAIN
        self.add(EventRow(time=clock_of(record.created), symbol=symbol,
                          text=redact(describe(event, fields, number))))

    def add(self, row: EventRow) -> None:
        with self._lock:
            self._events.append(row)
            self._last[row.symbol] = row

    def latest(self, n: int = EVENTS_SHOWN) -> list[EventRow]:
        with self._lock:
            return list(self._events)[-n:][::-1]

    def last_of(self, symbol: str) -> EventRow | None:
        with self._lock:
            return self._last.get(symbol)


def pair_state(pm: Any, snapshot: Mapping[str, Any] | None) -> str:
    """HALTED, DOWN (restarting), UNPROTECTED (held without a live stop), else the position's
    state from the snapshot (FLAT, ENTERING, OPEN, EXITING)."""
    if pm.is_halted:
        return "HALTED"
    if not pm.is_up:
        return "DOWN"
    if pm.is_unprotected:
        return "UNPROTECTED"
    position = snapshot.get("position") if snapshot else None
    state = getattr(getattr(position, "state", None), "value", None)
    if state is not None:
        return str(state)
    qty = pm.state[3]
    return "OPEN" if qty else "FLAT"


class LiveView:
    """The table on stderr, refreshed by ``refresh()`` from the CLI's main loop."""

    def __init__(self, metrics: Any, supervisor: pykka.ActorRef, tap: EventTap, *,
                 title: str, console: Console | None = None,
                 format_of: Callable[[str], SymbolFormat] | None = None) -> None:
        self.metrics = metrics
        self.supervisor = supervisor
        self.tap = tap
        self.title = title
        self.console = console or Console(stderr=True)
        self.format_of = format_of or (lambda symbol: PLAIN)
        self._live: Live | None = None
        self._next = 0.0
        self._moves_seen: dict[str, int] = {}
        tap.format_of = lambda symbol: self._format(self.metrics.pair(symbol))

    def __enter__(self) -> LiveView:
        self._live = Live(self._render(), console=self.console, auto_refresh=False,
                          redirect_stdout=True, redirect_stderr=False)
        self._live.start(refresh=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._render(), refresh=True)  # the last state stays on screen
            self._live.stop()
            self._live = None

    def refresh(self, now: float | None = None) -> None:
        """Redraw at most once every ``REFRESH_S``."""
        now = time.monotonic() if now is None else now
        if self._live is None or now < self._next:
            return
        self._next = now + REFRESH_S
        self._live.update(self._render(), refresh=True)

    def rows(self) -> list[PairRow]:
        snapshots = self._snapshots()
        rows = []
        for pm in sorted(self.metrics.pairs(), key=lambda p: p.symbol):
            price, highest, stop, qty, unrealized = pm.state
            number = self._format(pm)
            self._note_move(pm, number)
            last = self.tap.last_of(pm.symbol)
            snap = snapshots.get(pm.symbol)
            position = snap.get("position") if isinstance(snap, Mapping) else None
            rows.append(PairRow(
                symbol=pm.symbol, price=price, highest=highest, stop=stop, qty=qty,
                unrealized=unrealized, realized=pm.realized_pnl,
                state=pair_state(pm, snap),
                last_event=f"{last.time} {last.text}" if last else "",
                adopted=bool(position is not None and position.adopted),
                stop_estimated=pm.is_estimate, fmt=number))
        return rows

    def _format(self, pm: Any) -> SymbolFormat:
        try:
            number = self.format_of(pm.symbol)
        except Exception:  # noqa: BLE001 - a symbol the venue has not described yet
            number = PLAIN
        if not number.quote and pm.quote:
            number = SymbolFormat(tick=number.tick, step=number.step, quote=pm.quote)
        return number

    def _note_move(self, pm: Any, number: SymbolFormat) -> None:
        """A stop move the view has not shown yet becomes one event, ``stop OLD → NEW``; the
        new level is the one the next price published, so a move just confirmed waits for
        it."""
        seen = self._moves_seen.get(pm.symbol)
        moves, last = pm.moves, pm.last_move
        if seen is None or moves == seen or last is None:
            self._moves_seen[pm.symbol] = moves
            return
        old, new, at = last
        new = new if new is not None else pm.state[2]
        if new is None or new == old:
            return  # not published yet: next refresh
        self._moves_seen[pm.symbol] = moves
        if old is None or new < old:
            return  # the position closed and another opened since: its level is not a move
        more = f" ({moves - seen} moves)" if moves - seen > 1 else ""
        self.tap.add(EventRow(time=clock_of(at), symbol=pm.symbol,
                              text=f"stop {number.price(old)} → {number.price(new)}{more}"))

    def _render(self):
        return live_view(self.rows(), self.tap.latest(), title=self.title,
                         width=self.console.width)

    def _snapshots(self) -> Mapping[str, Any]:
        try:
            answer = self.supervisor.ask(GetSnapshot(), timeout=2)
        except Exception:  # noqa: BLE001 - the view shows the metrics alone meanwhile
            return {}
        return answer if isinstance(answer, Mapping) else {}


def clock_of(unix: float) -> str:
    """Wall-clock time of an event, HH:MM:SS local."""
    return time.strftime("%H:%M:%S", time.localtime(unix))


def _v(value: Any) -> str:
    if value is None:
        return ""
    return str(getattr(value, "value", value))
