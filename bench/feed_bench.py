"""Market-data edge benchmarks (issue 28): ``python -m bench feed``. Every figure is measured in
this run beside the bare reader (``websockets`` asyncio client + ``json.loads``) on the same
generated stream (``bench.feed_generator``, a websocket server in its own process).

- ``reader_msgs_per_s``: one stream of ``flat_messages`` aggTrades over the largest symbol
  set, read flat out by each reader of ``bench.feed_readers``: bare (the baseline),
  python-binance with its queue raised (``max_queue_size`` 10^7) and drained by a dedicated
  task, python-binance as shipped (queue 100: it overflows and drops the socket), the Feed
  before the edge (python-binance, queue raised, then per trade a DTO of Decimals, a ``Tick``
  put and the last-tick gauge), websockets' sans-I/O parser with the edge's trade parser,
  and the edge (into ``TickSlot``s). Each line
  carries ``cpu_us_per_msg`` (process CPU over the read) and its ratio to the bare reader's.
- ``parse_ns``: the edge's trade parser on one aggTrade message, beside ``json.loads``; also
  on a ``@trade`` message (``trade_message_ns``): the stream choice costs nothing per message.
- ``sustained_msgs_per_s``, per pair count: the same flat stream into real PairActors
  (``bench.engine_fleet``: OPEN positions, DBWriter, Gateway), every message counted into
  the slots the pairs take (``lost`` must be 0); baseline: the bare reader's maximum above.
  Target: at least 25 % of it.
- ``burst_lag_p99_ms``, per pair count and rate: ``rate`` messages a second, then ``factor``
  x ``rate`` for ``burst_s`` (a spike high and low per symbol inside it), then ``rate`` again
  for ``tail_s``, into the same PairActors. Value: trade time to the edge's fold, p99 over
  socket reads; baseline: the bare reader's trade time to ``json.loads``, p99 over messages,
  on the same schedule (no pairs). The line carries the goals: ``reconnects`` (edge reconnects
  plus generator cuts, target 0), ``misses`` (symbols whose spike high or low never reached
  the pair, target 0), ``lost`` (messages never folded, target 0), ``tick_to_decision_p99_ms``
  (the PairActors' own figure, target < 50), and ``drain_s`` (burst end until a read's lag is
  under 100 ms again; the next burst comes 25 s after the end of this one), beside
  ``actor_floor_p99_ms``: the PairActors' own tick-to-decision p99 when every pair gets one
  price at once (no socket at all), the least a burst that moves every symbol costs.
- ``before_burst_received_per_s``, per pair count: the Feed before the edge (python-binance
  as shipped, queue 100, a reconnect half a second after each overflow, and its per-trade
  Decimal path into the same PairActors) on the burst schedule at the lowest rate: messages
  received a second against those sent, overflows, misses. What issue 28 measured.
- ``boot_s`` and ``restart_s`` at 1,500 and 3,000 positions (``bench.feed_boot``).

``RATCHET_BENCH_QUICK=1`` shrinks every size (a smoke run; its figures mean little).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import timeit
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from actors.conflation import iso_ms
from actors.feed import FeedSink, Target, deliver
from bench import emit, feed_readers, run_in_workdir
from bench.db_bench import percentile
from bench.engine_fleet import Fleet, LatencyRecorder, RecordingSlot, symbols
from bench.feed_boot import boot_and_restart
from exchange.binance.trade_parse import TradeParser

BENCH = "feed"
REPO = Path(__file__).resolve().parent.parent
DRAINED_MS = 100


@dataclass(frozen=True, slots=True)
class Sizes:
    pairs: tuple[int, ...] = (400, 1500)
    rates: tuple[int, ...] = (2000, 5000, 10000, 20000)
    factor: int = 10
    lead_s: float = 2.0
    burst_s: float = 5.0
    tail_s: float = 5.0
    flat_messages: int = 200_000
    boot_positions: tuple[int, ...] = (1500, 3000)


QUICK = Sizes(pairs=(40,), rates=(2000,), lead_s=0.5, burst_s=1.0, tail_s=2.0,
              flat_messages=20_000, boot_positions=(40,))


def _emit(**fields) -> dict:
    return emit(bench=BENCH, **fields, load_1m=os.getloadavg()[0])


class Generator:
    """``bench.feed_generator`` in a subprocess, driven by JSON lines."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.feed_generator"], cwd=REPO,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONPATH": str(REPO)})
        self.port = json.loads(self.proc.stdout.readline())["port"]

    def ask(self, cmd: str, **args) -> dict:
        self.proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        try:
            self.proc.stdin.write('{"cmd": "quit"}\n')
            self.proc.stdin.flush()
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


