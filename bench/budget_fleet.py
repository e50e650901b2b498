"""The moving parts of ``bench/budget_bench.py``: stretches of the BTC file, the §3 reference
stop of each, the engine in binance mode against the sim in this process, and the one thread
that drives prices and samples the stops.

- ``stretches``: pair ``i`` replays ``minutes`` consecutive bars starting at bar
  ``round(i × (bars − minutes) / (pairs − 1))``, so the starts are spread evenly over the file.
  Each bar is four prices (``core.prices``: open, low, high, close, or open, high, low, close),
  all with the bar's timestamp. Price 0 (the first bar's open) is the entry: the position is
  seeded there, and the driver sends the prices from 1 on.
- ``reference``: ``core.backtest``'s loop for one open position from that entry (steps 1 and 4
  of §3: match the stop, then raise ``highest`` and ``next_stop``), kept as the ideal stop after
  each price, up to the price that triggers it.
- ``Engine``: a ``SimServer`` in this process with no price path of its own
  (``SimConfig(price_path=False)``) and Binance's default limits; every pair's position OPEN as
  after a restart (its stop on the sim's book, the rows in a real DBWriter's DB); python-binance
  (``BinanceExchange``) over HTTP on loopback with its user-data stream; a real ``Gateway`` with
  the given ``move_order``; one real ``PairActor`` per pair, told by boot reconciliation that
  its stop is open (``confirmed_open``), so it starts without a query.
- ``drive``: step ``k`` of every pair is due ``k × 15 s / speed`` after the start (a bar's four
  prices spread over its minute). At each step, one thread gives every pair's price first to the
  sim's book (``venue.on_price``: it matches stops and pushes the user-data events, as a price
  from the sim's own path would) and then to the pair's feed slot (``actors.feed.deliver``, as
  the binance feed does), in lock step by market time. Just before step ``k + 1`` it reads the
  stops open on the sim's book (``Book.open_orders``): that is the live stop through the
  interval after price ``k``, compared with the reference's stop after price ``k``.

The gap of a pair at a sample is ``|ideal − live| / ideal`` in basis points; its time average is
the mean over its samples, which are 15 s of market time apart. A pair is sampled while the
reference still holds its position (untriggered); a sample with no stop of the pair on the book
(its stop filled, or it exited at market) is counted as ``missing``, not as a gap.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

import pykka

from actors.conflation import TickSlot, tell_if_alive
from actors.db_writer import DBWriter
from actors.feed import Target, deliver
from actors.gateway import Gateway
from actors.messages import Maintain, OrderUpdated, Persist
from actors.pair import PairActor, PairWiring
from bench.engine_fleet import ASK_TIMEOUT_S, settle
from core.fill_model import BIPS, StopState, match_stop
from core.prices import PricePoint
from core.trailing import entry_quantity, fee, levels_at, next_stop
from core.types import (
    Order,
    OrderState,
    OrderType,
    PairSettings,
    Position,
    PositionState,
    Side,
    SymbolFilters,
)
from exchange.binance import BinanceExchange
from exchange.sim.server import SimConfig, SimServer

PRICES_PER_BAR = 4
BAR_S = 60
API_KEY, API_SECRET = "budget-bench-key", "budget-bench-secret"
ORDER_REQUESTS = ("POST /api/v3/order", "POST /api/v3/order/cancelReplace")
REPLACE_REQUESTS = "POST /api/v3/order/cancelReplace"
RATE_LIMITED = ("429", "-1015", "-1003")
LOAD_EVERY_S = 10.0


# --- prices and the reference -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stretch:
    symbol: str
    points: tuple[PricePoint, ...]  # minutes × PRICES_PER_BAR; points[0] is the entry


def symbol_of(index: int) -> str:
    return f"B{index:04d}USDT"


def stretches(points: Sequence[PricePoint], pairs: int, minutes: int) -> list[Stretch]:
    """``pairs`` stretches of ``minutes`` bars each, their starts spread over the file."""
    bars = [tuple(group) for _, group in itertools.groupby(points, key=lambda p: p.ts)]
    if any(len(bar) != PRICES_PER_BAR for bar in bars):
        raise ValueError(f"every bar must be {PRICES_PER_BAR} prices (an OHLC file)")
    if minutes > len(bars):
        raise ValueError(f"{minutes} minutes asked, the file has {len(bars)} bars")
    span = len(bars) - minutes
    out = []
    for i in range(pairs):
        start = round(i * span / max(pairs - 1, 1))
        out.append(Stretch(symbol=symbol_of(i), points=tuple(
            p for bar in bars[start:start + minutes] for p in bar)))
    return out


@dataclass(frozen=True, slots=True)
class Reference:
    """The §3 stop after each price while the position is held: ``stops[k]`` after price k,
    for every k before the price that triggers it (``len(stops)``)."""

    stops: tuple[Decimal, ...]
    moves: int


def reference(stretch: Stretch, settings: PairSettings, tick: Decimal) -> Reference:
    """``core.backtest.simulate``'s loop for a position entered at price 0 (entry none)."""
    entry = stretch.points[0].price
    levels = levels_at(entry, settings, tick)
    state, highest, moves = StopState(levels.stop, levels.limit), entry, 0
    stops = [state.stop]
    for point in stretch.points[1:]:
        if match_stop(state, point.price, point.ts).state.triggered:
            break
        highest = max(highest, point.price)
        moved = next_stop(stop=state.stop, highest=highest, entry_price=entry,
                          settings=settings, tick=tick)
        if moved is not None:
            state, moves = StopState(moved.stop, moved.limit), moves + 1
        stops.append(state.stop)
    return Reference(stops=tuple(stops), moves=moves)


