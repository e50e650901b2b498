"""Order requests that reach the matching engine late: answered 5xx now, applied later.

The live venue answers an order request it could not finish in time with 503 -1007 ("Send
status unknown; execution status unknown.") or a 500, and the order may still be executed
afterwards (rest-api.md: "This does not always mean that the request failed in the Matching
Engine"). Until it lands, a query by its client id answers -2013 and it is not among the open
orders; when it lands it is placed then, with that moment's price and events.

Binance's second recvWindow check (CHANGELOG 2025-05-22) still holds: a request whose
``timestamp + recvWindow`` has passed when it would reach the matching engine is not applied.
A late order that would land after its deadline is dropped, unapplied and unannounced.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any


class LateOrders:
    """Requests waiting to land, each on a timer of its own. Thread-safe; ``stop`` drops those
    still waiting (a landing under way finishes first)."""

    def __init__(self, now_ms: Callable[[], int]) -> None:
        self._now_ms = now_ms
        self._lock = threading.Lock()
        self._timers: dict[int, threading.Timer] = {}
        self._ids = itertools.count(1)
        self._stopped = False
        self.landed = 0
        self.refused = 0  # landed, and the matching engine refused it (no trace but this count)
        self.expired = 0  # reached the engine after timestamp + recvWindow: not applied

    def schedule(self, delay_s: float, deadline_ms: int, apply: Callable[[], Any]) -> None:
        """Run ``apply`` in ``delay_s`` seconds if the server clock is then within
        ``deadline_ms``."""
        with self._lock:
            if self._stopped:
                return
            key = next(self._ids)
            timer = threading.Timer(max(0.0, delay_s), self._land, (key, deadline_ms, apply))
            timer.daemon = True
            timer.name = f"sim-late-{key}"
            self._timers[key] = timer
            timer.start()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {"pending": len(self._timers), "landed": self.landed,
                    "refused": self.refused, "expired": self.expired}

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()

    def _land(self, key: int, deadline_ms: int, apply: Callable[[], Any]) -> None:
        with self._lock:  # held while it lands, so ``stop`` never races a landing
            if self._timers.pop(key, None) is None:
                return
            if self._now_ms() > deadline_ms:
                self.expired += 1
                return
            try:
                apply()
            except Exception:  # noqa: BLE001 - refused now (balance, duplicate id, closed market)
                self.refused += 1
            else:
                self.landed += 1