class CountingSlot(RecordingSlot):
    """A ``RecordingSlot`` that also counts the trades it handed out."""

    __slots__ = ("counted",)

    def __init__(self, symbol: str) -> None:
        super().__init__(symbol)
        self.counted = 0

    def take(self):
        tick = super().take()
        if tick is not None:
            self.counted += tick.count
        return tick


# --- readers, flat out ------------------------------------------------------------------------


def readers(sizes: Sizes, gen: Generator) -> float:
    """Every reader on the same flat stream; returns the bare reader's messages per second."""
    names = symbols(max(sizes.pairs))
    runs = [("bare", lambda: feed_readers.bare(gen.port, names)),
            ("python-binance, queue raised", lambda: feed_readers.python_binance(
                gen.port, names, 10**7)),
            ("python-binance, queue 100", lambda: feed_readers.python_binance(
                gen.port, names, 100)),
            ("before: python-binance, queue raised, per-trade Decimal path",
             lambda: feed_readers.python_binance(gen.port, names, 10**7, per_trade=True)),
            ("websockets sans-I/O + trade parser", lambda: feed_readers.sans_io(gen.port, names)),
            ("edge", lambda: feed_readers.edge(gen.port, names)[0])]
    bare = None
    for name, start in runs:
        reader = start()
        reader.ready.wait(30)
        gen.ask("wait", streams=len(names))
        gen.ask("flat", messages=sizes.flat_messages)
        reading = reader.wait(sizes.flat_messages, timeout_s=max(60, sizes.flat_messages / 5000))
        gen.ask("open_clients", timeout_s=10)  # the client gone before the next one
        if bare is None:
            bare = reading
        _emit(metric="reader_msgs_per_s", value=reading.per_s, unit="msg/s",
              baseline=bare.per_s, better="higher", reader=name, messages=reading.messages,
              sent=sizes.flat_messages, cpu_us_per_msg=reading.cpu_us,
              cpu_ratio=reading.cpu_us / bare.cpu_us, failures=sorted(set(reading.failures)),
              symbols=len(names))
    parser = TradeParser()
    message = (b'{"stream":"p0001usdt@aggTrade","data":{"e":"aggTrade","E":1700000000000,'
               b'"s":"P0001USDT","a":1,"p":"100.01","q":"1.00000000","f":1,"l":1,'
               b'"T":1700000000000,"m":false,"M":true}}')
    trade = (b'{"stream":"p0001usdt@trade","data":{"e":"trade","E":1700000000000,'
             b'"s":"P0001USDT","t":1,"p":"100.01","q":"1.00000000","T":1700000000000,'
             b'"m":false,"M":true}}')
    parser.slow(message)
    trade_parser = TradeParser()
    trade_parser.slow(trade)
    n = 100_000
    fast = min(timeit.repeat(lambda: parser.trade(message), number=n, repeat=3)) / n * 1e9
    slow = min(timeit.repeat(lambda: json.loads(message), number=n, repeat=3)) / n * 1e9
    of_trade = min(timeit.repeat(lambda: trade_parser.trade(trade), number=n, repeat=3)) / n
    _emit(metric="parse_ns", value=fast, unit="ns", baseline=slow, better="lower",
          baseline_is="json.loads of the same aggTrade message",
          trade_message_ns=of_trade * 1e9, aggtrade_bytes=len(message), trade_bytes=len(trade))
    return bare.per_s


# --- into PairActors ------------------------------------------------------------------------


def _with_pairs(fleet: Fleet, n: int) -> tuple[list[CountingSlot], LatencyRecorder, FeedSink]:
    slots = [CountingSlot(s) for s in symbols(n)]
    recorder = LatencyRecorder()
    fleet.start_pairs(slots, recorder)
    sink = FeedSink({s.symbol: Target(slot=s, consumer=p) for s, p in
                     zip(slots, fleet.pairs, strict=True)})
    return slots, recorder, sink


def _taken(slots: list[CountingSlot], total: int, idle_s: float = 3.0) -> int:
    """Wait until the pairs took ``total`` trades, or took none for ``idle_s``."""
    taken, since = -1, time.monotonic()
    while True:
        now_taken = sum(s.counted for s in slots)
        if now_taken >= total:
            return now_taken
        if now_taken != taken:
            taken, since = now_taken, time.monotonic()
        elif time.monotonic() - since > idle_s:
            return now_taken
        time.sleep(0.05)


