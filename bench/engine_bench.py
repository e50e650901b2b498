"""Engine benchmarks (issue 3), each figure beside its baseline, measured in the same run.

- ``ingest_prices_per_s``: 1,000 consumers fed the simulated feed's random walks flat out
  through ``actors.feed.deliver``: conflating ``TickSlot``s (one ``PriceReady`` only when the
  slot was empty) against one tell per price (``PerTickSlot``), same prices. Measured with real
  PairActors (``bench.engine_fleet``: OPEN positions, stops that hold, DBWriter, Gateway over a
  PaperExchange) and with a minimal consumer. ``lost_extremes`` counts symbols whose highest
  high or lowest low, as the consumers took them, differs from the prices fed (must be 0).
- ``tick_to_decision_p50`` / ``_p99``: the PairActor's own figure (from ``Tick.received_ns``)
  with the feed paced as a steady stream at half the PairActor conflating maximum just
  measured (the target), and at a quarter and a tenth of it.
- ``rss_per_pair_actor``: in a fresh interpreter (``bench.engine_rss``); baseline: an idle
  pykka actor.
- ``replay_prices_per_s``: ``actors.replay.run_replay`` over the whole BTC file, lock-step;
  baseline: ``core.backtest.simulate`` on the same prices.
- ``orders_per_position_hour``: from that replay's report, against ``naive_engine`` below,
  which sends a cancelReplace on every new high that raises the stop (no min-move step);
  then, through the backtest (equal to the replay), at larger ``min_move_pct``.

``RATCHET_BENCH_QUICK=1`` shrinks every size (a smoke run; its figures mean little).
``RATCHET_BENCH_DIR`` chooses where the temp files go.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import pykka

from actors.messages import GetSnapshot
from actors.replay import run_replay
from bench import emit, run_in_workdir
from bench.db_bench import percentile
from bench.engine_fleet import (
    ASK_TIMEOUT_S,
    START_PRICE,
    Fleet,
    LatencyRecorder,
    PerTickSlot,
    RecordingSlot,
    SlotReader,
    Stream,
    feed_flat_out,
    feed_paced,
    make_stream,
    settle,
    symbols,
    targets_for,
)
from bench.engine_rss import measure_in_subprocess
from core.backtest import Observer, simulate
from core.fill_model import StopState, match_stop, timed_out
from core.prices import PricePoint, read_prices
from core.symbols import paper_filters
from core.trailing import candidate_stop, entry_quantity, levels_at
from core.types import EntryMode, PairSettings

BENCH = "engine"
BTC_CSV = Path(__file__).resolve().parent.parent / "data" / "btc-1m.csv.gz"
PER_TELL = "one tell per price"
KIB = 1024
MS = 1000.0
MIN_MOVE_SWEEP = (Decimal("0.5"), Decimal("1"))


@dataclass(frozen=True, slots=True)
class Sizes:
    pairs: int = 1000
    ingest_rounds: int = 100  # prices per symbol in each ingest run
    repeats: int = 3  # ingest runs of each kind (medians are printed)
    latency_seconds: float = 5.0
    load_fractions: tuple[float, ...] = (0.5, 0.25, 0.1)  # of the measured maximum
    rss_pairs: int = 1000
    replay_prices: int | None = None  # None: the whole file


QUICK = Sizes(pairs=50, ingest_rounds=20, repeats=1, latency_seconds=1.0, load_fractions=(0.5,),
              rss_pairs=50, replay_prices=2000)


def _emit(**fields) -> dict:
    """``bench.emit`` for this benchmark, with the 1-minute load average when the figure is
    taken (``load_1m``): other work on the machine skews every figure here."""
    return emit(bench=BENCH, **fields, load_1m=os.getloadavg()[0])


# --- ingest and latency ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IngestRun:
    prices_per_s: float
    deliveries: int
    lost: int  # symbols whose high or low the consumer never saw


def _ingest_once(fleet: Fleet, stream: Stream, slot_type: type, pairs: bool) -> IngestRun:
    names = symbols(len(fleet.states))
    slots = [slot_type(s) for s in names]
    if pairs:
        fleet.start_pairs(slots, LatencyRecorder())
        consumers = fleet.pairs
    else:
        consumers = [SlotReader.start(s) for s in slots]
    targets = targets_for(slots, consumers)
    began = time.perf_counter()
    feed_flat_out(targets, stream)
    settle(consumers)
    elapsed = time.perf_counter() - began
    lost = sum(1 for s, hi, lo in zip(slots, stream.highs, stream.lows, strict=True)
               if s.seen_high != hi or s.seen_low != lo)
    if pairs:
        lost += _highest_mismatches(consumers, stream)
        fleet.stop_pairs()
    else:
        for ref in consumers:
            ref.stop(block=True, timeout=ASK_TIMEOUT_S)
    return IngestRun(prices_per_s=stream.size / elapsed,
                     deliveries=sum(s.takes for s in slots), lost=lost)


def _highest_mismatches(pairs: list[pykka.ActorRef], stream: Stream) -> int:
    """Pairs whose position's ``highest`` is not max(entry price, highest price fed)."""
    futures = [ref.ask(GetSnapshot(), block=False) for ref in pairs]
    snaps = [f.get(timeout=ASK_TIMEOUT_S) for f in futures]
    return sum(1 for snap, hi in zip(snaps, stream.highs, strict=True)
               if snap["position"].highest != max(START_PRICE, hi))


