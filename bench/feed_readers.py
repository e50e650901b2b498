"""The socket readers ``bench.feed_bench`` compares, each reading the generator's stream until it
has ``target`` messages (or gives up), on a thread of its own in this process.

- ``bare``: the ``websockets`` asyncio client and ``json.loads`` of each message: the "bare
  reader" of issue 28, the baseline of every figure;
- ``python_binance``: python-binance's ``ReconnectingWebsocket`` drained by a dedicated task,
  as ``exchange/binance/market_data.py`` used it before the edge; ``queue`` is its
  ``max_queue_size`` (100 by default: past it the socket is dropped); with ``per_trade``, each
  message also goes the Feed's per-trade way of then. python-binance decodes
  with orjson when it is installed; a deployed engine does not install it, so the reader runs
  with ``json`` as deployed;
- ``sans_io``: ``websockets``' sans-I/O ``ClientProtocol`` on a blocking socket, with the
  edge's trade parser: the edge built on ``websockets``' own frame parser;
- ``edge``: the edge itself (``MarketDataEdge``), every trade folded into a ``TickSlot``.

Each returns a ``Reading``: messages, the seconds from the first to the last, the process CPU
seconds over the same span, and what went wrong (a queue overflow, a reconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from actors.conflation import TickSlot, iso_ms
from exchange.binance.market_data import MarketDataEdge
from exchange.binance.order_dto import TradeEventDTO
from exchange.binance.sockets import close_promptly
from exchange.binance.trade_parse import TradeParser
from exchange.binance.translate import ms_to_s
from telemetry.metrics import Metrics


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Reading:
    """What one reader did; ``lags_ms`` holds trade time to parse time, in ms, when asked."""

    messages: int = 0
    first: float = 0.0
    last: float = 0.0
    cpu_first: float = 0.0
    cpu_last: float = 0.0
    failures: list[str] = field(default_factory=list)
    lags_ms: list[int] = field(default_factory=list)

    def note(self, n: int = 1) -> None:
        if not self.messages:
            self.first, self.cpu_first = time.perf_counter(), cpu_s()
        self.messages += n
        self.last, self.cpu_last = time.perf_counter(), cpu_s()

    @property
    def seconds(self) -> float:
        return max(self.last - self.first, 1e-9)

    @property
    def per_s(self) -> float:
        return self.messages / self.seconds

    @property
    def cpu_us(self) -> float:
        return (self.cpu_last - self.cpu_first) / max(self.messages, 1) * 1e6


class Reader:
    """Runs ``body(reading, stop)`` on a thread; ``ready`` once connected."""

    def __init__(self, body: Callable[[Reading, threading.Event, threading.Event], Any],
                 reading: Reading | None = None) -> None:
        self.reading = reading or Reading()
        self.ready = threading.Event()
        self.stop = threading.Event()
        self._thread = threading.Thread(target=body, args=(self.reading, self.ready, self.stop),
                                        daemon=True)
        self._thread.start()

    def wait(self, target: int, timeout_s: float) -> Reading:
        deadline = time.monotonic() + timeout_s
        while self.reading.messages < target and time.monotonic() < deadline \
                and self._thread.is_alive():
            time.sleep(0.005)
        self.stop.set()
        self._thread.join(10)
        return self.reading


def stream_url(port: int, symbols: list[str]) -> str:
    return f"ws://127.0.0.1:{port}/stream?streams=" + "/".join(
        f"{s.lower()}@aggTrade" for s in symbols)


def bare(port: int, symbols: list[str], lags: bool = False) -> Reader:
    from websockets.asyncio.client import connect

    async def run(reading: Reading, ready: threading.Event, stop: threading.Event) -> None:
        async with connect(stream_url(port, symbols), compression=None, max_size=2**20,
                           ping_interval=None) as ws:
            ready.set()
            watch = asyncio.create_task(_close_on(stop, ws.close))
            try:
                async for message in ws:
                    data = json.loads(message)["data"]
                    if lags:
                        reading.lags_ms.append(int(time.time() * 1000) - data["T"])
                    reading.note()
            finally:
                watch.cancel()

    return Reader(lambda *a: _asyncio(run, *a))


def python_binance(port: int, symbols: list[str], queue: int, per_trade: bool = False,
                   deliver: Callable[[str, Any, Any, int], None] | None = None,
                   reconnect: bool = False) -> Reader:
    """``per_trade``: each message then takes the Feed's path before the edge: the trade DTO
    (Decimals), a Decimal time, a ``Tick`` put into the symbol's slot (or ``deliver(symbol,
    price, ts, ms)``), the last-tick gauge. ``reconnect``: after an overflow, connect again
    half a second later, as that Feed did (each counted in ``failures``)."""
    from binance.ws import reconnecting_websocket
    from binance.ws.reconnecting_websocket import ReconnectingWebsocket

    slots = {s: TickSlot(s) for s in symbols}
    metrics = Metrics()

    def put(symbol: str, price: Any, ts: Any, ms: int) -> None:
        slots[symbol].put(price, ts, iso_ms(ms), time.perf_counter_ns())

    into = deliver or put

    async def session(reading: Reading, ready: threading.Event, stop: threading.Event) -> bool:
        """One connection; True when it overflowed."""
        socket_ = ReconnectingWebsocket(
            url=f"ws://127.0.0.1:{port}/", prefix="",
            path="stream?streams=" + "/".join(f"{s.lower()}@aggTrade" for s in symbols),
            max_queue_size=queue)
        async with socket_ as ws:
            ready.set()
            watch = asyncio.create_task(_close_on(stop, lambda: close_promptly(ws)))
            try:
                while not stop.is_set():
                    message = await ws.recv()
                    if message.get("e") == "error":
                        if stop.is_set():
                            return False
                        reading.failures.append(message.get("type", "error"))
                        if message.get("type") == "BinanceWebsocketQueueOverflow":
                            return True
                        continue
                    if per_trade:
                        trade = TradeEventDTO.parse(message.get("data", message))
                        into(trade.s, trade.p, ms_to_s(trade.T), trade.T)
                        metrics.pair(trade.s).feed_tick()
                    reading.note()
            finally:
                watch.cancel()
        return False

    async def run(reading: Reading, ready: threading.Event, stop: threading.Event) -> None:
        while await session(reading, ready, stop) and reconnect and not stop.is_set():
            await asyncio.sleep(0.5)

    def body(*args: Any) -> None:
        saved = reconnecting_websocket.orjson
        reconnecting_websocket.orjson = None  # as deployed: python-binance's json path
        try:
            _asyncio(run, *args)
        finally:
            reconnecting_websocket.orjson = saved

    return Reader(body)


def sans_io(port: int, symbols: list[str]) -> Reader:
    from websockets.client import ClientProtocol
    from websockets.frames import Frame, Opcode
    from websockets.uri import parse_uri

    def body(reading: Reading, ready: threading.Event, stop: threading.Event) -> None:
        protocol = ClientProtocol(parse_uri(stream_url(port, symbols)), max_size=2**20)
        sock = socket.create_connection(("127.0.0.1", port))
        sock.settimeout(0.25)
        protocol.send_request(protocol.connect())
        sock.sendall(b"".join(protocol.data_to_send()))
        parser = TradeParser()
        ready.set()
        with contextlib.closing(sock):
            while not stop.is_set():
                try:
                    data = sock.recv(1 << 20)
                except TimeoutError:
                    continue
                if not data:
                    return
                protocol.receive_data(data)
                n = 0
                for event in protocol.events_received():
                    if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                        message = bytes(event.data)
                        found = parser.trade(message) or parser.slow(message)[0]
                        n += found is not None
                if n:
                    reading.note(n)

    return Reader(body)


class _Counter:
    """The edge's metrics, reduced to what the bench reads: trades folded, reconnects."""

    def __init__(self, reading: Reading) -> None:
        self.reading = reading
        self.lags_s: list[float] = []
        self.lag_times: list[tuple[float, float]] = []  # (monotonic time, lag) per read
        self.reconnects: list[str] = []
        self._lock = threading.Lock()

    def connection(self, label: str) -> _Counter:
        return self

    def batch(self, received: int, trades: int, delivered: int, lag_s: float | None) -> None:
        with self._lock:
            self.reading.note(trades)
            if lag_s is not None:
                self.lags_s.append(lag_s)
                self.lag_times.append((time.monotonic(), lag_s))

    def reconnect(self, cause: str) -> None:
        self.reconnects.append(cause)
        self.reading.failures.append(cause)

    def up(self, is_up: bool) -> None:
        pass

    def stale(self, label: str, is_stale: bool, symbols: int = 0) -> None:
        if is_stale:
            self.reading.failures.append("stale")

    def rest_poll(self, ok: bool, prices: int) -> None:
        pass