def actor_floor(fleet: Fleet, n: int) -> float:
    """The PairActors' own tick-to-decision p99 (ms) when every pair gets a price at once:
    the least a burst that moves every symbol can cost, whatever reads the socket."""
    slots, recorder, sink = _with_pairs(fleet, n)
    ms = str(int(time.time() * 1000)).encode()
    samples: list[float] = []
    for price in (b"100.01", b"100.02", b"99.99"):
        for pair in recorder.recorders.values():
            pair.latencies.clear()
        received_ns = time.perf_counter_ns()
        ready = [s.symbol.encode() for s in slots if s.put_text(price, ms, received_ns)]
        sink.ready(ready)
        _taken(slots, sum(s.counted for s in slots) + len(slots), idle_s=10)
        time.sleep(0.2)
        samples += recorder.samples()
    return percentile(samples, 99) * 1000


def sustained(sizes: Sizes, gen: Generator, fleet: Fleet, n: int, bare_max: float) -> None:
    slots, recorder, sink = _with_pairs(fleet, n)
    reader, counter = feed_readers.edge(gen.port, symbols(n), sink)
    reader.ready.wait(30)
    gen.ask("wait", streams=n)
    gen.ask("flat", messages=sizes.flat_messages)
    reading = reader.wait(sizes.flat_messages, timeout_s=max(60, sizes.flat_messages / 5000))
    _taken(slots, sizes.flat_messages)
    gen.ask("open_clients", timeout_s=10)
    taken = sum(s.counted for s in slots)
    latencies = recorder.samples()
    _emit(metric="sustained_msgs_per_s", value=reading.per_s, unit="msg/s", baseline=bare_max,
          better="higher", target=">= 0.25 x bare", pairs=n, messages=reading.messages,
          lost=sizes.flat_messages - taken, reconnects=len(counter.reconnects),
          deliveries=sum(s.takes for s in slots),
          tick_to_decision_p99_ms=percentile(latencies, 99) * 1000 if latencies else None,
          cpu_us_per_msg=reading.cpu_us)


def _burst_args(sizes: Sizes, rate: int) -> dict:
    return {"rate": rate, "factor": sizes.factor, "lead_s": sizes.lead_s,
            "burst_s": sizes.burst_s, "tail_s": sizes.tail_s}


def bare_burst(sizes: Sizes, gen: Generator, rate: int) -> dict:
    """The bare reader on the burst schedule (the largest symbol set)."""
    names = symbols(max(sizes.pairs))
    reader = feed_readers.bare(gen.port, names, lags=True)
    reader.ready.wait(30)
    gen.ask("wait", streams=len(names))
    sent = gen.ask("burst", **_burst_args(sizes, rate))
    reading = reader.wait(sent["sent"], timeout_s=120)
    gen.ask("open_clients", timeout_s=10)
    return {"lag_p99_ms": percentile(reading.lags_ms, 99) if reading.lags_ms else None,
            "lost": sent["sent"] - reading.messages, "cut": sent["cut"]}


def before_burst(sizes: Sizes, gen: Generator, fleet: Fleet, n: int, rate: int) -> None:
    """The Feed before the edge on the burst schedule, into the same PairActors: python-binance
    as shipped (queue 100, a reconnect after each overflow) and the per-trade Decimal path
    (``actors.feed.deliver`` of a ``Tick`` per trade). What issue 28 measured."""
    slots, _, _ = _with_pairs(fleet, n)
    targets = {s.symbol: Target(slot=s, consumer=p) for s, p in
               zip(slots, fleet.pairs, strict=True)}

    def old_deliver(symbol: str, price, ts, ms: int) -> None:
        deliver(targets[symbol], price, ts, iso_ms(ms))

    reader = feed_readers.python_binance(gen.port, symbols(n), 100, per_trade=True,
                                         deliver=old_deliver, reconnect=True)
    reader.ready.wait(30)
    gen.ask("wait", streams=n)
    sent = gen.ask("burst", **_burst_args(sizes, rate))
    reading = reader.wait(sent["sent"], timeout_s=3)
    gen.ask("open_clients", timeout_s=10)
    _taken(slots, reading.messages)
    by_symbol = {s.symbol: s for s in slots}
    misses = sum(1 for sym, high in sent["highs"].items()
                 if by_symbol[sym].seen_high != Decimal(high)
                 or by_symbol[sym].seen_low != Decimal(sent["lows"][sym]))
    seconds = sizes.lead_s + sizes.burst_s + sizes.tail_s
    _emit(metric="before_burst_received_per_s", value=reading.messages / seconds,
          unit="msg/s", baseline=sent["sent"] / seconds, better="higher", pairs=n, rate=rate,
          burst_rate=rate * sizes.factor, sent=sent["sent"], received=reading.messages,
          overflows=reading.failures.count("BinanceWebsocketQueueOverflow"), misses=misses,
          failures=sorted(set(reading.failures)),
          cut=sent["cut"], baseline_is="messages sent a second")


