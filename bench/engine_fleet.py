"""A fleet of PairActors for the engine benchmarks: real actors, real DBWriter and Gateway.

Every pair holds an OPEN position restored as after a restart: the entry buy (FILLED), an old
stop (CANCELED) and the current stop (NEW, resting on a ``PaperExchange`` in a temp file). On
start each pair queries its stop through the Gateway, exactly as ``PairActor._resume`` does.

So that the benchmark measures the tick path and not trading, every pair has ``entry = none``,
``activation_pct = 1000`` (the stop never trails) and ``trail_pct = 50`` (the stop sits at half
the price, out of a random walk's reach). Each price still runs the whole per-tick decision:
``core.pair_logic.on_price`` (highest, trigger check, activation, ``next_stop``), a ``Persist``
tell to the DBWriter whenever ``highest`` rises, and the metrics update.

Prices go from the Feed straight to each pair's slot, as in binance mode (in paper mode they
pass through the Gateway, which matches them on the book first).
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pykka

from actors.conflation import TickSlot
from actors.db_writer import DBWriter
from actors.feed import RandomWalk, Target, WalkSettings, deliver
from actors.gateway import Gateway
from actors.messages import GetKv, Persist, PriceReady, Sync
from actors.pair import PairActor, PairWiring
from core.symbols import paper_filters
from core.trailing import entry_quantity, fee, levels_at
from core.types import (
    EntryMode,
    Order,
    OrderState,
    OrderType,
    PairSettings,
    Position,
    PositionState,
    Side,
    Tick,
)
from exchange.paper import PaperExchange
from telemetry.metrics import Metrics, PairMetrics

ASK_TIMEOUT_S = 120
START_PRICE = Decimal(100)


def symbols(n: int) -> list[str]:
    return [f"P{i:04d}USDT" for i in range(n)]


def bench_settings(symbol: str) -> PairSettings:
    return PairSettings(symbol=symbol, entry=EntryMode.NONE, activation_pct=Decimal(1000),
                        trail_pct=Decimal(50))


# --- price streams ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stream:
    """``rounds[r][i]`` is the r-th price of symbol i; the true extremes of each symbol."""

    rounds: list[list[Decimal]]
    highs: list[Decimal]
    lows: list[Decimal]

    @property
    def size(self) -> int:
        return sum(len(r) for r in self.rounds)


def make_stream(n_symbols: int, n_rounds: int, seed: int = 7) -> Stream:
    """The simulated feed's seeded random walks (``actors.feed.RandomWalk``), made up front."""
    settings = WalkSettings(seed=seed)
    walks = [RandomWalk(START_PRICE, Decimal("0.01"), settings, seed=seed * 1_000_003 + i)
             for i in range(n_symbols)]
    rounds = [[w.next() for w in walks] for _ in range(n_rounds)]
    columns = list(zip(*rounds, strict=True))
    return Stream(rounds=rounds, highs=[max(c) for c in columns], lows=[min(c) for c in columns])


# --- slots that record what the consumer took ---------------------------------------------


class RecordingSlot(TickSlot):
    """A conflating ``TickSlot`` that remembers the highest high and lowest low it handed out."""

    __slots__ = ("seen_high", "seen_low", "takes")

    def __init__(self, symbol: str) -> None:
        super().__init__(symbol)
        self.seen_high: Decimal | None = None
        self.seen_low: Decimal | None = None
        self.takes = 0

    def take(self) -> Tick | None:
        return self._seen(super().take())

    def _seen(self, tick: Tick | None) -> Tick | None:
        if tick is not None:
            self.takes += 1
            if self.seen_high is None or tick.high > self.seen_high:
                self.seen_high = tick.high
            if self.seen_low is None or tick.low < self.seen_low:
                self.seen_low = tick.low
        return tick


class PerTickSlot(RecordingSlot):
    """The baseline: no conflation. Every ``put`` queues its own tick and asks for a tell, so
    ``deliver`` sends one ``PriceReady`` per price and each message carries exactly one tick."""

    __slots__ = ("_queue",)

    def __init__(self, symbol: str) -> None:
        super().__init__(symbol)
        self._queue: collections.deque[Tick] = collections.deque()

    def put(self, price: Decimal, ts: Decimal, time: str = "", received_ns: int = 0) -> bool:
        self._queue.append(Tick(symbol=self.symbol, price=price, high=price, low=price, ts=ts,
                                time=time, received_ns=received_ns))
        return True

    def take(self) -> Tick | None:
        return self._seen(self._queue.popleft() if self._queue else None)


