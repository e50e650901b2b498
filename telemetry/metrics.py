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

import sys
import threading
from collections.abc import Mapping
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

from core import __version__
from telemetry import endpoint as http_endpoint
from telemetry.feed_metrics import FeedMetrics
from telemetry.labels import (  # noqa: F401 - part of this module's API
    MAX_LABEL_LENGTH,
    MAX_LABEL_VALUES,
    OTHER,
    REDACTED,
    ChildCache,
    LabelGuard,
)
from telemetry.pair_metrics import (  # noqa: F401 - part of this module's API
    LATENCY_BUCKETS,
    PREFIX,
    PairMetrics,
    _PairCollector,
)

#: Rows per DB commit group; the DBWriter caps a group at about 1,000.
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
# Seconds a protective order waits for the ORDERS window: 0 when the budget allows, up to a
# window (10 s) and more under a ban.
PROTECTION_BUCKETS = (0.001, 0.01, 0.1, 0.5, 1, 2, 5, 10, 20, 60, 120)

#: Actor kinds the Supervisor restarts (``actor_restarts_total{actor}``), exposed at 0 from boot.
RESTARTED_ACTORS = ("pair", "gateway")



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
        #: The market-data edge's series (``telemetry.feed_metrics``).
        self.feed = FeedMetrics(self.registry)
        #: What ``/healthz`` answers; the CLI edge calls ``trading()`` and ``stopping()``.
        self.health = http_endpoint.EngineHealth(self.pairs, self.feed.stale_connections)
        #: Which engine this is (``/status``); the CLI edge sets it before serving.
        self.identity: http_endpoint.EngineIdentity | None = None
        self._order_type = LabelGuard(16)
        self._order_result = LabelGuard(16)
        self._requests = ChildCache(self.exchange_request_seconds, (LabelGuard(),))
        self._errors = ChildCache(self.exchange_errors, (LabelGuard(),))
        self._restarts = ChildCache(self.actor_restarts, (LabelGuard(),))
        self._actions = ChildCache(self.reconcile_actions, (LabelGuard(),))
        for actor in RESTARTED_ACTORS:  # at 0 from the start, so increase() sees a first restart
            self._restarts.get(actor)
        self.build_info.info({"version": __version__, "python": sys.version.split()[0]})

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
        self.protection_wait_seconds = Histogram(
            PREFIX + "protection_wait_seconds",
            "How long a protective order (a stop for held coins, an exit) waited in the "
            "Gateway for the order budget.", buckets=PROTECTION_BUCKETS, registry=r)
        self.missed = Counter(PREFIX + "stream_missed_events",
                              "Order changes the user-data stream did not report, found by the "
                              "REST audit of the open orders.", registry=r)
        self.stream_stale = Gauge(PREFIX + "user_stream_stale",
                                  "1 while the user-data stream is judged silent (orders "
                                  "changed without a word from it), else 0.", registry=r)
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

    def protection_wait(self, seconds: float) -> None:
        self.protection_wait_seconds.observe(seconds)

    def missed_events(self, n: int) -> None:
        self.missed.inc(n)

    def user_stream_stale(self, stale: bool) -> None:
        self.stream_stale.set(1 if stale else 0)
        self.health.concern("user_stream", "the user-data stream is silent (orders changed "
                            "without a word from it): reconnecting, REST audits meanwhile"
                            if stale else None)

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
        app = http_endpoint.app(self.registry, self.health, lambda: self.identity)
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