def burst(sizes: Sizes, gen: Generator, fleet: Fleet, n: int, rate: int, bare: dict,
          floor_ms: float) -> None:
    slots, recorder, sink = _with_pairs(fleet, n)
    reader, counter = feed_readers.edge(gen.port, symbols(n), sink)
    reader.ready.wait(30)
    gen.ask("wait", streams=n)
    for pair in recorder.recorders.values():  # decisions from here on
        pair.latencies.clear()
    sent = gen.ask("burst", **_burst_args(sizes, rate))
    _taken(slots, sent["sent"])
    reader.wait(sent["sent"], timeout_s=1)
    gen.ask("open_clients", timeout_s=10)
    by_symbol = {s.symbol: s for s in slots}
    misses = sum(1 for sym, high in sent["highs"].items()
                 if by_symbol[sym].seen_high != Decimal(high)
                 or by_symbol[sym].seen_low != Decimal(sent["lows"][sym]))
    lost = sum(abs(count - by_symbol[sym].counted) for sym, count in sent["per_symbol"].items())
    lags_ms = [x * 1000 for x in counter.lags_s]
    burst_end = sizes.lead_s + sizes.burst_s
    latencies = recorder.samples()
    _emit(metric="burst_lag_p99_ms", value=percentile(lags_ms, 99), unit="ms",
          baseline=bare["lag_p99_ms"], better="lower", pairs=n, rate=rate,
          burst_rate=rate * sizes.factor, burst_s=sizes.burst_s, sent=sent["sent"],
          reconnects=len(counter.reconnects) + sent["cut"], misses=misses, lost=lost,
          no_spike=len(sent["no_spike"]),
          tick_to_decision_p50_ms=statistics.median(latencies) * 1000 if latencies else None,
          tick_to_decision_p99_ms=percentile(latencies, 99) * 1000 if latencies else None,
          actor_floor_p99_ms=floor_ms, lag_max_ms=max(lags_ms) if lags_ms else None,
          drain_s=_drain_s(counter.lag_times, burst_end),
          deliveries=sum(s.takes for s in slots), bare_lost=bare["lost"], bare_cut=bare["cut"],
          generator_build_max_s=sent["build_s_max"])


def _drain_s(lag_times: list[tuple[float, float]], burst_end_s: float) -> float | None:
    """Seconds from the burst's end until the first read lagging under ``DRAINED_MS``."""
    if not lag_times:
        return None
    start = lag_times[0][0]
    for at, lag_s in lag_times:
        if at - start >= burst_end_s and lag_s * 1000 < DRAINED_MS:
            return max(0.0, at - start - burst_end_s)
    return None


def run(sizes: Sizes, workdir: Path) -> list[dict]:
    gen = Generator()
    try:
        bare_max = readers(sizes, gen)
        bares = {rate: bare_burst(sizes, gen, rate) for rate in sizes.rates}
        for n in sizes.pairs:
            directory = workdir / f"fleet-{n}"
            directory.mkdir()
            fleet = Fleet.open(directory, n)
            try:
                floor_ms = actor_floor(fleet, n)
                before_burst(sizes, gen, fleet, n, min(sizes.rates))
                sustained(sizes, gen, fleet, n, bare_max)
                for rate in sizes.rates:
                    burst(sizes, gen, fleet, n, rate, bares[rate], floor_ms)
            finally:
                fleet.close()
    finally:
        gen.close()
    for positions in sizes.boot_positions:
        boot_and_restart(positions, workdir, _emit)
    return []


def main() -> None:
    run_in_workdir("feed", run, Sizes(), QUICK)


if __name__ == "__main__":
    main()
