"""The send gate (no request while banned or told to back off) and the rate meter.

``SendGate`` is checked before every request. After a 418 it refuses everything until the
ban's ``Retry-After`` has passed (``VenueBanned``); after a 429 it refuses until that
``Retry-After`` has passed (``RetryableVenueError``). Nothing reaches the wire meanwhile.

``RateMeter`` keeps what the venue last said about its limits: ``X-MBX-USED-WEIGHT-1M`` and
``X-MBX-ORDER-COUNT-<interval>`` headers, against the limits of ``exchangeInfo.rateLimits``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping

from core.errors import RetryableVenueError, VenueBanned
from exchange.base import RateBudget
from exchange.binance.dto import RateLimitDTO

WEIGHT_HEADER = "x-mbx-used-weight-1m"
ORDER_COUNT_PREFIX = "x-mbx-order-count-"
WEIGHT_KEY = "1M"  # X-MBX-USED-WEIGHT-1M counts a one-minute window
_INTERVAL_LETTER = {"SECOND": "S", "MINUTE": "M", "HOUR": "H", "DAY": "D"}


class SendGate:
    """Refuses to send while a ban or a back-off is in force. Thread-safe."""

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._lock = threading.Lock()
        self._banned_until = 0.0
        self._backoff_until = 0.0

    def check(self) -> None:
        """Raise if nothing may be sent now."""
        now = self._clock()
        with self._lock:
            banned, backoff = self._banned_until - now, self._backoff_until - now
        if banned > 0:
            raise VenueBanned(
                f"binance: banned (HTTP 418); nothing is sent for {banned:.0f} s more",
                retry_after_s=banned, http_status=418,
            )
        if backoff > 0:
            raise RetryableVenueError(
                f"binance: backing off (HTTP 429) for {backoff:.1f} s more",
                retry_after_s=backoff, http_status=429,
            )

    def ban(self, retry_after_s: float) -> None:
        with self._lock:
            self._banned_until = max(self._banned_until, self._clock() + retry_after_s)

    def back_off(self, retry_after_s: float) -> None:
        with self._lock:
            self._backoff_until = max(self._backoff_until, self._clock() + retry_after_s)

    @property
    def banned(self) -> bool:
        with self._lock:
            return self._clock() < self._banned_until

    def seconds_until_open(self) -> float:
        with self._lock:
            return max(0.0, max(self._banned_until, self._backoff_until) - self._clock())


def order_limit_key(limit: RateLimitDTO) -> str:
    """The header suffix Binance uses for an ORDERS limit, e.g. ``10S`` or ``1D``."""
    return f"{limit.intervalNum}{_INTERVAL_LETTER.get(limit.interval, limit.interval[:1])}"


class RateMeter:
    """The last-seen usage of the venue's limits. Thread-safe.

    A count is only as fresh as the last response that carried it. Once a whole interval has
    passed since then, the window it counted has ended, so it reads as 0: otherwise a budget
    spent to its ceiling would never be seen to refill (no order is sent, no header comes).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._weight_used = 0
        self._weight_limit = 6000
        self._order_counts: dict[str, int] = {}
        self._order_limits: dict[str, int] = {"10S": 100}
        self._seen: dict[str, float] = {}  # when each count was last read: "1M" is the weight

    def set_limits(self, limits: Iterable[RateLimitDTO]) -> None:
        order_limits: dict[str, int] = {}
        with self._lock:
            for lim in limits:
                if (lim.rateLimitType == "REQUEST_WEIGHT" and lim.interval == "MINUTE"
                        and lim.intervalNum == 1):
                    self._weight_limit = lim.limit
                elif lim.rateLimitType == "ORDERS":
                    order_limits[order_limit_key(lim)] = lim.limit
            if order_limits:
                self._order_limits = order_limits

    def observe(self, headers: Mapping[str, str] | None) -> int | None:
        """Read the usage headers of one response; returns the weight used, if given."""
        if not headers:
            return None
        weight: int | None = None
        counts: dict[str, int] = {}
        for name, value in headers.items():
            low = name.lower()
            try:
                if low == WEIGHT_HEADER:
                    weight = int(value)
                elif low.startswith(ORDER_COUNT_PREFIX):
                    counts[low[len(ORDER_COUNT_PREFIX):].upper()] = int(value)
            except ValueError:
                continue
        now = self._clock()
        with self._lock:
            if weight is not None:
                self._weight_used = weight
                self._seen[WEIGHT_KEY] = now
            self._order_counts.update(counts)
            self._seen.update(dict.fromkeys(counts, now))
        return weight

    def _fresh(self, key: str, count: int, now: float) -> int:
        """``count`` while its window may still be running, else 0."""
        seen = self._seen.get(key)
        return count if seen is None or now - seen < _interval_seconds(key) else 0

    def budget(self) -> RateBudget:
        now = self._clock()
        with self._lock:
            short = min(self._order_limits, key=_interval_seconds, default="10S")
            counts = {k: self._fresh(k, v, now) for k, v in self._order_counts.items()}
            extra = {f"orders_{k}": v for k, v in counts.items()}
            extra.update({f"orders_limit_{k}": v for k, v in self._order_limits.items()})
            return RateBudget(
                weight_used=self._fresh(WEIGHT_KEY, self._weight_used, now),
                weight_limit=self._weight_limit,
                orders_used=counts.get(short, 0),
                orders_limit=self._order_limits.get(short, 100), extra=extra,
            )


def _interval_seconds(key: str) -> int:
    unit = {"S": 1, "M": 60, "H": 3600, "D": 86400}.get(key[-1:], 1)
    try:
        return int(key[:-1]) * unit
    except ValueError:
        return 1 << 30
