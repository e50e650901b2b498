"""Prometheus metrics of DESIGN.md §7, on a registry of their own.

Each ``Metrics`` owns a ``CollectorRegistry`` (tests create several side by side) and serves it
on ``/metrics``. Per-pair updates go through ``PairMetrics``: the tick path only stores the
Decimals (one tuple), and a collector turns them into samples at scrape time; per-pair counters
use labelled children made once. A tick update costs well under a microsecond.

Units are base units: seconds and plain counts; prices and P&L are in the pair's quote asset,
and the P&L gauges carry it as the ``quote`` label.
Values are converted to float only here, at the display boundary.

Labels stay bounded. ``symbol`` comes from the config. Every other label value (``type``,
``result``, ``code``, ``endpoint``, ``actor``, ``action``) goes through a guard: at most
``MAX_LABEL_VALUES`` distinct values per label, longer than ``MAX_LABEL_LENGTH`` or beyond the
limit folds into ``other``, and a value equal to a secret env var becomes ``redacted``. Never pass
order ids, client ids or prices as labels.

Beyond §7, four series serve the alert rules (dashboards/alerts.yml):
- ``ratchet_pair_halted{symbol}``: 1 once the Supervisor halted the pair (6th failure in 10
  minutes, or a balance smaller than the position). ``ratchet_pair_up`` is 0 both while a pair
  restarts and once it is halted; ``pair_halted`` tells the two apart.
- ``ratchet_feed_last_tick_timestamp_seconds{symbol}``: wall-clock time of the feed's last tick
  for the symbol; set when the pair's metrics are created, so a feed that never ticks is stale.
- ``ratchet_position_unprotected{symbol}``: 1 while the pair holds a position without a live
  stop; ``unprotected_positions`` is its sum, and the alert uses this one to name the symbol.
- ``ratchet_reconcile_failures_total`` and ``ratchet_db_failures_total``.
The standard ``process_*`` series (start time, CPU, memory, open fds) are exposed too.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from bisect import bisect_left
from collections.abc import Mapping
from decimal import Decimal
from importlib import metadata
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from telemetry import endpoint as http_endpoint
from telemetry.logs import secret_values

PREFIX = "ratchet_"

#: Latency buckets from 10 µs to 10 s: the tick path and loopback calls are sub-millisecond.
LATENCY_BUCKETS = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
#: Rows per DB commit group; the DBWriter caps a group at about 1,000.
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)

#: Actor kinds the Supervisor restarts (``actor_restarts_total{actor}``), exposed at 0 from boot.
RESTARTED_ACTORS = ("pair", "gateway")

MAX_LABEL_VALUES = 64
MAX_LABEL_LENGTH = 64
OTHER = "other"
REDACTED = "redacted"


def _display(value: Decimal | None) -> float:
    """A Decimal as a float for Prometheus; None (no such value now) as NaN."""
    return math.nan if value is None else float(value)  # display


def _display_or_zero(value: Decimal | None) -> float:
    return 0.0 if value is None else float(value)  # display


class _LabelGuard:
    """Bounds one label's distinct values (see the module docstring)."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self._limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: object) -> str:
        text = str(value)
        if text in self._seen:
            return text
        with self._lock:
            if text in secret_values():
                return REDACTED
            if len(text) > MAX_LABEL_LENGTH or len(self._seen) >= self._limit:
                return OTHER
            self._seen.add(text)
            return text


class _ChildCache:
    """Labelled children of one metric, made once per label tuple, guarded per label."""

    def __init__(self, metric: Counter | Gauge | Histogram, guards: tuple[_LabelGuard, ...]):
        self._metric = metric
        self._guards = guards
        self._children: dict[tuple[object, ...], object] = {}
        self._lock = threading.Lock()

    def get(self, *values: object):
        child = self._children.get(values)
        if child is None:
            with self._lock:
                child = self._children.get(values)
                if child is None:
                    safe = [guard(v) for guard, v in zip(self._guards, values, strict=True)]
                    child = self._metric.labels(*safe)
                    self._children[values] = child
        return child