def seeded(stretch: Stretch, index: int, settings: PairSettings,
           filters: SymbolFilters) -> tuple[Position, Order]:
    """An OPEN position bought at the stretch's first price, and its stop (NEW)."""
    first = stretch.points[0]
    qty = entry_quantity(first.price, settings, filters)
    levels = levels_at(first.price, settings, filters.tick)
    pid = f"b{index:04d}"
    stop = Order(client_order_id=f"rt-{pid}-2", position_id=pid, symbol=stretch.symbol,
                 side=Side.SELL, type=OrderType.STOP_LOSS_LIMIT, qty=qty,
                 state=OrderState.NEW, stop_price=levels.stop, limit_price=levels.limit)
    position = Position(position_id=pid, symbol=stretch.symbol, state=PositionState.OPEN,
                        qty=qty, entry_price=first.price, entry_time=first.time,
                        entry_fee=fee(first.price * qty, settings.fee_pct),
                        highest=first.price, stop=levels.stop, limit=levels.limit,
                        stop_order_id=stop.client_order_id, seq=2)
    return position, stop


# --- the engine ---------------------------------------------------------------------------


class VenueCounter:
    """The adapter's metrics hook: every error code it saw (``RATE_LIMITED`` are the 429s)."""

    def __init__(self) -> None:
        self.errors: Counter[str] = Counter()

    @property
    def rate_limited(self) -> int:
        return sum(self.errors[code] for code in RATE_LIMITED)

    def exchange_request(self, endpoint: str, seconds: float) -> None:
        pass

    def exchange_error(self, code: str) -> None:
        self.errors[code] += 1

    def weight_used(self, n: int) -> None:
        pass

    def unreadable_event(self) -> None:
        pass

    def missed_events(self, n: int) -> None:
        pass

    def user_stream_stale(self, stale: bool) -> None:
        pass

    def banned(self, on: bool) -> None:
        pass


@dataclass(slots=True)
class Engine:
    sim: SimServer
    exchange: BinanceExchange
    db: pykka.ActorRef
    gateway: pykka.ActorRef
    closing: threading.Event
    counter: VenueCounter
    pairs: list[pykka.ActorRef] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)

    def requests(self) -> dict[str, int]:
        """The sim's request counts by endpoint (``GET /sim/requests``)."""
        with urllib.request.urlopen(f"{self.sim.url}/sim/requests", timeout=10) as response:
            return json.load(response)["counts"]