# --- consumers ----------------------------------------------------------------------------


class SlotReader(pykka.ThreadingActor):
    """The minimal consumer: takes its slot on each ``PriceReady`` and does nothing else."""

    def __init__(self, slot: TickSlot) -> None:
        super().__init__()
        self.slot = slot

    def on_receive(self, message):
        match message:
            case PriceReady():
                self.slot.take()
            case Sync():
                return 0
            case _:
                raise TypeError(f"SlotReader got {message!r}")


class _RecordingPairMetrics(PairMetrics):
    """The real per-pair metrics, also keeping every decision latency (seconds)."""

    __slots__ = ("latencies",)

    def __init__(self, metrics: Metrics, symbol: str) -> None:
        super().__init__(metrics, symbol)
        self.latencies: list[float] = []

    def decision_latency(self, seconds: float) -> None:
        super().decision_latency(seconds)
        self.latencies.append(seconds)


class LatencyRecorder(Metrics):
    """``telemetry.metrics.Metrics`` whose pairs keep every tick-to-decision sample."""

    def __init__(self) -> None:
        super().__init__()
        self.recorders: dict[str, _RecordingPairMetrics] = {}

    def pair(self, symbol: str) -> _RecordingPairMetrics:
        recorder = self.recorders.get(symbol)
        if recorder is None:
            recorder = self.recorders.setdefault(symbol, _RecordingPairMetrics(self, symbol))
        return recorder

    def samples(self) -> list[float]:
        return [s for p in self.recorders.values() for s in p.latencies]


# --- the fleet ----------------------------------------------------------------------------


@dataclass(slots=True)
class Restored:
    """One pair's state as loaded from the DB after a restart."""

    settings: PairSettings
    position: Position
    orders: tuple[Order, ...]


def restored_state(symbol: str, index: int) -> Restored:
    """An OPEN position with its entry (FILLED), an old stop (CANCELED) and its stop (NEW)."""
    settings = bench_settings(symbol)
    filters = paper_filters(settings)
    qty = entry_quantity(START_PRICE, settings, filters)
    levels = levels_at(START_PRICE, settings, filters.tick)
    pid = f"{index:010x}"
    position = Position(
        position_id=pid, symbol=symbol, state=PositionState.OPEN, qty=qty,
        entry_price=START_PRICE, entry_time="2022-01-01T00:00:00Z",
        entry_fee=fee(START_PRICE * qty, settings.fee_pct), highest=START_PRICE,
        stop=levels.stop, limit=levels.limit, stop_order_id=f"rt-{pid}-3", seq=3)

    def order(seq: int, side: Side, type_: OrderType, state: OrderState, **kw) -> Order:
        return Order(client_order_id=f"rt-{pid}-{seq}", position_id=pid, symbol=symbol,
                     side=side, type=type_, qty=qty, state=state, **kw)

    entry = order(1, Side.BUY, OrderType.MARKET, OrderState.FILLED, executed_qty=qty,
                  avg_price=START_PRICE, exchange_order_id=f"{index}1")
    old = order(2, Side.SELL, OrderType.STOP_LOSS_LIMIT, OrderState.CANCELED,
                stop_price=levels.stop - 1, limit_price=levels.limit - 1,
                exchange_order_id=f"{index}2")
    stop = order(3, Side.SELL, OrderType.STOP_LOSS_LIMIT, OrderState.NEW,
                 stop_price=levels.stop, limit_price=levels.limit, replaces=old.client_order_id)
    return Restored(settings=settings, position=position, orders=(entry, old, stop))