class PairMetrics:
    """The per-symbol series of one pair.

    The tick path only stores Python objects: ``tick`` replaces one tuple (so a scrape always sees
    a consistent price/highest/stop), and a collector turns them into floats at scrape time.
    ``tick``, ``decision_latency`` and ``feed_tick`` cost well under a microsecond each. Call
    ``decision_latency`` from the pair's own actor thread only: its bucket counts have one writer.
    """

    __slots__ = ("symbol", "quote", "_metrics", "state", "realized_pnl", "is_up", "is_halted",
                 "is_unprotected", "is_estimate", "last_tick", "latency_counts", "latency_sum", "_stop_moves",
                 "_orders", "_order_keys", "_lock")

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
        self.last_tick = time.time()
        self.latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self._stop_moves = metrics.stop_moves.labels(symbol)
        self._orders: dict[tuple[str, str], Counter] = {}
        self._order_keys: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

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

    def stop_moved(self) -> None:
        self._stop_moves.inc()

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
            values = (_display(price), _display(highest), _display(stop),
                      _display_or_zero(qty), _display_or_zero(unrealized),
                      _display_or_zero(pm.realized_pnl), 1.0 if pm.is_up else 0.0,
                      1.0 if pm.is_halted else 0.0, pm.last_tick,
                      1.0 if pm.is_unprotected else 0.0, 1.0 if pm.is_estimate else 0.0)
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


