"""The per-pair series of ``telemetry.metrics``: the tick path stores Decimals, and a collector
turns them into samples at scrape time."""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left
from decimal import Decimal
from typing import TYPE_CHECKING

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from telemetry.labels import display, display_or_zero

if TYPE_CHECKING:
    from telemetry.metrics import Metrics

PREFIX = "ratchet_"
#: Latency buckets from 10 µs to 10 s: the tick path and loopback calls are sub-millisecond.
LATENCY_BUCKETS = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)


class PairMetrics:
    """The per-symbol series of one pair.

    The tick path only stores Python objects: ``tick`` replaces one tuple (so a scrape always sees
    a consistent price/highest/stop), and a collector turns them into floats at scrape time.
    ``tick``, ``decision_latency`` and ``feed_tick`` cost well under a microsecond each. Call
    ``decision_latency`` from the pair's own actor thread only: its bucket counts have one writer.
    """

    __slots__ = ("symbol", "quote", "_metrics", "state", "realized_pnl", "is_up", "is_halted",
                 "is_unprotected", "is_estimate", "is_adopt_skipped", "last_tick",
                 "latency_counts", "latency_sum", "_stop_moves", "_orders", "_order_keys",
                 "_lock", "moves", "last_move")

    def __init__(self, metrics: Metrics, symbol: str) -> None:
        self.symbol = symbol
        self.quote = ""  # the quote asset: a label of the P&L gauges, set when the pair starts
        self._metrics = metrics
        #: (price, highest, stop, qty, unrealized_pnl), Decimals or None.
        self.state: tuple[Decimal | None, ...] = (None, None, None, None, None)
        self.realized_pnl = Decimal(0)
        self.is_up = False
        self.is_halted = False
        self.is_unprotected = False
        self.is_estimate = False
        self.is_adopt_skipped = False
        self.last_tick = time.time()
        self.latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self._stop_moves = metrics.stop_moves.labels(symbol)
        self._orders: dict[tuple[str, str], Counter] = {}
        self._order_keys: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        #: Stop moves so far, and the last one as (old stop, new stop or None, unix time):
        #: what the live view shows as ``stop OLD → NEW``.
        self.moves = 0
        self.last_move: tuple[Decimal | None, Decimal | None, float] | None = None

    def tick(self, price: Decimal | None, highest: Decimal | None, stop: Decimal | None,
             qty: Decimal | None, unrealized_pnl: Decimal | None) -> None:
        """The pair's state after a price. None means "none now": NaN for the prices (a gap in
        Grafana), 0 for the quantity and the unrealized P&L (flat)."""
        self.state = (price, highest, stop, qty, unrealized_pnl)

    def quote_asset(self, asset: str) -> None:
        """The asset the pair's prices and P&L are in (the ``quote`` label of its P&L)."""
        self.quote = asset

    def realized(self, total: Decimal) -> None:
        """Cumulative realized P&L of the pair (a gauge: it can fall)."""
        self.realized_pnl = total

    def stop_moved(self, old: Decimal | None = None, new: Decimal | None = None) -> None:
        """The stop moved up from ``old`` to ``new``. Without them, ``old`` is the stop last
        published by ``tick`` (a move is confirmed between ticks) and ``new`` the next one."""
        self._stop_moves.inc()
        self.last_move = (old if old is not None else self.state[2], new, time.time())
        self.moves += 1

    def up(self, running: bool) -> None:
        self.is_up = running

    def halted(self, is_halted: bool) -> None:
        """Halting also takes the pair down; un-halting does not bring it up by itself."""
        self.is_halted = is_halted
        if is_halted:
            self.is_up = False

    def feed_tick(self) -> None:
        """The feed delivered a tick for this symbol (for the stale-feed alert)."""
        self.last_tick = time.time()

    def unprotected(self, flag: bool) -> None:
        """True while the pair holds an open position without a live stop order on the
        exchange; ``unprotected_positions`` counts these flags over the pairs at scrape time."""
        self.is_unprotected = flag

    def adopt_skipped(self, flag: bool) -> None:
        """True while coins held on the account are left alone (``entry = "adopt"``): the
        stop they would get breaks a filter, so adopting them would mean selling them."""
        self.is_adopt_skipped = flag

    def stop_estimate(self, flag: bool) -> None:
        """True while ``stop_price`` is Ratchet's estimate of a native trailing stop's level
        (``floor_tick(highest × (1 − trail_pct/100))``): Binance does not report it."""
        self.is_estimate = flag

    def order(self, type: str, result: str) -> None:  # noqa: A002 - the label's name
        """Count one order outcome, e.g. ``order("STOP_LOSS_LIMIT", "accepted")``."""
        key = (type, result)
        child = self._orders.get(key)
        if child is None:
            with self._lock:
                child = self._orders.get(key)
                if child is None:
                    safe = (self._metrics._order_type(type), self._metrics._order_result(result))
                    child = self._metrics.orders.labels(self.symbol, *safe)
                    self._order_keys.add(safe)
                    self._orders[key] = child
        child.inc()

    def decision_latency(self, seconds: float) -> None:
        """Time from a tick's arrival to the pair's decision (into the unlabelled histogram)."""
        self.latency_counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum += seconds

    def _remove(self) -> None:
        self._metrics.stop_moves.remove(self.symbol)
        with self._lock:
            for type_, result in self._order_keys:
                self._metrics.orders.remove(self.symbol, type_, result)