def ingest(sizes: Sizes, fleet: Fleet) -> tuple[list[dict], float]:
    """Conflating vs one tell per price, minimal consumer and PairActor, each run
    ``sizes.repeats`` times in alternating order (medians printed, every run in ``runs``).
    Returns the records and the PairActor conflating median: the maximum load for the
    latency benchmark."""
    stream = make_stream(sizes.pairs, sizes.ingest_rounds)
    records, lost, max_rate = [], 0, 0.0
    for consumer, pairs in (("SlotReader (minimal)", False), ("PairActor", True)):
        runs: dict[type, list[IngestRun]] = {PerTickSlot: [], RecordingSlot: []}
        for i in range(sizes.repeats):
            order = (PerTickSlot, RecordingSlot) if i % 2 == 0 else (RecordingSlot, PerTickSlot)
            for slot_type in order:
                runs[slot_type].append(_ingest_once(fleet, stream, slot_type, pairs))
        lost += sum(r.lost for rs in runs.values() for r in rs)
        ours, theirs = runs[RecordingSlot], runs[PerTickSlot]
        rate = statistics.median(r.prices_per_s for r in ours)
        if pairs:
            max_rate = rate
        records.append(_emit(
            metric="ingest_prices_per_s", value=rate, unit="prices/s",
            baseline=statistics.median(r.prices_per_s for r in theirs),
            baseline_name=PER_TELL, better="higher", target="ratio >= 2", consumer=consumer,
            actors=sizes.pairs, prices=stream.size,
            deliveries=statistics.median(r.deliveries for r in ours),
            baseline_deliveries=statistics.median(r.deliveries for r in theirs),
            runs=[round(r.prices_per_s) for r in ours],
            baseline_runs=[round(r.prices_per_s) for r in theirs],
            extremes_kept=all(r.lost == 0 for rs in runs.values() for r in rs)))
    records.append(_emit(metric="lost_extremes", value=lost, unit="symbols", baseline=None,
                         better="lower", target="= 0", runs=4 * sizes.repeats,
                         actors=sizes.pairs))
    return records, max_rate


