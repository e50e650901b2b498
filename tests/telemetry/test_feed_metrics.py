"""The market-data edge's ``ratchet_feed_*`` series and what ``/healthz`` says about a stale
connection."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from telemetry.feed_metrics import MAX_CONNECTIONS, RECONNECT_CAUSES
from telemetry.metrics import Metrics


def value(metrics: Metrics, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    raise KeyError(f"{name}{labels} not exposed")


def test_one_read_counts_its_messages_merges_deliveries_and_lag():
    metrics = Metrics()
    connection = metrics.feed.connection("0")

    connection.batch(received=500, trades=498, delivered=40, lag_s=0.004)
    connection.batch(received=10, trades=10, delivered=10, lag_s=None)

    assert value(metrics, "ratchet_feed_messages_received_total", connection="0") == 510
    assert value(metrics, "ratchet_feed_messages_merged_total", connection="0") == 458
    assert value(metrics, "ratchet_feed_deliveries_total", connection="0") == 50
    assert value(metrics, "ratchet_feed_lag_seconds_count", connection="0") == 1
    assert value(metrics, "ratchet_feed_lag_seconds_bucket", connection="0", le="0.0025") == 0
    assert value(metrics, "ratchet_feed_lag_seconds_bucket", connection="0", le="0.005") == 1


def test_every_reconnect_cause_is_exposed_at_zero_once_the_connection_exists():
    metrics = Metrics()
    connection = metrics.feed.connection("1")

    connection.reconnect("stale")
    connection.reconnect("something new")

    counts = {cause: value(metrics, "ratchet_feed_reconnects_total", connection="1",
                           cause=cause) for cause in RECONNECT_CAUSES}
    assert counts == {c: (1 if c in ("stale", "error") else 0) for c in RECONNECT_CAUSES}


def test_rest_polls_are_exposed_at_zero_before_the_first():
    metrics = Metrics()
    zero = (value(metrics, "ratchet_feed_rest_polls_total", result="ok"),
            value(metrics, "ratchet_feed_rest_polls_total", result="failed"))

    metrics.feed.rest_poll(True, 3)
    metrics.feed.rest_poll(False, 0)

    assert zero == (0, 0)
    assert value(metrics, "ratchet_feed_rest_polls_total", result="ok") == 1
    assert value(metrics, "ratchet_feed_rest_polls_total", result="failed") == 1
    assert value(metrics, "ratchet_feed_rest_prices_total") == 3


def test_connection_labels_stay_bounded():
    metrics = Metrics()

    for n in range(MAX_CONNECTIONS + 5):
        metrics.feed.connection(str(n)).up(True)

    labels = {c.label for c in metrics.feed.connections()}
    assert len(labels) == MAX_CONNECTIONS + 1 and "other" in labels


@pytest.fixture
def trading():
    metrics = Metrics()
    for symbol in ("AAAUSDT", "BBBUSDT"):
        metrics.pair(symbol).up(True)
    metrics.health.trading()
    return metrics


def test_a_stale_connection_makes_healthz_unhealthy_until_it_streams_again(trading):
    metrics = trading

    metrics.feed.stale("1", True, 1024)
    metrics.feed.stale("0", True, 476)
    stale = metrics.health.check()
    gauge = value(metrics, "ratchet_feed_stale", connection="1")
    metrics.feed.stale("1", False)
    metrics.feed.stale("0", False)

    assert stale == (False, "degraded: market data stale on connection(s) 0 (476 symbols), "
                            "1 (1024 symbols), prices by REST meanwhile")
    assert gauge == 1
    assert value(metrics, "ratchet_feed_stale", connection="1") == 0
    assert metrics.health.check() == (True, "ok: reconciled, 2 pair(s) trading")


def test_a_pair_down_is_reported_before_a_stale_feed(trading):
    metrics = trading
    metrics.feed.stale("0", True, 2)

    metrics.pair("BBBUSDT").up(False)

    assert metrics.health.check() == (False, "degraded: 1 pair(s) not trading: BBBUSDT")