class _PairCollector:
    """Exposes every pair's gauges, and ``tick_to_decision_seconds`` summed over the pairs."""

    _GAUGES = (
        ("price", "Last price seen by the pair, in quote asset."),
        ("highest_price", "Highest price since entry (NaN when flat)."),
        ("stop_price", "Current stop price (NaN when there is none)."),
        ("position_quantity", "Open position, in base asset (0 when flat)."),
        ("unrealized_pnl", "Unrealized P&L of the open position, in its quote asset."),
        ("realized_pnl", "Cumulative realized P&L, in its quote asset (can fall)."),
        ("pair_up", "1 while the pair's actor runs and trades, else 0."),
        ("pair_halted", "1 once a safety rule halted the pair, else 0."),
        ("feed_last_tick_timestamp_seconds", "Unix time of the feed's last tick for the symbol."),
        ("position_unprotected", "1 while the pair holds a position without a live stop order."),
        ("stop_price_estimated", "1 while stop_price is Ratchet's estimate of a native trailing "
                                 "stop (Binance does not report its level), else 0."),
        ("adopt_skipped", "1 while coins held are not adopted: their stop would break a filter."),
    )
    _DECISION = (PREFIX + "tick_to_decision_seconds",
                 "Time from a tick's arrival to the pair's decision.")
    _UNPROTECTED = (PREFIX + "unprotected_positions",
                    "Open positions without a live stop order.")

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        #: Bucket counts and sum of removed pairs, so the histogram never goes down.
        self.retired_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.retired_sum = 0.0

    def retire(self, pm: PairMetrics) -> None:
        for i, count in enumerate(pm.latency_counts):
            self.retired_counts[i] += count
        self.retired_sum += pm.latency_sum

    #: Gauges whose value is an amount of the quote asset: labelled with it, so P&L of pairs
    #: quoted in different assets is never summed by accident (``sum by (quote)``).
    _IN_QUOTE = frozenset({"unrealized_pnl", "realized_pnl"})

    def describe(self) -> list[Metric]:
        families: list[Metric] = [
            GaugeMetricFamily(PREFIX + name, doc,
                              labels=["symbol", "quote"] if name in self._IN_QUOTE else ["symbol"])
            for name, doc in self._GAUGES]
        families.append(HistogramMetricFamily(*self._DECISION))
        families.append(GaugeMetricFamily(*self._UNPROTECTED))
        return families

    def collect(self) -> list[Metric]:
        families = self.describe()
        gauges, decision, unprotected = families[:-2], families[-2], families[-1]
        counts, total = list(self.retired_counts), self.retired_sum
        pairs = self._metrics.pairs()
        unprotected.add_metric([], sum(1 for pm in pairs if pm.is_unprotected))
        for pm in pairs:
            price, highest, stop, qty, unrealized = pm.state
            values = (display(price), display(highest), display(stop),
                      display_or_zero(qty), display_or_zero(unrealized),
                      display_or_zero(pm.realized_pnl), 1.0 if pm.is_up else 0.0,
                      1.0 if pm.is_halted else 0.0, pm.last_tick,
                      1.0 if pm.is_unprotected else 0.0, 1.0 if pm.is_estimate else 0.0,
                      1.0 if pm.is_adopt_skipped else 0.0)
            for (name, _), family, value in zip(self._GAUGES, gauges, values, strict=True):
                family.add_metric([pm.symbol, pm.quote] if name in self._IN_QUOTE
                                  else [pm.symbol], value)
            for i, count in enumerate(pm.latency_counts):
                counts[i] += count
            total += pm.latency_sum
        cumulative, buckets = 0, []
        for bound, count in zip((*LATENCY_BUCKETS, math.inf), counts, strict=True):
            cumulative += count
            buckets.append((floatToGoString(bound), cumulative))
        decision.add_metric([], buckets, total)
        return families
