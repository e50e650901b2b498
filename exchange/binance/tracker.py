"""Which of our orders we last knew to be open, so REST polling can tell what changed.

Polling (when the user stream is down) fetches every open order in one call. An order we
knew as open and that is no longer listed has filled, been canceled or expired: only those are
queried one by one. An order still open whose executed quantity grew has (partly) filled.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from exchange.base import OrderReport


@dataclass(frozen=True, slots=True)
class Known:
    symbol: str
    executed_qty: Decimal


class OpenOrderTracker:
    """Thread-safe: the Gateway's thread and the user-stream thread both feed it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, Known] = {}

    def note(self, report: OrderReport) -> None:
        """Record the latest state of one order."""
        with self._lock:
            if report.state.is_open:
                self._open[report.client_order_id] = Known(report.symbol, report.executed_qty)
            else:
                self._open.pop(report.client_order_id, None)

    def forget(self, client_order_id: str) -> None:
        with self._lock:
            self._open.pop(client_order_id, None)

    def diff(
        self, listed: Iterable[OrderReport]
    ) -> tuple[list[OrderReport], list[tuple[str, str]]]:
        """Compare a full open-orders listing with what we knew.

        Returns the known orders whose executed quantity changed, and the
        ``(symbol, client_order_id)`` of known orders that are no longer listed. The listing
        becomes the new "known open" set, except for the vanished ones, which stay until
        ``note``/``forget`` settles them.
        """
        listed = list(listed)
        with self._lock:
            changed = [
                r for r in listed
                if (k := self._open.get(r.client_order_id)) is not None
                and r.executed_qty != k.executed_qty
            ]
            listed_ids = {r.client_order_id for r in listed}
            gone = [(k.symbol, cid) for cid, k in self._open.items() if cid not in listed_ids]
            for r in listed:
                self._open[r.client_order_id] = Known(r.symbol, r.executed_qty)
        return changed, gone

    def __len__(self) -> int:
        with self._lock:
            return len(self._open)