class Metrics:
    """Every Ratchet metric, registered on ``registry`` (a new one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.port: int | None = None
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._pairs: dict[str, PairMetrics] = {}
        self._lock = threading.Lock()
        self._define()
        #: What ``/healthz`` answers; the CLI edge calls ``trading()`` and ``stopping()``.
        self.health = http_endpoint.EngineHealth(self.pairs)
        self._order_type = _LabelGuard(16)
        self._order_result = _LabelGuard(16)
        self._requests = _ChildCache(self.exchange_request_seconds, (_LabelGuard(),))
        self._errors = _ChildCache(self.exchange_errors, (_LabelGuard(),))
        self._restarts = _ChildCache(self.actor_restarts, (_LabelGuard(),))
        self._actions = _ChildCache(self.reconcile_actions, (_LabelGuard(),))
        for actor in RESTARTED_ACTORS:  # at 0 from the start, so increase() sees a first restart
            self._restarts.get(actor)
        self.build_info.info({"version": _version(), "python": sys.version.split()[0]})

    def _define(self) -> None:
        r = self.registry
        self._pair_collector = _PairCollector(self)
        r.register(self._pair_collector)
        self.stop_moves = Counter(PREFIX + "stop_moves", "Times the stop moved up.", ["symbol"],
                                  registry=r)
        self.orders = Counter(PREFIX + "orders", "Orders by symbol, type and result.",
                              ["symbol", "type", "result"], registry=r)
        self.exchange_errors = Counter(PREFIX + "exchange_errors",
                                       "Exchange errors by code (Binance or HTTP).", ["code"],
                                       registry=r)
        self.exchange_request_seconds = Histogram(
            PREFIX + "exchange_request_seconds", "Exchange request latency by endpoint.",
            ["endpoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.db_commit_seconds = Histogram(PREFIX + "db_commit_seconds",
                                           "Time to commit one DB group.",
                                           buckets=LATENCY_BUCKETS, registry=r)
        self.db_batch_size = Histogram(PREFIX + "db_batch_size", "Messages per DB commit group.",
                                       buckets=BATCH_BUCKETS, registry=r)
        self.db_queue = Gauge(PREFIX + "db_queue_depth", "Messages waiting for the DBWriter.",
                              registry=r)
        self.db_failures = Counter(PREFIX + "db_failures", "DB commit groups that failed.",
                                   registry=r)
        self.weight = Gauge(PREFIX + "exchange_weight_used",
                            "Request weight used in the current minute.", registry=r)
        self.unreadable = Counter(PREFIX + "user_stream_unreadable_events",
                                  "User-data events that could not be read (each caught up "
                                  "over REST at once).", registry=r)
        self.banned_flag = Gauge(PREFIX + "exchange_banned",
                                 "1 while the exchange bans us (418), else 0.", registry=r)
        self.actor_restarts = Counter(PREFIX + "actor_restarts", "Actor restarts by actor.",
                                      ["actor"], registry=r)
        self.reconcile_actions = Counter(PREFIX + "reconcile_actions",
                                         "Reconciliation actions by kind.", ["action"],
                                         registry=r)
        self.reconcile_duration = Gauge(PREFIX + "reconcile_duration_seconds",
                                        "Duration of the last reconciliation.", registry=r)
        self.reconcile_failures = Counter(PREFIX + "reconcile_failures",
                                          "Reconciliations that failed.", registry=r)
        self.build_info = Info(PREFIX + "build", "Ratchet build.", registry=r)
        # process_start_time_seconds, CPU, memory, open fds (Linux); the reconcile alert uses
        # the start time to catch a failure counted before the first scrape.
        ProcessCollector(registry=r)

    # --- per pair ------------------------------------------------------------------------

    def pair(self, symbol: str) -> PairMetrics:
        """The cached ``PairMetrics`` of ``symbol``; creating it exposes the pair's series."""
        pm = self._pairs.get(symbol)
        if pm is None:
            with self._lock:
                pm = self._pairs.get(symbol)
                if pm is None:
                    pm = self._pairs[symbol] = PairMetrics(self, symbol)
        return pm

    def pairs(self) -> list[PairMetrics]:
        """A snapshot of the pairs whose series are exposed."""
        with self._lock:
            return list(self._pairs.values())

    def remove_pair(self, symbol: str) -> None:
        """Drop every series labelled with ``symbol`` (the pair left the config)."""
        with self._lock:
            pm = self._pairs.pop(symbol, None)
            if pm is not None:
                self._pair_collector.retire(pm)
        if pm is not None:
            pm._remove()

    def halted(self, symbol: str, is_halted: bool) -> None:
        """A safety rule halted (or, on reload, released) the pair."""
        self.pair(symbol).halted(is_halted)

    def feed_tick(self, symbol: str) -> None:
        """The feed delivered a tick for ``symbol`` (for the stale-feed alert). Prefer the
        cached ``pair(symbol).feed_tick()`` on a hot path."""
        self.pair(symbol).feed_tick()

    # --- engine --------------------------------------------------------------------------

    def exchange_request(self, endpoint: str, seconds: float) -> None:
        """One exchange call; ``endpoint`` is a route name such as ``order``, never a URL."""
        self._requests.get(endpoint).observe(seconds)

    def exchange_error(self, code: str | int) -> None:
        self._errors.get(str(code)).inc()

    def weight_used(self, n: int) -> None:
        self.weight.set(n)

    def unreadable_event(self) -> None:
        self.unreadable.inc()

    def banned(self, is_banned: bool) -> None:
        self.banned_flag.set(1 if is_banned else 0)

    def db_commit(self, seconds: float, batch_size: int) -> None:
        self.db_commit_seconds.observe(seconds)
        self.db_batch_size.observe(batch_size)

    def db_queue_depth(self, n: int) -> None:
        self.db_queue.set(n)

    def db_failure(self) -> None:
        self.db_failures.inc()

    def actor_restart(self, actor: str) -> None:
        """``actor`` is a kind or a pair actor name (``pair:BTCUSDT``), never an actor urn."""
        self._restarts.get(actor).inc()

    def reconcile(self, actions: Mapping[str, int], duration_s: float) -> None:
        """Count one reconciliation's actions by kind and record its duration. A kind given
        with a zero count is exposed at 0, so the first real one shows in ``increase()``."""
        for action, count in actions.items():
            child = self._actions.get(action)
            if count:
                child.inc(count)
        self.reconcile_duration.set(duration_s)

    def reconcile_failed(self) -> None:
        self.reconcile_failures.inc()

    # --- exposition ----------------------------------------------------------------------

    def render(self) -> bytes:
        """The text exposition format, as served on ``/metrics``."""
        return generate_latest(self.registry)

    def serve(self, host: str, port: int) -> None:
        """Serve ``/metrics`` and ``/healthz`` (telemetry/endpoint.py) on ``host:port`` in a
        daemon thread; port 0 picks a free port, then readable as ``self.port``."""
        if self._server is not None:
            raise RuntimeError(f"metrics already served on port {self.port}")
        app = http_endpoint.app(self.registry, self.health)
        self._server, self._thread = http_endpoint.serve(host, port, app)
        self.port = self._server.server_port

    def stop(self) -> None:
        """Stop serving; safe to call when not serving."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)


def _version() -> str:
    try:
        return metadata.version("ratchet")
    except metadata.PackageNotFoundError:
        return "unknown"
