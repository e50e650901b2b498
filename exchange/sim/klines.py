"""``GET /api/v3/klines`` for the sim: Binance's candlesticks, from the sim's own prices.

Where the bars come from:
- with ``--prices CSV``: the whole file, whatever the playback position (the file is the
  market's history; every listed symbol follows it, as the price path does);
- otherwise: every price of the random walk since this sim process started (kept in memory,
  one-minute buckets; ``/sim/price`` prices are not recorded).

Binance's shape and rules (REST API docs, "Kline/Candlestick data"): weight 2 whatever the
limit; ``symbol`` and ``interval`` required; ``limit`` default 500, at most 1000 (larger values
are clamped, as the sim does for myTrades); ``startTime``/``endTime`` select by open time,
inclusive; with neither, the most recent bars; with only ``endTime``, the last bars up to it.
Each bar is ``[open time, open, high, low, close, volume, close time, quote volume, trades,
taker buy base volume, taker buy quote volume, "0"]``, prices as 8-decimal strings.

**sim** limits: intervals from ``1m`` to ``1d`` (not ``1s``, ``3d``, ``1w``, ``1M``); a minute
without a price has no bar (Binance shows an empty bar); volume is 0.01 a price, the size of the
sim's trade prints.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from core.errors import VenueError
from core.prices import PricePoint, read_prices
from exchange.sim import wire
from exchange.sim.api import Endpoint, Params, venue_error
from exchange.sim.guard import SimError, mandatory

MINUTE_MS = 60_000
INTERVALS_MS = {
    "1m": MINUTE_MS, "3m": 3 * MINUTE_MS, "5m": 5 * MINUTE_MS, "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS, "1h": 60 * MINUTE_MS, "2h": 120 * MINUTE_MS, "4h": 240 * MINUTE_MS,
    "6h": 360 * MINUTE_MS, "8h": 480 * MINUTE_MS, "12h": 720 * MINUTE_MS,
    "1d": 1440 * MINUTE_MS,
}
DEFAULT_LIMIT, MAX_LIMIT = 500, 1000
WEIGHT = 2
PRINT_QTY = Decimal("0.01")  # the size of one sim trade print (exchange/sim/venue.py)


@dataclass(slots=True)
class _Bucket:
    """One minute of prices."""

    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    count: int = 1
    total: Decimal = Decimal(0)

    def add(self, price: Decimal) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.count += 1
        self.total += price


class _Series:
    """Minute buckets of one price path, by start time (ms), in order."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.buckets: list[_Bucket] = []

    def add(self, ts_ms: int, price: Decimal) -> None:
        start = ts_ms - ts_ms % MINUTE_MS
        if self.starts and start <= self.starts[-1]:  # same minute (or a clock step back)
            self.buckets[-1].add(price)
            return
        self.starts.append(start)
        self.buckets.append(_Bucket(price, price, price, price, 1, price))


