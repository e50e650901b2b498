"""Fault injection: latency, random failures of order requests, and forced answers.

``--fail-rate F`` makes an order request fail with probability F, in one of the ways the real
venue fails, and the order may or may not have been applied (a seeded coin flip). A
cancelReplace may also fail in Binance's two partial ways: ``"409"`` (the cancel applied, the
new order refused with -2010) and ``"-2022"`` (the cancel refused with -2011, nothing placed).
``POST /sim/force`` can queue either for the next cancelReplace.

``--late-rate F`` makes an order request (POST order, cancelReplace) land late with probability
F: it is answered now with one of ``LATE_ANSWERS`` and applied 1-4 s later, within its
recvWindow (``exchange.sim.late``). ``POST /sim/force {"kind": "late"}`` queues one for the next
order request, optionally with a fixed delay.

``block_stops`` (``POST /sim/block``) answers every new stop order of one symbol (POST order or
cancelReplace, type STOP_LOSS_LIMIT) with a forced answer until it is lifted, so a test can keep
a position unprotected for as long as it needs.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass

ORDER_FAULTS = ("500", "-1007", "timeout")
REPLACE_ONLY = ("409", "-2022")  # partial failures only a cancelReplace can have
REPLACE_FAULTS = (*ORDER_FAULTS, *REPLACE_ONLY)
FORCEABLE = frozenset({"418", "429", "-1021", "500", "timeout", "403", *REPLACE_ONLY})
# How a late order request is answered: 503 -1007, 500 -1000 or 500 -1006, each saying (or,
# for a 5xx, meaning) "execution status unknown".
LATE_ANSWERS = ("-1007", "500", "-1006")
LATE_MIN_S, LATE_MAX_S = 1.0, 4.0
LATE_MARGIN_S = 0.25  # a drawn landing stays this far inside the request's recvWindow


@dataclass(frozen=True, slots=True)
class Late:
    """An order request that lands late: ``answer`` now (one of ``LATE_ANSWERS``), applied
    after ``delay_s`` (``None``: drawn so that it lands inside the request's recvWindow)."""

    answer: str
    delay_s: float | None = None


@dataclass(frozen=True, slots=True)
class Forced:
    """An answer forced by ``POST /sim/force`` for the next request."""

    kind: str
    retry_after_s: int


class Faults:
    """Seeded decisions about which requests fail, and how. Thread-safe."""

    def __init__(self, *, fail_rate: float, latency_ms: int, timeout_s: float, seed: int | None,
                 late_rate: float = 0.0):
        self.fail_rate = fail_rate
        self.late_rate = late_rate
        self.latency_ms = latency_ms
        self.timeout_s = timeout_s
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._forced: deque[Forced] = deque()
        self._forced_replace: deque[str] = deque()
        self._forced_late: deque[Late] = deque()
        self._blocked: dict[str, Forced] = {}

    def force(self, kind: str, *, retry_after_s: int = 5, count: int = 1) -> None:
        """Queue ``count`` forced answers: for the next requests, or (``"409"``, ``"-2022"``)
        for the next cancelReplace requests."""
        if kind not in FORCEABLE:
            raise ValueError(f"kind must be one of {sorted(FORCEABLE)}, not {kind!r}")
        with self._lock:
            if kind in REPLACE_ONLY:
                self._forced_replace.extend(kind for _ in range(count))
            else:
                self._forced.extend(Forced(kind, retry_after_s) for _ in range(count))

    def force_late(self, *, count: int = 1, delay_s: float | None = None,
                   answer: str = "-1007") -> None:
        """The next ``count`` order requests land late, answered ``answer``, after ``delay_s``
        (``None``: drawn as for ``--late-rate``)."""
        if answer not in LATE_ANSWERS:
            raise ValueError(f"answer must be one of {list(LATE_ANSWERS)}, not {answer!r}")
        if delay_s is not None and delay_s < 0:
            raise ValueError(f"delay_s must not be negative, got {delay_s}")
        with self._lock:
            self._forced_late.extend(Late(answer, delay_s) for _ in range(count))

    def late_order(self) -> Late | None:
        """Whether this order request lands late, and how it is answered now."""
        with self._lock:
            if self._forced_late:
                return self._forced_late.popleft()
            if self.late_rate <= 0 or self._rng.random() >= self.late_rate:
                return None
            return Late(self._rng.choice(LATE_ANSWERS))

    def landing_delay(self, window_left_s: float) -> float:
        """Seconds until a late order lands: uniform in 1-4 s, but inside the ``window_left_s``
        its recvWindow leaves (less a margin), so Binance's rule lets it through."""
        high = min(LATE_MAX_S, window_left_s - LATE_MARGIN_S)
        if high <= 0:
            return 0.0
        with self._lock:
            return self._rng.uniform(min(LATE_MIN_S, high), high)

    def block_stops(self, symbol: str, kind: str | None, *, retry_after_s: int = 1) -> None:
        """Answer each new stop order for ``symbol`` with ``kind``; ``None`` lifts the block."""
        if kind is not None and kind not in FORCEABLE:
            raise ValueError(f"kind must be one of {sorted(FORCEABLE)} or null, not {kind!r}")
        with self._lock:
            if kind is None:
                self._blocked.pop(symbol, None)
            else:
                self._blocked[symbol] = Forced(kind, retry_after_s)

    def stop_block(self, params: dict[str, str]) -> Forced | None:
        """The answer forced on this order request, when it places a blocked stop."""
        if not self._blocked or params.get("type") != "STOP_LOSS_LIMIT":
            return None
        with self._lock:
            return self._blocked.get(params.get("symbol", ""))

    def take_forced(self) -> Forced | None:
        with self._lock:
            return self._forced.popleft() if self._forced else None

    def order_fault(self, *, cancel_replace: bool) -> str | None:
        """The way this order request fails, or ``None``."""
        with self._lock:
            if cancel_replace and self._forced_replace:
                return self._forced_replace.popleft()
            if self.fail_rate <= 0 or self._rng.random() >= self.fail_rate:
                return None
            return self._rng.choice(REPLACE_FAULTS if cancel_replace else ORDER_FAULTS)

    def read_fault(self) -> bool:
        with self._lock:
            return self.fail_rate > 0 and self._rng.random() < self.fail_rate

    def applied(self) -> bool:
        """Whether a failed order request still took effect on the venue."""
        with self._lock:
            return self._rng.random() < 0.5
