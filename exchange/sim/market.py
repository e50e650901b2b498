"""The sim's price path: a seeded random walk per symbol, or a CSV played at ``speed``.

Each price goes through ``on_price`` (the venue: book matching, then the market-data frame).
The random step is drawn as a float and quantised to a Decimal before it touches a price.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from decimal import Decimal

from core.money import floor_tick
from core.prices import PricePoint
from core.types import SymbolFilters

START_PRICES = {
    "BTCUSDT": Decimal("50000"), "ETHUSDT": Decimal("3000"), "BNBUSDT": Decimal("500"),
    "SOLUSDT": Decimal("150"),
}
DEFAULT_START = Decimal("100")

PriceSink = Callable[[str, Decimal, Decimal | None, str], object]


class RandomWalk:
    """Multiplicative Gaussian steps; ``volatility_pct`` is the standard deviation per minute."""

    def __init__(
        self, filters: dict[str, SymbolFilters], start: dict[str, Decimal], *, seed: int,
        volatility_pct: Decimal, interval_ms: int, hold: frozenset[str] = frozenset(),
    ) -> None:
        self._filters = filters
        self._hold = hold  # symbols the walk leaves alone (moved only by /sim/price)
        self.prices = {s: start.get(s) or START_PRICES.get(s, DEFAULT_START) for s in filters}
        self._rng = random.Random(seed)
        minutes = interval_ms / 60_000
        self._sigma = float(volatility_pct) / 100 * math.sqrt(minutes)  # not money: a rate

    def step(self) -> list[tuple[str, Decimal]]:
        out = []
        for symbol, price in self.prices.items():
            if symbol in self._hold:
                continue
            move = Decimal(f"{self._rng.gauss(0.0, self._sigma):.10f}")
            tick = self._filters[symbol].tick
            price = max(tick, floor_tick(price * (1 + move), tick))
            self.prices[symbol] = price
            out.append((symbol, price))
        return out


class PriceDriver:
    """A daemon thread feeding prices to ``sink``; ``pause`` stops it without ending it."""

    def __init__(
        self, sink: PriceSink, *, walk: RandomWalk | None = None,
        points: list[PricePoint] | None = None, symbols: list[str] | None = None,
        speed: float = 1.0, interval_ms: int = 250,
    ) -> None:
        self._sink = sink
        self._walk = walk
        self._points = points or []
        self._symbols = symbols or []
        self._speed = speed
        self._interval_s = interval_ms / 1000
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._thread = threading.Thread(target=self._run, name="sim-prices", daemon=True)

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self, paused: bool) -> None:
        if paused:
            self._running.clear()
        else:
            self._running.set()

    def start(self) -> None:
        """Deliver the first prices now, so the venue has a price for every symbol on return,
        then the rest from a daemon thread."""
        if self._walk is not None:
            for symbol, price in self._walk.prices.items():
                self._sink(symbol, price, None, "")
        elif self._points:
            for symbol in self._symbols:
                self._sink(symbol, self._points[0].price, self._points[0].ts,
                           self._points[0].time)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        if self._walk is not None:
            self._run_walk()
        else:
            self._run_csv()

    def _run_walk(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._running.wait()
            if self._stop.is_set():
                return
            for symbol, price in self._walk.step():
                self._sink(symbol, price, None, "")

    def _run_csv(self) -> None:
        if not self._points:
            return
        first_ts = self._points[0].ts
        started = time.monotonic()
        paused_for = 0.0
        for point in self._points[1:]:
            offset_s = float(point.ts - first_ts) / self._speed  # a schedule, not money
            while not self._stop.is_set():
                due = started + paused_for + offset_s
                if not self._running.is_set():
                    t0 = time.monotonic()
                    self._running.wait()
                    paused_for += time.monotonic() - t0
                    continue
                delay = due - time.monotonic()
                if delay <= 0 or self._stop.wait(min(delay, 0.5)):
                    break
            if self._stop.is_set():
                return
            for symbol in self._symbols:
                self._sink(symbol, point.price, point.ts, point.time)