class KlineHistory:
    """The bars ``GET /api/v3/klines`` serves. Thread-safe."""

    def __init__(self, prices: Path | None = None,
                 clock_ms: Callable[[], int] | None = None) -> None:
        self._prices = prices
        self._clock_ms = clock_ms
        self._file: _Series | None = None
        self._series: dict[str, _Series] = {}
        self._lock = threading.Lock()

    # --- recording -----------------------------------------------------------------------

    def recorder(self, sink: Callable[..., None]) -> Callable[..., None]:
        """``sink`` (the venue's ``on_price``), also recording each price of the random walk."""
        if self._prices is not None:
            return sink  # the file is the history

        def record(symbol: str, price: Decimal, ts: Decimal | None, time_: str = "") -> None:
            if sink(symbol, price, ts, time_) is not False:  # False: held, not traded
                self.record(symbol, price, ts)

        return record

    def record(self, symbol: str, price: Decimal, ts: Decimal | None = None) -> None:
        ts_ms = wire.ms(ts) if ts is not None else self._now_ms()
        with self._lock:
            self._series.setdefault(symbol, _Series()).add(ts_ms, price)

    # --- serving -------------------------------------------------------------------------

    def endpoint(self, known_symbol: Callable[[str], Any]) -> Endpoint:
        """The route: ``known_symbol(symbol)`` raises the venue's error for an unknown one."""

        def handler(params: Params) -> list[list[Any]]:
            symbol = params.get("symbol") or ""
            if not symbol:
                raise mandatory("symbol")
            try:
                known_symbol(symbol)
            except VenueError as exc:
                raise venue_error(exc) from None
            interval = params.get("interval") or ""
            if not interval:
                raise mandatory("interval")
            if interval not in INTERVALS_MS:
                raise SimError(400, -1120, "Invalid interval.")
            return self.klines(symbol, INTERVALS_MS[interval], start=_int(params, "startTime"),
                               end=_int(params, "endTime"),
                               limit=max(1, min(_int(params, "limit") or DEFAULT_LIMIT,
                                                MAX_LIMIT)))

        return Endpoint(handler, lambda p: WEIGHT)

    def klines(self, symbol: str, interval_ms: int, *, start: int | None = None,
               end: int | None = None, limit: int = DEFAULT_LIMIT) -> list[list[Any]]:
        series = self._source(symbol)
        if series is None:
            return []
        with self._lock:
            starts, buckets = list(series.starts), list(series.buckets)
        if start is not None:
            first_open = -(-start // interval_ms) * interval_ms  # the first open time >= start
            i = bisect.bisect_left(starts, first_open)
            bars = _forward(starts, buckets, i, interval_ms, end, limit)
        else:
            last = len(starts) if end is None else bisect.bisect_left(
                starts, end - end % interval_ms + interval_ms)
            bars = _backward(starts, buckets, last, interval_ms, limit)
        return [_bar(open_ms, interval_ms, group) for open_ms, group in bars]

    def _source(self, symbol: str) -> _Series | None:
        if self._prices is None:
            return self._series.get(symbol)
        with self._lock:
            if self._file is None:
                self._file = _from_points(read_prices(self._prices))
            return self._file

    def _now_ms(self) -> int:
        if self._clock_ms is not None:
            return self._clock_ms()
        import time

        return int(time.time() * 1000)


def _from_points(points: list[PricePoint]) -> _Series:
    series = _Series()
    for point in points:
        series.add(wire.ms(point.ts), point.price)
    return series


def _forward(starts, buckets, i, interval_ms, end, limit):
    bars: list[tuple[int, list[_Bucket]]] = []
    while i < len(starts):
        open_ms = starts[i] - starts[i] % interval_ms
        if end is not None and open_ms > end:
            break
        if bars and bars[-1][0] == open_ms:
            bars[-1][1].append(buckets[i])
        elif len(bars) == limit:
            break
        else:
            bars.append((open_ms, [buckets[i]]))
        i += 1
    return bars


def _backward(starts, buckets, last, interval_ms, limit):
    bars: list[tuple[int, list[_Bucket]]] = []
    i = last - 1
    while i >= 0:
        open_ms = starts[i] - starts[i] % interval_ms
        if bars and bars[-1][0] == open_ms:
            bars[-1][1].insert(0, buckets[i])
        elif len(bars) == limit:
            break
        else:
            bars.append((open_ms, [buckets[i]]))
        i -= 1
    return bars[::-1]


def _bar(open_ms: int, interval_ms: int, group: list[_Bucket]) -> list[Any]:
    count = sum(b.count for b in group)
    volume = PRINT_QTY * count
    quote = PRINT_QTY * sum((b.total for b in group), Decimal(0))
    return [
        open_ms, wire.fmt(group[0].open), wire.fmt(max(b.high for b in group)),
        wire.fmt(min(b.low for b in group)), wire.fmt(group[-1].close), wire.fmt(volume),
        open_ms + interval_ms - 1, wire.fmt(quote), count, wire.fmt(volume / 2),
        wire.fmt(quote / 2), "0",
    ]


def _int(params: Params, name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.lstrip("-").isdigit():
        raise SimError(400, -1100, f"Illegal characters found in parameter '{name}'; legal "
                                   "range is '^[0-9]{1,20}$'.")
    return int(raw)
