"""One market-stream connection of the edge (``exchange.binance.market_data``): its own
thread, reading as fast as the socket delivers and folding every trade into its slot at once.

**Per message** (``MarketConnection._fold``): find the frame (``ws_client``), find the symbol,
price and trade time in it (``trade_parse``), look the symbol's slot up, ``put_text`` (compare
the price strings with the slot's high and low, under its lock). No Decimal, no ``str``, no
log line, no metric: a read's messages are counted once, after the read, and the consumers
whose slot went from empty to full are told then, once each. Whatever the consumers do, the
reader never waits for them, so a slow consumer costs merging in its slot and never a full
buffer or a dropped connection.

**A read takes all there is** (up to ``MAX_BATCH`` messages): after a ``recv`` that brought
bytes, it receives again while more are waiting, then folds and tells. When every pair is busy
(a burst that moves every symbol), a round of the pairs' decisions is what the reader waits
for its interpreter lock, so taking one socket buffer (1 MiB) a round caps the rate at a buffer
a round; taking everything queued lets one round absorb the burst, and each pair still gets one
delivery a round (``make bench``: burst lag and reconnects at 1,500 pairs).

**Streams.** A connection carries at most ``max_streams`` (Binance: 1024). The first
``SUBSCRIBE_BATCH`` streams go in the URL (``/stream?streams=a@aggTrade/...``), the rest in
SUBSCRIBE messages of ``SUBSCRIBE_BATCH`` streams; later changes (a config reload) are
SUBSCRIBE and UNSUBSCRIBE messages too. Binance allows 5 incoming messages a second on a
connection, pings, pongs and those messages alike: ``ControlPacer`` lets ``CONTROL_PER_S`` go
out a second and counts its pings in (a pong answers the server's ping at once).

**Silence and reconnects.** After ``stale_s / 2`` without a frame the connection sends a
ping: a quiet market answers with a pong. After ``stale_s`` without any frame it is stale: it
closes and reconnects, and the edge polls REST prices for its symbols until it hears from the
venue again. A reconnect waits a backoff first: ``BACKOFF_MIN_S`` doubling to
``BACKOFF_MAX_S`` while sessions keep failing young (under ``BACKOFF_RESET_S``), each wait
drawn between half and all of it (jitter), so connections do not come back in step.

**serverShutdown.** Binance announces a cut a while before it: the connection asks the edge
for a successor at once, keeps delivering until the successor has every stream subscribed,
then closes (make before break; both fold into the same slots meanwhile, and a duplicate price
is harmless to a high, a low or a last).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from exchange.binance.trade_parse import TradeParser
from exchange.binance.ws_client import Reconnect, WsClient

log = logging.getLogger("ratchet.binance.market_data")

SUBSCRIBE_BATCH = 200
CONTROL_PER_S = 4  # of Binance's 5 incoming messages a second per connection
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0
BACKOFF_RESET_S = 30.0
CONNECT_TIMEOUT_S = 10.0
SEEN_EVERY_S = 1.0  # how often the symbols that traded are reported (last-tick gauges)
MAX_BATCH = 50_000  # messages read and folded before the consumers are told

STALE, SERVER_SHUTDOWN = "stale", "server_shutdown"  # Reconnect causes beside ws_client's


class PriceSlot(Protocol):
    def put_text(self, price: bytes, ms: bytes, received_ns: int) -> bool: ...


class Sink(Protocol):
    """Where prices go. ``slots`` maps the symbol's bytes (``b"BTCUSDT"``) to its slot and may
    be replaced at any time; ``ready`` tells the consumers of slots that went from empty to
    full; ``seen`` gets the symbols that traded, about once a second."""

    slots: dict[bytes, PriceSlot]

    def ready(self, symbols: list[bytes]) -> None: ...

    def seen(self, symbols: Iterable[bytes]) -> None: ...


class NoMetrics:
    """A connection's metrics when none are wired (the interface of
    ``telemetry.feed_metrics.ConnectionMetrics``)."""

    def batch(self, received: int, trades: int, delivered: int, lag_s: float | None) -> None:
        pass

    def reconnect(self, cause: str) -> None:
        pass

    def up(self, is_up: bool) -> None:
        pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Wiring:
    """What every connection of one edge shares."""

    root: str  # the stream root, e.g. "wss://stream.binance.com:9443/"
    kind: str  # "aggTrade" or "trade"
    sink: Sink
    stale_s: float
    on_notice: Callable[[MarketConnection], None]  # serverShutdown: open a successor
    metrics_for: Callable[[str], Any]  # connection label -> its metrics


class ControlPacer:
    """At most ``per_s`` outgoing control messages in any one-second window."""

    def __init__(self, per_s: int = CONTROL_PER_S) -> None:
        self.per_s = per_s
        self.sent: collections.deque[float] = collections.deque()

    def _window(self) -> int:
        now = time.monotonic()
        while self.sent and now - self.sent[0] >= 1.0:
            self.sent.popleft()
        return len(self.sent)

    def ready(self) -> bool:
        """A message may go now."""
        return self._window() < self.per_s

    def take(self) -> bool:
        """Count one message that goes now, if one may."""
        if self._window() >= self.per_s:
            return False
        self.sent.append(time.monotonic())
        return True

    def spend(self) -> None:
        """A message that must go now (a ping): counted even past the limit."""
        self.sent.append(time.monotonic())


class MarketConnection:
    """Keeps ``symbols`` streaming into the sink until ``stop()``; replaceable at any time
    with ``set_symbols``. ``label`` names it in metrics ("0", "1", ...)."""

    _ids = itertools.count(1)

    def __init__(self, label: str, symbols: Iterable[str], wiring: Wiring) -> None:
        self.label = label
        self.w = wiring
        self.symbols = frozenset(symbols)
        self.wanted = self._streams(self.symbols)
        self._settled: frozenset[str] | None = None  # ``wanted`` once all subscribed
        self.metrics = wiring.metrics_for(label)
        self.heard = time.monotonic()  # the last frame from the venue (or the start)
        self.successor: MarketConnection | None = None
        self.subscribed: frozenset[str] = frozenset()
        self.connected = False
        self._stopping = threading.Event()
        self._client: WsClient | None = None
        self._thread = threading.Thread(target=self._main, name=f"market-data-{label}",
                                        daemon=True)

    # --- control, from the edge ---------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stopping.set()
        client = self._client
        if client is not None:
            client.abort()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def set_symbols(self, symbols: Iterable[str]) -> None:
        symbols = frozenset(symbols)
        self.wanted, self.symbols = self._streams(symbols), symbols

    def _streams(self, symbols: frozenset[str]) -> frozenset[str]:
        return frozenset(f"{s.lower()}@{self.w.kind}" for s in symbols)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def ready(self) -> bool:
        """Connected with every stream subscribed."""
        return self.connected and self.subscribed >= self.wanted

    def stale(self, now: float) -> bool:
        """No frame from the venue for ``stale_s``: connected or not."""
        return now - self.heard >= self.w.stale_s

    # --- the thread ---------------------------------------------------------------------------

    def _main(self) -> None:
        backoff = BACKOFF_MIN_S
        while not self._stopping.is_set():
            began = time.monotonic()
            try:
                self._session()
                return  # stopped, or handed over to a successor
            except Reconnect as exc:
                cause = exc.cause if not self._stopping.is_set() else None
                if cause is not None:
                    log.warning("market data connection %s: %s", self.label, exc)
            except Exception as exc:  # noqa: BLE001 - a bug must not end the feed for good
                cause = "error"
                log.exception("market data connection %s failed: %s", self.label, exc)
            finally:
                self.connected = False
                self.metrics.up(False)
                client, self._client = self._client, None
                if client is not None:
                    client.abort()
            if cause is None or self.successor is not None:
                return
            self.metrics.reconnect(cause)
            young = time.monotonic() - began < BACKOFF_RESET_S
            backoff = min(backoff * 2, BACKOFF_MAX_S) if young else BACKOFF_MIN_S
            self._stopping.wait(random.uniform(backoff / 2, backoff))

    def _session(self) -> None:
        wanted = sorted(self.wanted)
        first = wanted[:SUBSCRIBE_BATCH]
        client = WsClient(f"{self.w.root}stream?streams={'/'.join(first)}",
                          timeout_s=min(CONNECT_TIMEOUT_S, self.w.stale_s))
        self._client = client
        if self._stopping.is_set():
            return
        client.connect()
        self.subscribed = frozenset(first)
        self._settled = None
        self.connected = True
        self.metrics.up(True)
        log.info("market data connection %s up: %d streams", self.label, len(wanted))
        self._read(client)

    def _read(self, client: WsClient) -> None:
        pacer = ControlPacer()
        pending: dict[int, tuple[str, frozenset[str]]] = {}
        parser = TradeParser()
        messages: list[bytes] = []
        seen: set[bytes] = set()
        seen_at = time.monotonic()
        pinged = False
        half = self.w.stale_s / 2
        while not self._stopping.is_set():
            if client.receive(messages):
                self.heard = client.last_rx
                while len(messages) < MAX_BATCH and client.more():  # all there is, at once
                    client.receive(messages)
            if messages:
                self._fold(messages, parser, pending, seen)
                messages.clear()
            now = time.monotonic()
            if now - seen_at >= SEEN_EVERY_S and seen:
                self.w.sink.seen(seen)
                seen = set()
                seen_at = now
            quiet = now - client.last_rx
            if quiet >= self.w.stale_s:
                raise Reconnect(STALE, f"no message for {quiet:.1f} s")
            if quiet >= half and not pinged:
                pacer.spend()
                client.send_ping()
                pinged = True
            elif quiet < half:
                pinged = False
            if self.successor is not None and self.successor.ready:
                log.info("market data connection %s handed over", self.label)
                client.close()
                return
            self._converge(client, pacer, pending)

    def _fold(self, messages: list[bytes], parser: TradeParser,
              pending: dict[int, tuple[str, frozenset[str]]], seen: set[bytes]) -> None:
        """The hot path: every message into its slot; counts and tells once per read."""
        received_ns = time.perf_counter_ns()
        slots = self.w.sink.slots
        trade = parser.trade
        add_seen = seen.add
        ready: list[bytes] = []
        trades = 0
        last_ms = b""
        unreadable: list[ValueError] = []
        for message in messages:
            try:
                found = trade(message)
                if found is None:
                    found = self._other(message, parser, pending)
                    if found is None:
                        continue
            except ValueError as exc:  # UnreadableTrade, bad JSON
                unreadable.append(exc)
                continue
            symbol, price, ms = found
            slot = slots.get(symbol)
            if slot is None:
                continue  # a symbol just removed
            if slot.put_text(price, ms, received_ns):
                ready.append(symbol)
            add_seen(symbol)
            trades += 1
            last_ms = ms
        if ready:
            self.w.sink.ready(ready)
        if unreadable:  # one line per read, however many
            log.warning("market data connection %s: %d unreadable message(s), skipped: %s",
                        self.label, len(unreadable), unreadable[0])
        lag_s = time.time() - int(last_ms) / 1000 if last_ms else None
        self.metrics.batch(len(messages), trades, len(ready), lag_s)

    def _other(self, message: bytes, parser: TradeParser,
               pending: dict[int, tuple[str, frozenset[str]]]) -> tuple | None:
        """A message off the fast path: a trade in a new layout, an answer, a notice."""
        found, payload = parser.slow(message)
        if found is not None or not isinstance(payload, dict):
            return found
        if payload.get("e") == "serverShutdown":
            if self.successor is None:
                log.warning("market data connection %s: serverShutdown, switching over",
                            self.label)
                self.metrics.reconnect(SERVER_SHUTDOWN)
                self.w.on_notice(self)
        elif "id" in payload and ("result" in payload or "error" in payload):
            asked = pending.pop(payload["id"], None) if isinstance(payload["id"], int) else None
            if "error" in payload:
                log.warning("market data connection %s: %s refused: %s", self.label,
                            asked[0] if asked else "request", payload["error"])
            elif asked is not None:
                method, streams = asked
                self.subscribed = self.subscribed | streams if method == "SUBSCRIBE" \
                    else self.subscribed - streams
        return None

    def _converge(self, client: WsClient, pacer: ControlPacer,
                  pending: dict[int, tuple[str, frozenset[str]]]) -> None:
        """Subscribe what is wanted and unsubscribe what is not, as fast as the pacer lets."""
        wanted = self.wanted
        if wanted is self._settled or not pacer.ready():
            return
        if wanted == self.subscribed and not pending:
            self._settled = wanted
            log.info("market data connection %s: all %d streams subscribed", self.label,
                     len(wanted))
            return
        asked = {s for _, streams in pending.values() for s in streams}
        add = sorted(wanted - self.subscribed - asked)
        drop = sorted(self.subscribed - wanted - asked)
        while (add or drop) and pacer.take():
            method, streams = ("SUBSCRIBE", add) if add else ("UNSUBSCRIBE", drop)
            batch, rest = streams[:SUBSCRIBE_BATCH], streams[SUBSCRIBE_BATCH:]
            if add:
                add = rest
            else:
                drop = rest
            request_id = next(self._ids)
            pending[request_id] = (method, frozenset(batch))
            client.send_text(json.dumps({"method": method, "params": batch, "id": request_id}))


def close_all(connections: Iterable[MarketConnection], timeout_s: float = 5.0) -> None:
    """Stop connections together: each is told first, then each is waited for."""
    connections = list(connections)
    for connection in connections:
        connection._stopping.set()
        client = connection._client
        if client is not None:
            with contextlib.suppress(Exception):
                client.abort()
    for connection in connections:
        connection.stop(timeout_s)