@dataclass(slots=True)
class Fleet:
    """DBWriter + Gateway over a PaperExchange holding every pair's resting stop."""

    workdir: Path
    states: list[Restored]
    exchange: PaperExchange
    db: pykka.ActorRef
    gateway: pykka.ActorRef
    pairs: list[pykka.ActorRef] = field(default_factory=list)

    @classmethod
    def open(cls, workdir: Path, n: int) -> Fleet:
        states = [restored_state(s, i) for i, s in enumerate(symbols(n))]
        exchange = PaperExchange(workdir / "paper.db", settings={
            r.settings.symbol: r.settings for r in states})
        for r in states:
            stop = r.orders[-1]
            exchange.book.set_balance(paper_filters(r.settings).base_asset, r.position.qty)
            exchange.place_stop_limit(symbol=stop.symbol, qty=stop.qty,
                                      stop_price=stop.stop_price, limit_price=stop.limit_price,
                                      client_order_id=stop.client_order_id)
        db = DBWriter.start(workdir / "ratchet.db", synchronous="NORMAL")
        db.ask(Persist(positions=tuple(r.position for r in states),
                       orders=tuple(o for r in states for o in r.orders)), timeout=ASK_TIMEOUT_S)
        gateway = Gateway.start(exchange)
        return cls(workdir=workdir, states=states, exchange=exchange, db=db, gateway=gateway)

    def start_pairs(self, slots: list[TickSlot], metrics: object | None,
                    states: list[Restored] | None = None) -> None:
        """Start one PairActor per state (default: ``self.states``), restored from it, and
        wait until each has settled. ``metrics`` is a ``Metrics``-like object or None."""
        self.stop_pairs()
        for r, slot in zip(states or self.states, slots, strict=True):
            wiring = PairWiring(db_writer=self.db, gateway=self.gateway, slot=slot,
                                metrics=metrics)
            self.pairs.append(PairActor.start(
                settings=r.settings, filters=paper_filters(r.settings), wiring=wiring,
                position=r.position, orders=r.orders))
        settle(self.pairs, self.gateway)

    def stop_pairs(self) -> None:
        for ref in self.pairs:
            ref.stop(block=False)
        for ref in self.pairs:
            ref.stop(block=True, timeout=ASK_TIMEOUT_S)
        self.pairs.clear()
        self.flush()

    def flush(self) -> None:
        """Wait until the DBWriter has committed every write told so far."""
        self.db.ask(GetKv(key="bench"), timeout=ASK_TIMEOUT_S)

    def close(self) -> None:
        self.stop_pairs()
        self.gateway.stop(block=True, timeout=ASK_TIMEOUT_S)
        self.db.stop(block=True, timeout=ASK_TIMEOUT_S)
        self.exchange.close()


def settle(pairs: list[pykka.ActorRef], gateway: pykka.ActorRef | None = None) -> None:
    """Ask every pair until none has a command in flight (their start-up queries answered)."""
    waiting = list(pairs)
    while waiting:
        if gateway is not None:
            gateway.ask(Sync(), timeout=ASK_TIMEOUT_S)
        futures = [ref.ask(Sync(), block=False) for ref in waiting]
        waiting = [ref for ref, f in zip(waiting, futures, strict=True)
                   if f.get(timeout=ASK_TIMEOUT_S)]


# --- producers ----------------------------------------------------------------------------


def targets_for(slots: list[TickSlot], consumers: list[pykka.ActorRef]) -> list[Target]:
    return [Target(slot=s, consumer=c) for s, c in zip(slots, consumers, strict=True)]


def feed_flat_out(targets: list[Target], stream: Stream) -> None:
    """The Feed at full speed: every round, one price per symbol through ``deliver``."""
    for r, prices in enumerate(stream.rounds):
        ts = Decimal(r)
        for target, price in zip(targets, prices, strict=True):
            deliver(target, price, ts)


def feed_paced(targets: list[Target], stream: Stream, rate: float, batch_s: float = 0.001) -> None:
    """The Feed at ``rate`` prices/s as a steady stream: a batch every ``batch_s``, sleeping
    between batches (the round-robin order of ``feed_flat_out``, spread out in time)."""
    per_batch = max(1, round(rate * batch_s))
    flat = [(targets[i], price, Decimal(r)) for r, prices in enumerate(stream.rounds)
            for i, price in enumerate(prices)]
    started = time.perf_counter()
    for b in range(0, len(flat), per_batch):
        due = started + b / rate
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        for target, price, ts in flat[b:b + per_batch]:
            deliver(target, price, ts)