def latency(sizes: Sizes, fleet: Fleet, max_rate: float) -> list[dict]:
    """Tick-to-decision at each of ``sizes.load_fractions`` of ``max_rate`` (the target is at
    0.5): conflating, and one tell per price as the baseline, same prices."""
    records = []
    for fraction in sizes.load_fractions:
        rate = max_rate * fraction
        rounds = max(2, round(rate * sizes.latency_seconds / sizes.pairs))
        stream = make_stream(sizes.pairs, rounds, seed=11)
        ours = _latencies(fleet, stream, RecordingSlot, rate)
        theirs = _latencies(fleet, stream, PerTickSlot, rate)
        common = {"actors": sizes.pairs, "load_fraction": fraction, "load_prices_per_s": rate,
                  "max_prices_per_s": max_rate, "samples": len(ours),
                  "baseline_samples": len(theirs), "baseline_name": PER_TELL}
        target = {"target": "< 5 ms"} if fraction == 0.5 else {}
        records += [
            _emit(metric="tick_to_decision_p50", unit="ms", better="lower",
                  value=percentile(ours, 0.5) * MS, baseline=percentile(theirs, 0.5) * MS,
                  **common),
            _emit(metric="tick_to_decision_p99", unit="ms", better="lower",
                  value=percentile(ours, 0.99) * MS, baseline=percentile(theirs, 0.99) * MS,
                  **target, **common),
        ]
    return records


def _latencies(fleet: Fleet, stream: Stream, slot_type: type, rate: float) -> list[float]:
    """Every decision latency of the pairs, with ``stream`` fed at ``rate`` prices/s."""
    recorder = LatencyRecorder()
    slots = [slot_type(s) for s in symbols(len(fleet.states))]
    fleet.start_pairs(slots, recorder)
    feed_paced(targets_for(slots, fleet.pairs), stream, rate)
    settle(fleet.pairs)
    fleet.stop_pairs()
    return recorder.samples()


# --- memory -----------------------------------------------------------------------------------


def rss(sizes: Sizes) -> list[dict]:
    pair = measure_in_subprocess("pair", sizes.rss_pairs)
    idle = measure_in_subprocess("idle", sizes.rss_pairs)
    return [_emit(metric="rss_per_pair_actor", value=pair["per_actor"] / KIB, unit="KiB",
                  baseline=idle["per_actor"] / KIB, baseline_name="idle pykka actor",
                  better="lower", target="< 64 KiB", actors=sizes.rss_pairs,
                  state="OPEN position, 3 orders, TickSlot, metrics")]


# --- replay and churn -------------------------------------------------------------------------


def replay(points: Sequence[PricePoint], settings: PairSettings) -> list[dict]:
    """Lock-step replay speed against the backtest, then churn from the same replay."""
    began, cpu_began = time.perf_counter(), time.process_time()
    result = run_replay(points, settings)
    replay_s, replay_cpu_s = time.perf_counter() - began, time.process_time() - cpu_began
    began = time.perf_counter()
    reference = simulate(points, settings, paper_filters(settings))
    backtest_s = time.perf_counter() - began
    same = result.to_report() == reference.to_report()
    records = [_emit(metric="replay_prices_per_s", value=len(points) / replay_s,
                     unit="prices/s", baseline=len(points) / backtest_s,
                     baseline_name="core.backtest.simulate", better="higher",
                     target=">= 6000 prices/s", prices=len(points), seconds=replay_s,
                     cpu_seconds=replay_cpu_s, matches_backtest=same)]
    times = {p.time: p.ts for p in points}
    naive = naive_engine(points, settings)
    records.append(_churn(result.orders_sent, result.stop_moves, result.trades, naive, times,
                          min_move_pct=str(settings.min_move_pct), engine="actors.replay"))
    for min_move_pct in MIN_MOVE_SWEEP:  # the knob that sets churn, through the backtest
        tuned = replace(settings, min_move_pct=min_move_pct)
        ref = simulate(points, tuned, paper_filters(tuned))
        records.append(_churn(ref.orders_sent, ref.stop_moves,
                              [t.to_json() for t in ref.trades], naive, times,
                              min_move_pct=str(min_move_pct), engine="core.backtest.simulate"))
    return records