@contextmanager
def engine(directory: Path, runs: Sequence[Stretch], settings: PairSettings,
           move_order: str) -> Iterator[Engine]:
    """The sim with every position's stop on its book, and the engine trading them."""
    directory.mkdir(parents=True)
    symbols = tuple(s.symbol for s in runs)
    sim = SimServer(SimConfig(symbols=symbols, price_path=False, state=directory / "sim.db",
                              api_key=API_KEY, api_secret=API_SECRET,
                              balances={"USDT": Decimal(100_000)}))
    sim.start()
    closing = threading.Event()
    counter = VenueCounter()
    db = exchange = gateway = None
    pairs: list[pykka.ActorRef] = []
    try:
        held = [_seed(sim, i, stretch, settings) for i, stretch in enumerate(runs)]
        db = DBWriter.start(directory / "ratchet.db")
        db.ask(Persist(positions=tuple(p for p, _ in held), orders=tuple(o for _, o in held)),
               timeout=ASK_TIMEOUT_S)
        exchange = BinanceExchange(api_key=API_KEY, api_secret=API_SECRET, base_url=sim.url,
                                   timeout_s=Decimal(5), symbols=symbols, metrics=counter)
        exchange.connect()
        exchange.wait_ready()  # the exchangeInfo connect sent
        exchange.open_orders()  # boot reconciliation's one call: the adapter knows the stops
        gateway = Gateway.start(exchange, move_order=move_order, closing=closing)
        exchange.set_listener(lambda report: tell_if_alive(gateway, OrderUpdated(report=report)))
        exchange.set_waker(lambda: tell_if_alive(gateway, Maintain()))
        targets = []
        for position, stop in held:
            slot = TickSlot(position.symbol)
            pair = PairActor.start(
                settings=_for(settings, position.symbol),
                filters=exchange.symbol_filters(position.symbol),
                wiring=PairWiring(db_writer=db, gateway=gateway, slot=slot),
                position=position, orders=(stop,),
                confirmed_open=frozenset({stop.client_order_id}))
            pairs.append(pair)
            targets.append(Target(slot=slot, consumer=pair))
        exchange.start_streams()
        if not exchange.wait_user_stream(30):
            raise RuntimeError("the user-data stream did not come up")
        settle(pairs, gateway)
        yield Engine(sim=sim, exchange=exchange, db=db, gateway=gateway, closing=closing,
                     counter=counter, pairs=pairs, targets=targets)
    finally:
        closing.set()  # the Gateway drops its backlog: the measurement is over
        for ref in pairs:
            ref.stop(block=False)
        for ref in pairs:
            ref.stop(block=True, timeout=ASK_TIMEOUT_S)
        if gateway is not None:
            gateway.stop(block=True, timeout=ASK_TIMEOUT_S)
        if exchange is not None:
            exchange.set_listener(None)
            exchange.close()
        if db is not None:
            db.stop(block=True, timeout=ASK_TIMEOUT_S)
        sim.stop()


def _for(settings: PairSettings, symbol: str) -> PairSettings:
    return replace(settings, symbol=symbol)


def _seed(sim: SimServer, index: int, stretch: Stretch,
          settings: PairSettings) -> tuple[Position, Order]:
    """The stretch's first price on the book, the position's coins, and its stop resting."""
    first = stretch.points[0]
    filters = sim.book.filters(stretch.symbol)
    position, stop = seeded(stretch, index, _for(settings, stretch.symbol), filters)
    sim.venue.on_price(stretch.symbol, first.price, first.ts, first.time)
    sim.book.set_balance(filters.base_asset, position.qty)
    placed = sim.venue.stop_limit(stretch.symbol, stop.qty, stop.stop_price, stop.limit_price,
                                  stop.client_order_id)
    return position, stop.replace(exchange_order_id=placed.exchange_order_id)


# --- driving prices and sampling stops ----------------------------------------------------


