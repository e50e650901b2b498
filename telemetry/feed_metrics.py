"""The market-data edge's series (``exchange.binance.market_data``), all ``ratchet_feed_*``.

A connection reports once per socket read, never per message: ``ConnectionMetrics.batch``
adds to plain integers under a lock, and a collector turns them into samples at scrape time.
``connection`` is the edge's label of a connection ("0", "1", ...: one per 1,024 streams);
a successor after ``serverShutdown`` keeps its predecessor's label.

- ``ratchet_feed_messages_received_total{connection}``: messages read from the socket;
- ``ratchet_feed_messages_merged_total{connection}``: trades folded into a slot that already
  held prices since the consumer's last take (conflated: the consumer lags);
- ``ratchet_feed_deliveries_total{connection}``: trades that found their slot empty (one
  ``PriceReady`` each);
- ``ratchet_feed_lag_seconds{connection}``: a histogram of the trade time of each read's last
  trade to the moment it was folded (includes the clock offset to the venue);
- ``ratchet_feed_reconnects_total{connection, cause}``: ``refused``, ``closed``, ``network``,
  ``protocol``, ``stale``, ``server_shutdown`` (a make-before-break switch), ``error``; each
  cause at 0 from the connection's start, so ``increase()`` sees the first;
- ``ratchet_feed_connection_up{connection}``: 1 while the socket is open;
- ``ratchet_feed_stale{connection}``: 1 while the connection has been silent for
  ``[feed] feed_stale_s`` (prices come by REST meanwhile; ``/healthz`` answers 503);
- ``ratchet_feed_rest_polls_total{result}`` (``ok``, ``failed``) and
  ``ratchet_feed_rest_prices_total``: the REST fallback.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

from telemetry.pair_metrics import LATENCY_BUCKETS, PREFIX

FEED = PREFIX + "feed_"
RECONNECT_CAUSES = ("refused", "closed", "network", "protocol", "stale", "server_shutdown",
                    "error")
MAX_CONNECTIONS = 64  # labels beyond this fold into "other" (64 x 1,024 streams)


class ConnectionMetrics:
    """One connection label's counts."""

    __slots__ = ("label", "received", "merged", "delivered", "lag_counts", "lag_sum",
                 "reconnects", "is_up", "is_stale", "_lock")

    def __init__(self, label: str) -> None:
        self.label = label
        self.received = self.merged = self.delivered = 0
        self.lag_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.lag_sum = 0.0
        self.reconnects = dict.fromkeys(RECONNECT_CAUSES, 0)
        self.is_up = False
        self.is_stale = False
        self._lock = threading.Lock()

    def batch(self, received: int, trades: int, delivered: int, lag_s: float | None) -> None:
        """One socket read: ``received`` messages, ``trades`` of them folded into slots,
        ``delivered`` of those into an empty slot; ``lag_s`` of the read's last trade."""
        with self._lock:
            self.received += received
            self.merged += trades - delivered
            self.delivered += delivered
            if lag_s is not None:
                self.lag_counts[bisect_left(LATENCY_BUCKETS, lag_s)] += 1
                self.lag_sum += lag_s

    def reconnect(self, cause: str) -> None:
        with self._lock:
            key = cause if cause in self.reconnects else "error"
            self.reconnects[key] += 1

    def up(self, is_up: bool) -> None:
        self.is_up = is_up


class FeedMetrics:
    """The edge's metrics on ``registry``; ``stale_connections()`` feeds ``/healthz``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._connections: dict[str, ConnectionMetrics] = {}
        self._stale_symbols: dict[str, int] = {}
        self._lock = threading.Lock()
        self.rest_ok = self.rest_failed = self.rest_prices = 0
        registry.register(_FeedCollector(self))

    def connection(self, label: str) -> ConnectionMetrics:
        found = self._connections.get(label)
        if found is None:
            with self._lock:
                if label not in self._connections and len(self._connections) >= MAX_CONNECTIONS:
                    label = "other"
                found = self._connections.setdefault(label, ConnectionMetrics(label))
        return found

    def connections(self) -> list[ConnectionMetrics]:
        with self._lock:
            return list(self._connections.values())

    def stale(self, label: str, is_stale: bool, symbols: int = 0) -> None:
        """The connection ``label`` (carrying ``symbols`` symbols) went stale or streams
        again."""
        self.connection(label).is_stale = is_stale
        with self._lock:
            if is_stale:
                self._stale_symbols[label] = symbols
            else:
                self._stale_symbols.pop(label, None)

    def stale_connections(self) -> list[tuple[str, int]]:
        """(label, symbols) of every stale connection, in label order."""
        with self._lock:
            return sorted(self._stale_symbols.items())

    def rest_poll(self, ok: bool, prices: int) -> None:
        with self._lock:
            if ok:
                self.rest_ok += 1
            else:
                self.rest_failed += 1
            self.rest_prices += prices


class _FeedCollector:
    def __init__(self, feed: FeedMetrics) -> None:
        self._feed = feed

    def describe(self) -> list:
        return self._families()

    def _families(self) -> list:
        label = ["connection"]
        return [
            CounterMetricFamily(FEED + "messages_received", "Messages read from the market "
                                "streams.", labels=label),
            CounterMetricFamily(FEED + "messages_merged", "Trades folded into a slot that "
                                "already held prices (the consumer lags).", labels=label),
            CounterMetricFamily(FEED + "deliveries", "Trades that found their slot empty "
                                "(one PriceReady each).", labels=label),
            HistogramMetricFamily(FEED + "lag_seconds", "Trade time to the moment the edge "
                                  "folded it, per socket read.", labels=label),
            CounterMetricFamily(FEED + "reconnects", "Market-stream reconnects by cause.",
                                labels=["connection", "cause"]),
            GaugeMetricFamily(FEED + "connection_up", "1 while the market-stream connection "
                              "is open.", labels=label),
            GaugeMetricFamily(FEED + "stale", "1 while the connection has been silent for "
                              "feed_stale_s (prices by REST meanwhile).", labels=label),
            CounterMetricFamily(FEED + "rest_polls", "REST price reads while a connection is "
                                "stale, by result.", labels=["result"]),
            CounterMetricFamily(FEED + "rest_prices", "Prices read over REST into the "
                                "slots."),
        ]

    def collect(self) -> list:
        families = self._families()
        received, merged, delivered, lag, reconnects, up, stale, polls, prices = families
        feed = self._feed
        for c in feed.connections():
            with c._lock:
                counts, total = list(c.lag_counts), c.lag_sum
                causes = dict(c.reconnects)
                figures = (c.received, c.merged, c.delivered)
            received.add_metric([c.label], figures[0])
            merged.add_metric([c.label], figures[1])
            delivered.add_metric([c.label], figures[2])
            cumulative, buckets = 0, []
            for bound, count in zip((*LATENCY_BUCKETS, math.inf), counts, strict=True):
                cumulative += count
                buckets.append((floatToGoString(bound), cumulative))
            lag.add_metric([c.label], buckets, total)
            for cause, count in causes.items():
                reconnects.add_metric([c.label, cause], count)
            up.add_metric([c.label], 1.0 if c.is_up else 0.0)
            stale.add_metric([c.label], 1.0 if c.is_stale else 0.0)
        polls.add_metric(["ok"], feed.rest_ok)
        polls.add_metric(["failed"], feed.rest_failed)
        prices.add_metric([], feed.rest_prices)
        return families
