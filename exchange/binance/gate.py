"""The send gate (no request while banned or told to back off), the rate meter, and the order
pacer (no request the venue's limits would refuse).

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

    A count is only as fresh as the last response that carried it. Once the venue's window it
    was read in has ended, it reads as 0: otherwise a budget spent to its ceiling would never be
    seen to refill (no order is sent, no header comes). ``clock`` is the wall clock: the
    venue's windows are fixed on it.
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
        """``count`` while the venue's window it was read in still runs, else 0. Binance's
        windows are fixed (a 10 s window is ``floor(epoch / 10)``): a count read at 9.9 s is
        gone at 10.0 s, not at 19.9 s."""
        seen = self._seen.get(key)
        interval = _interval_seconds(key)
        return count if seen is None or now // interval == seen // interval else 0

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


class OrderPacer:
    """Keeps new orders inside the venue's ORDERS windows, and requests inside its weight
    minute, by waiting before a request instead of being refused (429) and banned (418) for it.
    Thread-safe: boot sends many stops side by side.

    Binance counts both in fixed windows of its own clock (10 s, a day, a minute), so the pacer
    counts in the same windows of the venue's clock (ours plus the offset): at most
    ``headroom`` of a limit is used per window, and no order starts in the last ``edge_s`` of a
    short window (it could land in the next one, which the venue would count). The venue's
    own counts (``X-MBX-ORDER-COUNT-*``, ``X-MBX-USED-WEIGHT-1M``) raise ours when higher (an
    earlier process, another engine on the key).
    """

    def __init__(self, *, offset_s: Callable[[], float] = lambda: 0.0,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, headroom: float = 0.9,
                 edge_s: float = 0.25) -> None:
        self._offset_s = offset_s
        self._clock = clock
        self._sleep = sleep
        self._headroom = headroom
        self._edge_s = edge_s
        self._lock = threading.Lock()
        self._order_limits: dict[str, int] = {"10S": 100}
        self._weight_limit = 6000
        self._orders: dict[str, tuple[int, int]] = {}  # window key -> (window number, count)
        self._weight: tuple[int, int] = (0, 0)  # (minute number, weight used as last heard)
        self.waited_s = 0.0  # time spent waiting, for the operator and the bench

    def set_limits(self, limits: Iterable[RateLimitDTO]) -> None:
        order_limits: dict[str, int] = {}
        with self._lock:
            for lim in limits:
                if lim.rateLimitType == "ORDERS":
                    order_limits[order_limit_key(lim)] = lim.limit
                elif (lim.rateLimitType == "REQUEST_WEIGHT" and lim.interval == "MINUTE"
                      and lim.intervalNum == 1):
                    self._weight_limit = lim.limit
            if order_limits:
                self._order_limits = order_limits

    def observe(self, headers: Mapping[str, str] | None) -> None:
        """The venue's counts for its current windows."""
        if not headers:
            return
        now = self._now()
        with self._lock:
            for name, value in headers.items():
                low = name.lower()
                try:
                    count = int(value)
                except ValueError:
                    continue
                if low == WEIGHT_HEADER:
                    minute = int(now // 60)
                    seen = self._weight[1] if self._weight[0] == minute else 0
                    self._weight = (minute, max(seen, count))
                elif low.startswith(ORDER_COUNT_PREFIX):
                    key = low[len(ORDER_COUNT_PREFIX):].upper()
                    window = int(now // _interval_seconds(key))
                    number, seen = self._orders.get(key, (window, 0))
                    self._orders[key] = (window, max(count, seen if number == window else 0))

    def before_order(self) -> None:
        """Wait until a new order fits every ORDERS window, then count it."""
        while True:
            with self._lock:
                wait = self._order_wait(self._now())
                if wait <= 0:
                    now = self._now()
                    for key in self._order_limits:
                        window = int(now // _interval_seconds(key))
                        number, count = self._orders.get(key, (window, 0))
                        self._orders[key] = (window, (count if number == window else 0) + 1)
                    return
            self._wait(wait)

    def before_request(self) -> None:
        """Wait while the weight of the venue's current minute is spent to the headroom."""
        while True:
            with self._lock:
                now = self._now()
                minute, used = self._weight
                if minute != int(now // 60) or used < self._weight_limit * self._headroom:
                    return
                wait = (minute + 1) * 60 - now
            self._wait(wait)

    def _order_wait(self, now: float) -> float:
        wait = 0.0
        for key, limit in self._order_limits.items():
            interval = _interval_seconds(key)
            window = int(now // interval)
            number, count = self._orders.get(key, (window, 0))
            used = count if number == window else 0
            end = (window + 1) * interval
            full = used >= max(1, int(limit * self._headroom))
            at_the_edge = interval <= 60 and end - now < self._edge_s
            if full or at_the_edge:
                wait = max(wait, end - now)
        return wait

    def _wait(self, seconds: float) -> None:
        seconds = max(seconds, 0.001)
        self.waited_s += seconds
        self._sleep(seconds)

    def _now(self) -> float:
        return self._clock() + self._offset_s()