class _SlotSink:
    def __init__(self, slots: dict[bytes, Any]) -> None:
        self.slots = slots

    def ready(self, symbols: list[bytes]) -> None:
        pass

    def seen(self, symbols) -> None:
        pass


def edge(port: int, symbols: list[str], sink: Any = None) -> tuple[Reader, _Counter]:
    """The edge into ``sink`` (by default plain ``TickSlot``s that nobody takes)."""
    reading = Reading()
    counter = _Counter(reading)
    sink = sink or _SlotSink({s.encode(): TickSlot(s) for s in symbols})
    the_edge = MarketDataEdge(sink, stream_url=f"ws://127.0.0.1:{port}/", metrics=counter)

    def body(reading_: Reading, ready_: threading.Event, stop: threading.Event) -> None:
        the_edge.set_symbols(symbols)
        the_edge.start()
        while not all(c.ready for c in the_edge.connections):
            time.sleep(0.01)
        ready_.set()
        stop.wait()
        the_edge.stop()

    return Reader(body, reading), counter


async def _close_on(stop: threading.Event, close: Callable[[], Any]) -> None:
    """Close the reader's socket once ``stop`` is set, so its loop needs no timeout."""
    while not stop.is_set():
        await asyncio.sleep(0.05)
    await close()


def _asyncio(run, reading: Reading, ready: threading.Event, stop: threading.Event) -> None:
    try:
        asyncio.run(run(reading, ready, stop))
    except Exception as exc:  # noqa: BLE001 - a reader that fails is a figure, not a crash
        if not stop.is_set():
            reading.failures.append(type(exc).__name__)