@dataclass(slots=True)
class Drive:
    """What one drive measured. Gaps are Decimal basis points; seconds are wall time."""

    gap_sums: list[Decimal]
    samples: list[int]
    missing: list[int]
    # Consecutive samples, so far, whose live stop is further from the §3 stop than one
    # min_move (``slack_bp``): more than the two stops' own hysteresis can explain.
    behind: list[int]
    longest_behind: list[int]  # the longest such run of each pair
    wall_s: float = 0.0
    lateness: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)
    worst_gap: Decimal = Decimal(0)

    def time_averaged(self) -> list[Decimal]:
        """Each sampled pair's time-averaged gap."""
        return [s / n for s, n in zip(self.gap_sums, self.samples, strict=True) if n]

    def minutes_sampled_from(self, q: int) -> list[float]:
        """How long (market minutes) each pair from the ``q``-th percentile (nearest rank) of
        time-averaged gaps up was sampled: short for a pair whose §3 stop triggered early."""
        ranked = sorted((s / n, n) for s, n in zip(self.gap_sums, self.samples, strict=True)
                        if n)
        worst = ranked[max(0, math.ceil(q * len(ranked) / 100) - 1):]
        return [n / PRICES_PER_BAR for _, n in worst]

    def longest_behind_min(self) -> list[float]:
        """Per pair, the longest time (market minutes) its live stop stayed behind: how long
        its moves waited at the Gateway, one after the other."""
        return [n / PRICES_PER_BAR for n in self.longest_behind]


def drive(eng: Engine, runs: Sequence[Stretch], refs: Sequence[Reference], speed: float,
          slack_bp: Decimal) -> Drive:
    """Every price of every stretch, in lock step by market time; a sample before each step."""
    steps = len(runs[0].points)
    step_s = BAR_S / PRICES_PER_BAR / speed  # wall seconds between two prices of a pair
    out = Drive(gap_sums=[Decimal(0)] * len(runs), samples=[0] * len(runs),
                missing=[0] * len(runs), behind=[0] * len(runs),
                longest_behind=[0] * len(runs))
    venue = eng.sim.venue
    feeds = list(zip(runs, eng.targets, strict=True))
    started = time.perf_counter()
    next_load = started
    for k in range(1, steps + 1):
        due = started + k * step_s
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        out.lateness.append(max(0.0, now - due))
        if now >= next_load:
            out.loads.append(os.getloadavg()[0])
            next_load = now + LOAD_EVERY_S
        _sample(eng, runs, refs, k - 1, slack_bp, out)
        if k == steps:
            break
        for stretch, target in feeds:
            point = stretch.points[k]
            venue.on_price(stretch.symbol, point.price, point.ts, point.time)
            deliver(target, point.price, point.ts, point.time)
    out.wall_s = time.perf_counter() - started
    return out


def _sample(eng: Engine, runs: Sequence[Stretch], refs: Sequence[Reference], k: int,
            slack_bp: Decimal, out: Drive) -> None:
    """The live stops on the sim's book against the reference's stops after price ``k``."""
    live = {o.symbol: o.stop_price for o in eng.sim.book.open_orders()
            if o.side is Side.SELL and o.stop_price is not None}
    for i, (stretch, ref) in enumerate(zip(runs, refs, strict=True)):
        if k >= len(ref.stops):
            continue  # the reference's stop has triggered: no ideal stop to compare with
        stop = live.get(stretch.symbol)
        if stop is None:
            out.missing[i] += 1
            continue
        ideal = ref.stops[k]
        gap = abs(ideal - stop) / ideal * BIPS
        out.gap_sums[i] += gap
        out.samples[i] += 1
        if gap > out.worst_gap:
            out.worst_gap = gap
        out.behind[i] = out.behind[i] + 1 if gap > slack_bp else 0
        if out.behind[i] > out.longest_behind[i]:
            out.longest_behind[i] = out.behind[i]


def never_moved(refs: Sequence[Reference]) -> list[Decimal]:
    """The time-averaged gap of a stop left where it was placed, per pair (a baseline)."""
    out = []
    for ref in refs:
        first = ref.stops[0]
        out.append(sum((abs(s - first) / s * BIPS for s in ref.stops), Decimal(0))
                   / len(ref.stops))
    return out
