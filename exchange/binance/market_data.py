"""The market-data edge: Binance trade streams into the pairs' conflating slots.

``MarketDataEdge`` keeps every symbol streaming on connections of at most ``max_streams``
streams (Binance: 1024), one thread each (``market_connection``), and folds every trade into
its symbol's slot the moment it is read (``actors.conflation.TickSlot.put_text``). A slow
consumer costs merging in its slot, never a full queue or a dropped connection: nothing queues
between the socket and the slot. Per message there is no Decimal, no log line and no metric
update; the Decimal is made once per delivery, from the venue's own string.

**What reads the sockets.** Not python-binance (it keeps REST and the user-data stream): its
``ReconnectingWebsocket`` parses every message into a dict, formats a debug line for it, and
queues it in an ``asyncio.Queue`` that, past 100 messages, drops the connection. Raising that
limit and draining the queue from a dedicated task leaves the per-message cost, several times
a bare reader's. The edge reads each connection itself (``ws_client``: ``websockets`` for the
handshake and what it sends, its own decoder for the frames it receives) and parses only the
symbol, price and time (``trade_parse``). ``make bench`` prints the four readers side by side
(``feed`` lines ``reader_*``) and ``docs/performance-feed.md`` quotes them.

**Which stream.** ``aggTrade``: one message per taker order and price, where ``trade`` sends
one per fill. Every traded price still arrives (an aggregate has one price), so highs and lows
stay exact with fewer messages; the parse is the same. ``kline_1s`` would cap the rate at one
message per symbol a second, exact highs and lows included, but adds up to a second before a
stop sees a price, and the sim does not serve it.

**When a connection goes quiet** (no frame, not even a pong, for ``stale_s``: ``[feed]
feed_stale_s``), it reconnects with backoff, and meanwhile the edge asks ``rest_prices`` (the
venue's ``ticker/price``: one all-symbol request, weight 4) for the prices of every stale
connection's symbols, about once every ``REST_EVERY_S``, and puts them into the same slots, so
stops keep trailing and stop-fill timeouts keep firing. REST prices carry no high or low
between two polls. ``metrics.stale(label, flag)`` drives ``ratchet_feed_stale`` and
``/healthz``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from exchange.binance.market_connection import (
    MarketConnection,
    NoMetrics,
    Sink,
    Wiring,
    close_all,
)

log = logging.getLogger("ratchet.binance.market_data")

MAX_STREAMS = 1024
DEFAULT_KIND = "aggTrade"
STALE_S = 10.0
REST_EVERY_S = 1.0
MONITOR_S = 0.2
BINANCE_STREAMS = "wss://stream.binance.com:9443/"
TESTNET_STREAMS = "wss://stream.testnet.binance.vision/"

#: The venue's last prices of some symbols (``BinanceExchange.last_prices``).
RestPrices = Callable[[Sequence[str]], Mapping[str, Decimal]]


def stream_url_for(base_url: str | None) -> str | None:
    """The market-stream root beside a REST base URL (``http://h:p`` → ``ws://h:p/``);
    ``None`` for Binance's own hosts (and no base URL): then the edge uses Binance's."""
    if not base_url:
        return None
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if host.endswith((".binance.com", ".binance.vision", ".binance.us")):
        return None
    return f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}/"


def stream_names(symbols: Sequence[str], kind: str = DEFAULT_KIND) -> list[str]:
    """Binance stream names: lower-case symbol, ``@``, stream kind."""
    return [f"{s.lower()}@{kind}" for s in symbols]


class _NoFeedMetrics:
    def connection(self, label: str) -> NoMetrics:
        return NoMetrics()

    def stale(self, label: str, is_stale: bool, symbols: int = 0) -> None:
        pass

    def rest_poll(self, ok: bool, prices: int) -> None:
        pass


class MarketDataEdge:
    """``set_symbols``, then ``start()``; ``set_symbols`` again at any time; ``stop()``.

    ``sink`` holds the slots (``market_connection.Sink``); ``stream_url`` is the stream root
    (``ws://127.0.0.1:PORT/`` for the sim; None: Binance's, or its testnet's);
    ``rest_prices`` is polled while a connection is stale (None: no fallback); ``metrics`` is
    a ``telemetry.feed_metrics.FeedMetrics`` or None.
    """

    def __init__(self, sink: Sink, *, stream_url: str | None, testnet: bool = False,
                 kind: str = DEFAULT_KIND, stale_s: float = STALE_S,
                 rest_prices: RestPrices | None = None, metrics: Any = None,
                 max_streams: int = MAX_STREAMS) -> None:
        if not 1 <= max_streams <= MAX_STREAMS:
            raise ValueError(f"max_streams must be 1 to {MAX_STREAMS} (got {max_streams})")
        root = stream_url or (TESTNET_STREAMS if testnet else BINANCE_STREAMS)
        self.sink = sink
        self.max_streams = max_streams
        self.rest_prices = rest_prices
        self.metrics = metrics if metrics is not None else _NoFeedMetrics()
        self.wiring = Wiring(root=root.rstrip("/") + "/", kind=kind, sink=sink,
                             stale_s=stale_s, on_notice=self._on_notice,
                             metrics_for=self.metrics.connection)
        self.symbols: frozenset[str] = frozenset()
        self._connections: list[MarketConnection] = []  # one per label, the newest
        self._running: list[MarketConnection] = []  # every thread started, predecessors too
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._started = False
        self._stale: dict[str, bool] = {}
        self._stale_now: list[str] = []  # the stale connections' symbols, for the REST thread
        self._monitor = threading.Thread(target=self._watch, name="market-data-watch",
                                         daemon=True)
        self._rest = threading.Thread(target=self._poll_rest, name="market-data-rest",
                                      daemon=True)

    # --- lifetime -------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            starting = list(self._connections)
            self._running.extend(starting)
        for connection in starting:
            connection.start()
        self._monitor.start()
        if self.rest_prices is not None:
            self._rest.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stopping.set()
        with self._lock:
            running = list(self._running)
        close_all(running, timeout_s)
        for thread in (self._monitor, self._rest):
            if thread.is_alive():
                thread.join(timeout_s)

    @property
    def connections(self) -> list[MarketConnection]:
        with self._lock:
            return list(self._connections)

    def set_symbols(self, symbols: Iterable[str]) -> None:
        """Stream exactly ``symbols`` from now on: a symbol keeps its connection, new ones
        fill the connections with room, then new connections; an emptied one closes."""
        wanted = frozenset(symbols)
        with self._lock:
            self.symbols = wanted
            kept = {id(c): c.symbols & wanted for c in self._connections}
            rest = sorted(wanted - frozenset().union(*kept.values()))
            for connection in self._connections:
                room = self.max_streams - len(kept[id(connection)])
                if room > 0 and rest:
                    kept[id(connection)] = kept[id(connection)] | frozenset(rest[:room])
                    rest = rest[room:]
            closing = [c for c in self._connections if not kept[id(c)]]
            self._connections = [c for c in self._connections if kept[id(c)]]
            for connection in self._connections:
                if connection.symbols != kept[id(connection)]:
                    connection.set_symbols(kept[id(connection)])
            opened = []
            while rest:
                opened.append(MarketConnection(self._free_label(opened), rest[:self.max_streams],
                                               self.wiring))
                rest = rest[self.max_streams:]
            self._connections.extend(opened)
            if self._started:
                self._running.extend(opened)
        close_all(closing)
        if self._started:
            for connection in opened:
                connection.start()

    def _free_label(self, opened: list[MarketConnection]) -> str:
        used = {c.label for c in self._connections} | {c.label for c in opened}
        n = 0
        while str(n) in used:
            n += 1
        return str(n)

    def _on_notice(self, old: MarketConnection) -> None:
        """serverShutdown on ``old``: open its successor now; ``old`` closes once it is
        ready."""
        with self._lock:
            if self._stopping.is_set() or old not in self._connections:
                return
            new = MarketConnection(old.label, old.symbols, self.wiring)
            old.successor = new
            self._connections[self._connections.index(old)] = new
            self._running.append(new)
        new.start()

    # --- staleness and the REST fallback ---------------------------------------------------

    def stale_symbols(self) -> list[str]:
        now = time.monotonic()
        with self._lock:
            connections = list(self._connections)
        return sorted(s for c in connections if c.stale(now) for s in c.symbols)

    def _watch(self) -> None:
        while not self._stopping.wait(MONITOR_S):
            now = time.monotonic()
            with self._lock:
                connections = list(self._connections)
                self._running = [c for c in self._running if c.alive or c in connections]
            labels = {c.label for c in connections}
            for label in [k for k, v in self._stale.items() if v and k not in labels]:
                self._stale[label] = False  # closed while stale
                self.metrics.stale(label, False)
            stale: list[str] = []
            for connection in connections:
                is_stale = connection.stale(now)
                if is_stale != self._stale.get(connection.label, False):
                    self._stale[connection.label] = is_stale
                    self.metrics.stale(connection.label, is_stale, len(connection.symbols))
                    log.warning("market data connection %s %s", connection.label,
                                f"stale: no message for {self.wiring.stale_s:g} s, prices "
                                "by REST meanwhile" if is_stale else "streams again")
                if is_stale:
                    stale.extend(connection.symbols)
            self._stale_now = sorted(stale)

    def _poll_rest(self) -> None:
        """Every ``REST_EVERY_S`` while a connection is stale, its symbols' prices over REST
        (on a thread of its own: a slow venue does not hold up the stale flags)."""
        failing = False
        while not self._stopping.wait(REST_EVERY_S):
            symbols = self._stale_now
            if symbols:
                failing = self._poll(symbols, failing)

    def _poll(self, symbols: list[str], failing: bool) -> bool:
        """One REST read of ``symbols`` into their slots; True while reads keep failing."""
        try:
            prices = self.rest_prices(symbols)
        except Exception as exc:  # noqa: BLE001 - the venue is down too: try again next time
            if not failing:
                log.warning("market data: REST prices failed: %s: %s", type(exc).__name__, exc)
            self.metrics.rest_poll(False, 0)
            return True
        ms = str(time.time_ns() // 1_000_000).encode()
        received_ns = time.perf_counter_ns()
        slots = self.sink.slots
        ready, seen = [], []
        for symbol, price in prices.items():
            key = symbol.encode()
            slot = slots.get(key)
            if slot is None:
                continue
            if slot.put_text(format(price, "f").encode(), ms, received_ns):
                ready.append(key)
            seen.append(key)
        if ready:
            self.sink.ready(ready)
        if seen:
            self.sink.seen(seen)
        self.metrics.rest_poll(True, len(seen))
        return False


# --- one callback per trade, for tools and tests --------------------------------------------


class _CallbackSlot:
    __slots__ = ("symbol", "on_trade")

    def __init__(self, symbol: str, on_trade: Callable[[str, Decimal, Decimal], None]) -> None:
        self.symbol = symbol
        self.on_trade = on_trade

    def put_text(self, price: bytes, ms: bytes, received_ns: int) -> bool:
        try:
            self.on_trade(self.symbol, Decimal(price.decode()), Decimal(int(ms)) / 1000)
        except Exception:
            log.exception("on_trade failed")
        return False


class _CallbackSink:
    def __init__(self, symbols: Sequence[str], on_trade: Callable) -> None:
        self.slots = {s.encode(): _CallbackSlot(s, on_trade) for s in symbols}

    def ready(self, symbols: list[bytes]) -> None:
        pass

    def seen(self, symbols: Iterable[bytes]) -> None:
        pass


class BinanceMarketData:
    """Every trade of ``symbols`` to ``on_trade(symbol, price, ts)``, one call each, with
    Decimals (``ts`` in epoch seconds). For tools and tests; the engine's Feed uses
    ``MarketDataEdge`` and slots. ``start()``, ``stop()``, ``wait_connected(timeout_s)``."""

    def __init__(self, symbols: Sequence[str], *, stream_url: str | None,
                 on_trade: Callable[[str, Decimal, Decimal], None], kind: str = DEFAULT_KIND,
                 testnet: bool = False) -> None:
        if not symbols:
            raise ValueError("BinanceMarketData needs at least one symbol")
        self.edge = MarketDataEdge(_CallbackSink(symbols, on_trade), stream_url=stream_url,
                                   testnet=testnet, kind=kind)
        self.edge.set_symbols(symbols)

    @property
    def connected(self) -> bool:
        return all(c.ready for c in self.edge.connections)

    def wait_connected(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self.connected:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def start(self) -> None:
        self.edge.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self.edge.stop(timeout_s)
