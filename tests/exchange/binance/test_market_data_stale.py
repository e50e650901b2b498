"""A stalled market stream (issue 25): a TCP proxy between the edge and the sim holds the
connection open but silent. The edge notices within ``feed_stale_s`` (plus a margin), says
so in ``ratchet_feed_stale`` and on ``/healthz``, keeps the slot filled with REST prices
meanwhile, and heals when the proxy passes traffic again."""

from __future__ import annotations

import urllib.error
import urllib.request
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exchange.binance.market_data import MarketDataEdge
from telemetry.metrics import Metrics
from tests.exchange.binance.tcp_proxy import Proxy
from tests.exchange.binance.test_market_data_edge import Sink
from tests.integration.engine import wait_for

STALE_S = 1.0
MARGIN_S = 4.0
SYMBOLS = ("BTCUSDT", "ETHUSDT")


def healthz(metrics: Metrics) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics.port}/healthz",
                                    timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    raise KeyError(name)


def price_in_slot(sink: Sink, symbol: str, price: str) -> bool:
    tick = sink.take(symbol)
    return tick is not None and tick.price == Decimal(price)


@pytest.fixture
def rig(sim):
    proxy = Proxy(sim.port)
    exchange = sim.exchange(symbols=SYMBOLS)
    metrics = Metrics()
    metrics.serve("127.0.0.1", 0)
    for symbol in SYMBOLS:
        metrics.pair(symbol).up(True)
    metrics.health.trading()
    sink = Sink(SYMBOLS)
    edge = MarketDataEdge(sink, stream_url=proxy.url, stale_s=STALE_S,
                          rest_prices=exchange.last_prices, metrics=metrics.feed)
    edge.set_symbols(SYMBOLS)
    edge.start()
    yield sim, proxy, metrics, sink, edge
    edge.stop()
    metrics.stop()
    exchange.close()
    proxy.close()
    for symbol, price in (("BTCUSDT", "50000"), ("ETHUSDT", "3000")):
        sim.price(symbol, price)


def test_a_silent_stream_is_noticed_polled_over_rest_and_healed(rig):
    sim, proxy, metrics, sink, edge = rig
    wait_for(lambda: all(c.ready for c in edge.connections), timeout=10, what="subscribed")
    sim.price("BTCUSDT", "50001.5")
    wait_for(lambda: price_in_slot(sink, "BTCUSDT", "50001.5"), timeout=10,
             what="a trade through the proxy")
    healthy_before = healthz(metrics)

    proxy.hold()
    wait_for(lambda: sample(metrics, "ratchet_feed_stale", connection="0") == 1,
             timeout=STALE_S + MARGIN_S, what="the connection marked stale")
    stale_health = healthz(metrics)
    sim.price("BTCUSDT", "50500.25")  # no trade can pass: it comes by REST
    wait_for(lambda: price_in_slot(sink, "BTCUSDT", "50500.25"), timeout=10,
             what="the REST price in the slot")
    polls_while_stale = sample(metrics, "ratchet_feed_rest_polls_total", result="ok")

    proxy.release()
    wait_for(lambda: sample(metrics, "ratchet_feed_stale", connection="0") == 0
             and all(c.ready for c in edge.connections), timeout=30, what="healed")
    sim.price("ETHUSDT", "3001.75")
    wait_for(lambda: price_in_slot(sink, "ETHUSDT", "3001.75"), timeout=10,
             what="a trade through the proxy again")
    polls_healed = sample(metrics, "ratchet_feed_rest_polls_total", result="ok")
    sim.price("ETHUSDT", "3002.25")
    wait_for(lambda: price_in_slot(sink, "ETHUSDT", "3002.25"), timeout=10,
             what="another trade through the proxy")

    assert healthy_before[0] == 200
    assert stale_health[0] == 503
    assert stale_health[1] == ("degraded: market data stale on connection(s) 0 (2 symbols), "
                               "prices by REST meanwhile\n")
    assert polls_while_stale >= 1
    assert sample(metrics, "ratchet_feed_rest_polls_total", result="ok") == polls_healed
    assert sample(metrics, "ratchet_feed_reconnects_total", connection="0", cause="stale") >= 1
    assert healthz(metrics)[0] == 200
