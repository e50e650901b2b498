"""The market-data edge against a small market-stream server (``market_server``): trades into
their slots as the venue's exact Decimals, streams split across connections of at most
``max_streams``, subscriptions paced under Binance's 5 messages a second, reloads, and the
switch to a new connection on ``serverShutdown`` with no gap."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from actors.conflation import TickSlot
from exchange.binance.market_connection import ControlPacer
from exchange.binance.market_data import MarketDataEdge
from tests.exchange.binance.market_server import MarketServer
from tests.integration.engine import wait_for

D = Decimal


class Sink:
    """The Feed's side, by hand: real slots, and what the edge told."""

    def __init__(self, symbols) -> None:
        self.slots = {s.encode(): TickSlot(s) for s in symbols}
        self.told: list[bytes] = []
        self.seen_symbols: set[bytes] = set()

    def ready(self, symbols) -> None:
        self.told.extend(symbols)

    def seen(self, symbols) -> None:
        self.seen_symbols.update(symbols)

    def take(self, symbol: str):
        return self.slots[symbol.encode()].take()


class Recorder:
    """A slot that keeps every price it was given, in order."""

    def __init__(self) -> None:
        self.prices: list[bytes] = []

    def put_text(self, price: bytes, ms: bytes, received_ns: int) -> bool:
        self.prices.append(price)
        return False


@pytest.fixture
def server():
    server = MarketServer()
    yield server
    server.stop()


@pytest.fixture
def edges():
    made: list[MarketDataEdge] = []
    yield made
    for edge in made:
        edge.stop()


def start_edge(edges, server, sink, symbols, **kwargs) -> MarketDataEdge:
    edge = MarketDataEdge(sink, stream_url=server.url, **kwargs)
    edge.set_symbols(symbols)
    edge.start()
    edges.append(edge)
    return edge


def all_ready(edge: MarketDataEdge) -> bool:
    return all(c.ready for c in edge.connections)


def test_trades_reach_their_slots_as_the_venues_exact_decimals(server, edges):
    sink = Sink(["BTCUSDT", "ETHUSDT"])
    edge = start_edge(edges, server, sink, ["BTCUSDT", "ETHUSDT"])
    wait_for(lambda: all_ready(edge), timeout=10, what="the edge subscribed")

    server.trade("BTCUSDT", "50123.45000000", ms=1_700_000_000_123)
    server.trade("BTCUSDT", "50200.10000000")
    server.trade("BTCUSDT", "50100.00000000")
    server.trade("ETHUSDT", "0.00000001")
    wait_for(lambda: len(sink.told) == 2, timeout=10, what="one delivery per symbol")
    btc = wait_for(lambda: (t := sink.take("BTCUSDT")) and t.count == 3 and t, timeout=10,
                   what="the three BTC trades in one tick")
    eth = sink.take("ETHUSDT")

    assert (btc.high, btc.low, btc.price) == (D("50200.1"), D("50100"), D("50100"))
    assert str(btc.high) == "50200.10000000"  # the venue's string, digit for digit
    assert eth.price.as_tuple() == D("0.00000001").as_tuple()
    assert sorted(sink.told) == [b"BTCUSDT", b"ETHUSDT"]


def test_streams_are_split_across_connections_of_at_most_max_streams(server, edges):
    symbols = [f"S{i}USDT" for i in range(5)]
    sink = Sink(symbols)
    edge = start_edge(edges, server, sink, symbols, max_streams=2)
    wait_for(lambda: all_ready(edge), timeout=10, what="the edge subscribed")

    for i, symbol in enumerate(symbols):
        server.trade(symbol, f"{100 + i}.5")
    wait_for(lambda: len(sink.told) == 5, timeout=10, what="a trade of every symbol")

    assert len(edge.connections) == 3
    assert sorted(len(c.streams) for c in server.open_connections()) == [1, 2, 2]
    assert server.subscribed() == {f"s{i}usdt@aggTrade" for i in range(5)}
    assert [sink.take(s).price for s in symbols] == [D(f"{100 + i}.5") for i in range(5)]


def test_a_full_connection_subscribes_within_five_messages_a_second(server, edges):
    symbols = [f"T{i:04d}USDT" for i in range(1024)]
    sink = Sink(symbols)
    began = time.monotonic()
    edge = start_edge(edges, server, sink, symbols)
    wait_for(lambda: all_ready(edge), timeout=20, what="1,024 streams subscribed")
    took = time.monotonic() - began

    (conn,) = server.connections  # the server closes one that sends more than 5 a second
    assert conn.closed_by == "" and len(conn.streams) == 1024
    assert len(conn.controls) == 5  # 200 streams in the URL, then 4 x 200 and 1 x 24
    assert took > 1.0  # the fifth waited for the first second to pass


def test_the_pacer_lets_at_most_four_messages_into_any_second():
    pacer = ControlPacer(per_s=4)
    sent: list[float] = []
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        if pacer.take():
            sent.append(time.monotonic())
        time.sleep(0.01)

    busiest = max(sum(1 for t in sent if s <= t < s + 1.0) for s in sent)
    assert busiest == 4
    assert len(sent) >= 9


def test_a_reload_subscribes_the_new_symbols_and_unsubscribes_the_gone(server, edges):
    sink = Sink(["AAAUSDT", "BBBUSDT", "CCCUSDT"])
    edge = start_edge(edges, server, sink, ["AAAUSDT", "BBBUSDT"], max_streams=2)
    wait_for(lambda: all_ready(edge) and server.connections, timeout=10,
             what="the edge subscribed")
    first = list(server.open_connections())

    edge.set_symbols(["BBBUSDT", "CCCUSDT"])
    wait_for(lambda: server.subscribed() == {"bbbusdt@aggTrade", "cccusdt@aggTrade"},
             timeout=10, what="the reload applied")
    server.trade("CCCUSDT", "7.25")
    wait_for(lambda: sink.told == [b"CCCUSDT"], timeout=10, what="the new symbol's trade")

    assert server.open_connections() == first  # same connection, no reconnect
    assert sink.take("CCCUSDT").price == D("7.25")


def test_server_shutdown_switches_to_a_new_connection_before_the_cut_without_a_gap(
        server, edges):
    recorder = Recorder()
    sink = Sink([])
    sink.slots = {b"BTCUSDT": recorder}
    edge = start_edge(edges, server, sink, ["BTCUSDT"])
    wait_for(lambda: all_ready(edge) and server.connections, timeout=10,
             what="the edge subscribed")
    (old,) = server.connections

    sent = [f"{100 + n}.{n:02d}" for n in range(60)]
    for n, price in enumerate(sent):
        server.trade("BTCUSDT", price)
        if n == 20:
            server.server_shutdown(old)
        time.sleep(0.01)
    wait_for(lambda: old.closed_by, timeout=10, what="the old connection closed")
    server.trade("BTCUSDT", "999.99")
    wait_for(lambda: recorder.prices[-1:] == [b"999.99"], timeout=10,
             what="a trade on the new connection")

    new = server.connections[1]
    assert old.closed_by == "client"  # closed by the edge, not cut by the server
    assert len(server.connections) == 2 and new.closed_by == ""
    got = [p.decode() for p in recorder.prices]
    assert [p for p in sent if p not in got] == []  # every trade arrived, some twice
