"""24-hour statistics of the sim's prints, and the synthetic order book (``ticker/24hr``,
``depth``, the ``@miniTicker`` stream).

Every price of the sim's path is one trade print of ``PRINT_QTY``. A ``RollingDay`` keeps a
symbol's prints of the last 24 hours of **price time** by minute, so the window is exact to the
minute, in data time under ``--prices`` as in the random walk. **sim**: the statistics live in
memory and start again empty after a restart; the book is synthetic (``depth``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from decimal import Decimal

PRINT_QTY = Decimal("0.01")
DAY_MS = 86_400_000
_MINUTE_MS = 60_000
DEPTH_LEVEL_QTY = Decimal("1")


@dataclass(frozen=True, slots=True)
class Bucket:
    """The prints of one minute."""

    minute: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    count: int
    price_sum: Decimal
    first_id: int
    last_id: int

    def add(self, trade_id: int, price: Decimal) -> Bucket:
        return replace(self, high=max(self.high, price), low=min(self.low, price), close=price,
                       count=self.count + 1, price_sum=self.price_sum + price, last_id=trade_id)


@dataclass(frozen=True, slots=True)
class DayStats:
    """A symbol's last 24 hours, as ``ticker/24hr`` reports it."""

    open: Decimal
    high: Decimal
    low: Decimal
    last: Decimal
    prev_close: Decimal
    count: int
    volume: Decimal
    quote_volume: Decimal
    first_id: int
    last_id: int
    close_ms: int

    @property
    def open_ms(self) -> int:
        return self.close_ms - DAY_MS

    @property
    def change(self) -> Decimal:
        return self.last - self.open

    @property
    def change_pct(self) -> Decimal:
        return self.change / self.open * 100

    @property
    def weighted_avg(self) -> Decimal:
        return self.quote_volume / self.volume


class RollingDay:
    """One symbol's prints of the last 24 hours, by minute. Not thread-safe (the venue locks)."""

    def __init__(self) -> None:
        self._buckets: deque[Bucket] = deque()
        self._prev_close: Decimal | None = None
        self._last_ms = 0

    def add(self, trade_id: int, price: Decimal, ts_ms: int) -> None:
        minute = ts_ms // _MINUTE_MS
        self._last_ms = max(self._last_ms, ts_ms)
        if self._buckets and self._buckets[-1].minute >= minute:
            self._buckets[-1] = self._buckets[-1].add(trade_id, price)
        else:
            self._buckets.append(Bucket(minute, price, price, price, price, 1, price, trade_id,
                                        trade_id))
        oldest = minute - DAY_MS // _MINUTE_MS
        while self._buckets and self._buckets[0].minute <= oldest:
            self._prev_close = self._buckets.popleft().close

    def stats(self) -> DayStats | None:
        if not self._buckets:
            return None
        buckets = self._buckets
        count = sum(b.count for b in buckets)
        first = buckets[0]
        return DayStats(
            open=first.open, high=max(b.high for b in buckets), low=min(b.low for b in buckets),
            last=buckets[-1].close,
            prev_close=first.open if self._prev_close is None else self._prev_close,
            count=count, volume=PRINT_QTY * count,
            quote_volume=sum((b.price_sum for b in buckets), Decimal(0)) * PRINT_QTY,
            first_id=first.first_id, last_id=buckets[-1].last_id, close_ms=self._last_ms,
        )


def depth_weight(limit: int) -> int:
    """``GET depth``'s weight by ``limit`` (official docs)."""
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250


def ticker_weight(symbols: int | None) -> int:
    """``GET ticker/24hr``'s weight: 2 for one symbol, else by how many (``None``: all)."""
    if symbols is None or symbols > 100:
        return 80
    return 2 if symbols <= 20 else 40


def book_levels(last: Decimal, tick: Decimal, limit: int) -> tuple[list[Decimal], list[Decimal]]:
    """The synthetic book: ``limit`` bid prices from the last price down, one tick apart, and
    ``limit`` ask prices from one tick above it up."""
    bids = [last - tick * i for i in range(limit) if last - tick * i > 0]
    asks = [last + tick * (i + 1) for i in range(limit)]
    return bids, asks