def _churn(orders_sent: int, stop_moves: int, trades: list[dict], naive: NaiveResult,
           times: dict[str, Decimal], **extra) -> dict:
    hours = position_hours(trades, times)
    naive_hours = position_hours(naive.trades, times)
    return _emit(
        metric="orders_per_position_hour", value=orders_sent / hours if hours else 0.0,
        unit="orders/h", baseline=naive.orders_sent / naive_hours if naive_hours else 0.0,
        baseline_name="naive: replace on every new high", better="lower",
        target="ratio <= 0.1", orders_sent=orders_sent, stop_moves=stop_moves,
        position_hours=hours, baseline_orders_sent=naive.orders_sent,
        baseline_stop_moves=naive.stop_moves, baseline_position_hours=naive_hours,
        new_highs=naive.new_highs, **extra)


def position_hours(trades: list[dict], times: dict[str, Decimal]) -> float:
    """Hours spent in a position, from each trade's entry and exit times."""
    seconds = sum((times[t["exit_time"]] - times[t["entry_time"]] for t in trades), Decimal(0))
    return float(seconds / 3600)  # display


@dataclass(slots=True)
class NaiveResult:
    trades: list[dict]
    orders_sent: int = 0
    stop_moves: int = 0
    new_highs: int = 0


def naive_engine(points: Sequence[PricePoint], settings: PairSettings,
                 observe: Observer | None = None) -> NaiveResult:
    """The §3 rules and fill model, except the stop moves (one cancelReplace) on every new
    high that raises it by a tick or more: no ``min_move_pct`` step. Counts orders like
    ``core.backtest``: each market buy, each stop placed or replaced, each timeout sell.
    ``observe`` is called as ``core.backtest.simulate`` calls it."""
    filters = paper_filters(settings)
    result = NaiveResult(trades=[])
    entry: PricePoint | None = None
    highest = Decimal(0)
    stop: StopState | None = None
    last: PricePoint | None = None

    def close(at: PricePoint) -> None:
        result.trades.append({"entry_time": entry.time, "exit_time": at.time})

    for point in points:
        last, price = point, point.price
        if stop is not None:  # 1-2: the exchange matches the stop
            match = match_stop(stop, price, point.ts)
            stop = match.state
            if match.fill_price is not None:
                close(point)
                stop = None
                continue
        if stop is None:  # 3: flat, buy at market
            if settings.entry is EntryMode.ALWAYS:
                entry, highest = point, price
                entry_quantity(price, settings, filters)  # raises below min_notional
                levels = levels_at(price, settings, filters.tick)
                stop = StopState(levels.stop, levels.limit)
                result.orders_sent += 2
                if observe is not None:
                    observe(point, highest, stop.stop)
            continue
        if stop.triggered:  # 4: timeout of a triggered stop, or trail
            if timed_out(stop, point.ts, settings.stop_fill_timeout_s):
                result.orders_sent += 1
                close(point)
                stop = None
            elif observe is not None:
                observe(point, highest, stop.stop)
            continue
        if price > highest:
            highest = price
            result.new_highs += 1
            candidate = candidate_stop(highest, trail_pct=settings.trail_pct, tick=filters.tick)
            if candidate > stop.stop:
                stop = StopState(candidate, levels_at(highest, settings, filters.tick).limit)
                result.orders_sent += 1
                result.stop_moves += 1
        if observe is not None:
            observe(point, highest, stop.stop)
    if stop is not None and last is not None:
        close(last)
    return result


# --- the run --------------------------------------------------------------------------------


def run(sizes: Sizes, workdir: Path) -> list[dict]:
    records = [_emit(metric="load_average_1m", value=os.getloadavg()[0], unit="runnable",
                     baseline=None, better="lower", cpus=os.cpu_count(),
                     note="before the run; each line's load_1m includes this run's threads")]
    fleet = Fleet.open(workdir, sizes.pairs)
    try:
        found, max_rate = ingest(sizes, fleet)
        records += found
        records += latency(sizes, fleet, max_rate)
    finally:
        fleet.close()
    records += rss(sizes)
    points = read_prices(BTC_CSV)
    if sizes.replay_prices is not None:
        points = points[:sizes.replay_prices]
    records += replay(points, PairSettings(symbol="BTCUSDT"))
    return records


def main() -> None:
    run_in_workdir("engine", run, Sizes(), QUICK)


if __name__ == "__main__":
    main()
