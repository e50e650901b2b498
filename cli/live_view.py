"""``ratchet run``'s live view, when stderr is a terminal (cli/run_cmd.py decides).

Everything is read at the edge, never pushed by an actor:
- prices, highest, stop, quantity and P&L from the metrics registry (``Metrics.pairs()``: the
  Decimals the pairs publish on every tick);
- each pair's state from the Supervisor's ``GetSnapshot`` (an ``ask``, allowed at the edge),
  once a second; a pair that does not answer is shown from its metrics alone;
- order events from the structured log records (``EventTap``), so the last event of each pair
  and the latest events under the table need no new message.

Meanwhile the log lines go to a rotated file (``--log-file``, next to the DB by default), not to
the screen the table is drawn on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import pykka
from rich.console import Console
from rich.live import Live

from actors.messages import GetSnapshot
from cli.table import EventRow, PairRow, live_view
from telemetry.logs import event_of, redact

REFRESH_S = 1.0
EVENTS_SHOWN = 8
#: Structured events shown under the table; every one carries a ``symbol`` field.
SHOWN_EVENTS = frozenset({"order", "order_rejected", "position_closed", "pair_halted",
                          "pair_failed"})


def describe(event: str, fields: Mapping[str, Any]) -> str:
    """A few words for an event, e.g. ``STOP_LOSS_LIMIT NEW`` or ``closed stop pnl -1.25``."""
    if event == "order":
        return f"{_v(fields.get('type'))} {_v(fields.get('state'))}".strip()
    if event == "order_rejected":
        return f"rejected {_v(fields.get('code'))}: {_v(fields.get('reason'))}"[:60]
    if event == "position_closed":
        return f"closed {_v(fields.get('reason'))} pnl {_v(fields.get('pnl'))}"
    if event == "pair_halted":
        return f"halted: {_v(fields.get('reason') or fields.get('error'))}"[:60]
    return f"{event.replace('_', ' ')}: {_v(fields.get('error'))}"[:60]


class EventTap(logging.Handler):
    """Keeps the latest order events from the log records (any thread), for display."""

    def __init__(self, keep: int = 200) -> None:
        super().__init__(level=logging.INFO)
        self._events: deque[EventRow] = deque(maxlen=keep)
        self._last: dict[str, EventRow] = {}
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        found = event_of(record)
        if found is None or found[0] not in SHOWN_EVENTS or "symbol" not in found[1]:
            return
        event, fields = found
        row = EventRow(time=time.strftime("%H:%M:%S", time.localtime(record.created)),
                       symbol=str(fields["symbol"]), text=redact(describe(event, fields)))
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
                 title: str, console: Console | None = None) -> None:
        self.metrics = metrics
        self.supervisor = supervisor
        self.tap = tap
        self.title = title
        self.console = console or Console(stderr=True)
        self._live: Live | None = None
        self._next = 0.0

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
            last = self.tap.last_of(pm.symbol)
            snap = snapshots.get(pm.symbol)
            position = snap.get("position") if isinstance(snap, Mapping) else None
            rows.append(PairRow(
                symbol=pm.symbol, price=price, highest=highest, stop=stop, qty=qty,
                unrealized=unrealized, realized=pm.realized_pnl,
                state=pair_state(pm, snap),
                last_event=f"{last.time} {last.text}" if last else "",
                adopted=bool(position is not None and position.adopted),
                stop_estimated=pm.is_estimate))
        return rows

    def _render(self):
        return live_view(self.rows(), self.tap.latest(), title=self.title)

    def _snapshots(self) -> Mapping[str, Any]:
        try:
            answer = self.supervisor.ask(GetSnapshot(), timeout=2)
        except Exception:  # noqa: BLE001 - the view shows the metrics alone meanwhile
            return {}
        return answer if isinstance(answer, Mapping) else {}


def _v(value: Any) -> str:
    if value is None:
        return ""
    return str(getattr(value, "value", value))
