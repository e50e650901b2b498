"""Feed: market data into per-symbol conflating slots (``actors.conflation.TickSlot``).

Kinds (DESIGN.md §2):
- ``simulated``: a seeded random walk per symbol, one step per ``interval_ms``;
- ``binance``: the venue's trade streams, from a source the edge injects (for Binance,
  ``exchange.binance.market_data.MarketDataEdge``: its threads fold each trade into the slot
  themselves, through ``FeedSink``);
- ``replay``: lock-step, driven from the edge by ``actors.replay.run_replay``.

A slot keeps the last price and the highest and lowest since the last delivery, so a lagging
consumer gets one tick carrying all three: a high or a low is never lost.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pykka

from actors.conflation import TickSlot, tell_if_alive
from actors.messages import PriceReady
from core.errors import InvariantViolation
from core.money import floor_tick

log = logging.getLogger("ratchet.feed")


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Where one symbol's prices go: a slot, and the actor to tell when it fills."""

    slot: TickSlot
    consumer: pykka.ActorRef


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """Sent by the Feed to itself: make the next price of every symbol."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SetTarget:
    """Add (or, with ``target=None``, remove) a symbol while the Feed runs (config reload)."""

    symbol: str
    target: Target | None
    start: Decimal = Decimal(100)
    tick: Decimal = Decimal("0.01")


@dataclass(frozen=True, slots=True, kw_only=True)
class WalkSettings:
    seed: int = 7
    interval_ms: int = 250
    volatility_pct: Decimal = Decimal("0.15")
    drift_pct: Decimal = Decimal(0)


class RandomWalk:
    """A seeded multiplicative random walk on a tick grid. Prices stay Decimal: the random
    draw is turned into a Decimal return of fixed precision before it touches a price."""

    def __init__(self, start: Decimal, tick: Decimal, settings: WalkSettings, seed: int):
        self.price = floor_tick(start, tick)
        self.tick = tick
        self.settings = settings
        self.rng = random.Random(seed)

    def next(self) -> Decimal:
        shock = Decimal(f"{self.rng.gauss(0.0, 1.0):.6f}")
        ret = (self.settings.drift_pct + self.settings.volatility_pct * shock) / 100
        self.price = max(self.tick, floor_tick(self.price * (1 + ret), self.tick))
        return self.price


def deliver(target: Target, price: Decimal, ts: Decimal, time_text: str = "") -> None:
    if target.slot.put(price, ts, time_text, received_ns=time.perf_counter_ns()):
        tell_if_alive(target.consumer, PriceReady(symbol=target.slot.symbol))


class SimulatedFeed(pykka.ThreadingActor):
    def __init__(
        self, *, targets: dict[str, Target], starts: dict[str, Decimal],
        ticks: dict[str, Decimal], settings: WalkSettings, metrics: Any = None,
    ) -> None:
        super().__init__()
        self.targets = dict(targets)
        self.settings = settings
        self.metrics = metrics
        self.walks = {
            sym: RandomWalk(starts.get(sym, Decimal(100)), ticks[sym], settings,
                            seed=settings.seed * 1_000_003 + i)
            for i, sym in enumerate(sorted(ticks))
        }
        self.timer: threading.Timer | None = None
        self.stopped = False

    def on_start(self) -> None:
        self.actor_ref.tell(Step())

    def on_stop(self) -> None:
        self.stopped = True
        if self.timer is not None:
            self.timer.cancel()

    def on_receive(self, message):
        match message:
            case Step():
                self._step()
            case SetTarget():
                self._set_target(message)
            case _:
                raise InvariantViolation(f"Feed got an unknown message {message!r}")

    def _set_target(self, message: SetTarget) -> None:
        symbol = message.symbol
        if message.target is None:
            self.targets.pop(symbol, None)
            return
        self.targets[symbol] = message.target
        if symbol not in self.walks:
            seed = self.settings.seed * 1_000_003 + sum(map(ord, symbol))
            self.walks[symbol] = RandomWalk(message.start, message.tick, self.settings, seed)

    def _step(self) -> None:
        now = Decimal(time.time_ns()) / Decimal(1_000_000_000)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for symbol, target in self.targets.items():
            walk = self.walks.get(symbol)
            if walk is None:
                continue
            deliver(target, walk.next(), now, stamp)
            if self.metrics is not None:
                self.metrics.feed_tick(symbol)
        if not self.stopped:
            self.timer = threading.Timer(self.settings.interval_ms / 1000, self._tick_later)
            self.timer.daemon = True
            self.timer.start()

    def _tick_later(self) -> None:
        tell_if_alive(self.actor_ref, Step())


#: Makes the venue's market-data edge: ``source(sink, feed_metrics)`` returns an object with
#: ``set_symbols(symbols)``, ``start()`` and ``stop()`` that folds every trade into
#: ``sink.slots`` (``TickSlot.put_text``) and calls ``sink.ready`` and ``sink.seen``. The CLI
#: edge builds it (for Binance, ``exchange.binance.market_data.MarketDataEdge``), so the Feed
#: knows no venue.
MarketData = Callable[[Any, Any], Any]


class FeedSink:
    """The slots of the pairs, as the market-data edge sees them: by the symbol's bytes.

    ``ready`` tells each consumer whose slot went from empty to full (once per delivery);
    ``seen`` stamps the symbols that traded for the stale-feed alert. Both run on the edge's
    threads. ``slots`` is replaced whole when the targets change, never edited in place.
    """

    def __init__(self, targets: dict[str, Target], metrics: Any = None) -> None:
        self.metrics = metrics
        self.slots: dict[bytes, TickSlot] = {}
        self._targets: dict[bytes, tuple[str, pykka.ActorRef]] = {}
        self.set_targets(targets)

    def set_targets(self, targets: dict[str, Target]) -> None:
        self._targets = {s.encode(): (s, t.consumer) for s, t in targets.items()}
        self.slots = {s.encode(): t.slot for s, t in targets.items()}

    def ready(self, symbols: list[bytes]) -> None:
        targets = self._targets
        for key in symbols:
            found = targets.get(key)
            if found is not None:
                tell_if_alive(found[1], PriceReady(symbol=found[0]))

    def seen(self, symbols) -> None:
        if self.metrics is None:
            return
        for key in symbols:
            self.metrics.feed_tick(key.decode())


class StreamFeed(pykka.ThreadingActor):
    """Venue market data into the pairs' slots.

    The edge's threads fold every trade straight into the slots and tell the pairs; the actor
    owns the edge's lifetime and its symbol set (a config reload changes the subscriptions of
    the connections that carry them, and nothing else).
    """

    def __init__(self, *, targets: dict[str, Target], source: MarketData,
                 metrics: Any = None) -> None:
        super().__init__()
        self.targets = dict(targets)
        self.sink = FeedSink(self.targets, metrics)
        self.edge = source(self.sink, getattr(metrics, "feed", None))

    def on_start(self) -> None:
        self.edge.set_symbols(sorted(self.targets))
        self.edge.start()

    def on_stop(self) -> None:
        self.edge.stop()

    def on_receive(self, message):
        match message:
            case SetTarget(symbol=symbol, target=target):
                if target is None:
                    self.targets.pop(symbol, None)
                else:
                    self.targets[symbol] = target
                if target is not None:  # the slot first, so its first trade has a home
                    self.sink.set_targets(self.targets)
                self.edge.set_symbols(sorted(self.targets))
                self.sink.set_targets(self.targets)
            case _:
                raise InvariantViolation(f"Feed got an unknown message {message!r}")


def start_feed(feed: Any, *, targets: dict[str, Target], starts: dict[str, Decimal],
               ticks: dict[str, Decimal], metrics: Any = None,
               market_data: MarketData | None = None) -> pykka.ActorRef | None:
    """The Feed of ``[feed] kind``; None for ``replay``, which is driven lock-step from the
    edge. ``feed`` is the config's ``FeedConfig``."""
    if feed.kind == "simulated":
        return SimulatedFeed.start(
            targets=targets, starts=starts, ticks=ticks, metrics=metrics,
            settings=WalkSettings(seed=feed.seed, interval_ms=feed.interval_ms,
                                  volatility_pct=feed.volatility_pct, drift_pct=feed.drift_pct))
    if feed.kind == "binance":
        if market_data is None:
            raise InvariantViolation("[feed] kind = binance needs a market-data source")
        return StreamFeed.start(targets=targets, source=market_data, metrics=metrics)
    return None
