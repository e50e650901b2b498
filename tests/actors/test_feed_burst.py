"""The binance Feed end to end, at the actors' level: a market-stream server, the edge, the
StreamFeed and a pair that is slow to take. A burst far larger than any queue on the way
(python-binance's 100 messages, the ``websockets`` client's 16 frames, the sim's 50,000)
costs merging in the pair's slot: no reconnect, and the burst's highest price reaches the
pair."""

from __future__ import annotations

import time
from decimal import Decimal

import pykka
import pytest

from actors.conflation import TickSlot
from actors.feed import SetTarget, StreamFeed, Target
from actors.messages import PriceReady
from exchange.binance.market_data import MarketDataEdge
from telemetry.metrics import Metrics
from tests.exchange.binance.market_server import MarketServer
from tests.integration.engine import wait_for

BURST = 60_000


class SlowPair(pykka.ThreadingActor):
    """Takes its slot on each PriceReady, then dawdles: a consumer far behind the feed."""

    def __init__(self, slot: TickSlot, dawdle_s: float) -> None:
        super().__init__()
        self.slot = slot
        self.dawdle_s = dawdle_s
        self.highest: Decimal | None = None
        self.lowest: Decimal | None = None
        self.trades = 0
        self.deliveries = 0

    def on_receive(self, message):
        if isinstance(message, PriceReady):
            tick = self.slot.take()
            if tick is None:
                return None
            self.deliveries += 1
            self.trades += tick.count
            self.highest = tick.high if self.highest is None else max(self.highest, tick.high)
            self.lowest = tick.low if self.lowest is None else min(self.lowest, tick.low)
            time.sleep(self.dawdle_s)
        return None

    def seen(self) -> tuple:
        return self.trades, self.deliveries, self.highest, self.lowest


@pytest.fixture
def server():
    server = MarketServer()
    yield server
    server.stop()


@pytest.fixture
def feed(server):
    metrics = Metrics()
    slots = {s: TickSlot(s) for s in ("BTCUSDT", "ETHUSDT")}
    pairs = {s: SlowPair.start(slot, 0.2) for s, slot in slots.items()}
    source = lambda sink, feed_metrics: MarketDataEdge(  # noqa: E731
        sink, stream_url=server.url, metrics=feed_metrics)
    ref = StreamFeed.start(targets={s: Target(slot=slots[s], consumer=pairs[s])
                                    for s in slots}, source=source, metrics=metrics)
    yield ref, pairs, metrics, slots
    ref.stop()
    for pair in pairs.values():
        pair.stop()


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    raise KeyError(name)


def test_a_burst_larger_than_any_queue_merges_without_a_reconnect_and_keeps_its_high(
        server, feed):
    _, pairs, metrics, _ = feed
    wait_for(lambda: len(server.subscribed()) == 2, timeout=10, what="both streams")
    prices = [f"{100 + (n % 997) / 100:.2f}" for n in range(BURST)]
    prices[BURST // 2] = "250.01"  # the burst's high, in its middle
    prices[BURST // 3] = "0.5"  # and its low
    trades = [("BTCUSDT" if n % 2 else "ETHUSDT", p, None) for n, p in enumerate(prices)]

    sent = server.burst(trades)
    wait_for(lambda: sum(p.proxy().seen().get()[0] for p in pairs.values()) == BURST,
             timeout=120, what="every trade folded and taken")

    btc, eth = (pairs[s].proxy().seen().get() for s in ("BTCUSDT", "ETHUSDT"))
    assert sent == BURST and len(server.connections) == 1
    assert server.connections[0].closed_by == ""
    assert sample(metrics, "ratchet_feed_reconnects_total", connection="0",
                  cause="closed") == 0
    assert sample(metrics, "ratchet_feed_messages_received_total", connection="0") == BURST
    assert max(btc[2], eth[2]) == Decimal("250.01")
    assert min(btc[3], eth[3]) == Decimal("0.5")
    assert btc[1] + eth[1] < BURST / 10  # the slow pairs took merged ticks


def test_a_pair_added_by_a_reload_gets_its_trades_on_the_same_connection(server, feed):
    ref, pairs, _, _ = feed
    wait_for(lambda: len(server.subscribed()) == 2, timeout=10, what="both streams")
    slot = TickSlot("SOLUSDT")
    sol = SlowPair.start(slot, 0)
    try:
        ref.tell(SetTarget(symbol="SOLUSDT", target=Target(slot=slot, consumer=sol)))
        wait_for(lambda: "solusdt@aggTrade" in server.subscribed(), timeout=10,
                 what="the new stream")
        server.trade("SOLUSDT", "21.5")
        wait_for(lambda: sol.proxy().seen().get()[0] == 1, timeout=10, what="SOL's trade")
        highest = sol.proxy().seen().get()[2]
    finally:
        sol.stop()

    assert highest == Decimal("21.5")
    assert len(server.connections) == 1
