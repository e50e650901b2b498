"""DB benchmarks (issues 2 and 14), each figure beside its baseline and this disk's limit,
all measured in the same run.

- ``durable_saves_per_s``: ~300-byte positions saved durably (``synchronous=FULL``, the call
  returns once the row is committed) by 64 concurrent writers through the DBWriter
  (``durable``). Baselines: peewee's ``playhouse.sqliteq.SqliteQueueDatabase``, and one commit
  per save. Limit: the same upserts through raw ``sqlite3`` ``executemany`` in one
  transaction (rows/s), with the parameters built beforehand.
- ``ack_latency_p50`` / ``ack_latency_p99``: 1,000 writer threads, each saving its position
  about once a second (a pair whose highest price rises every tick), through the DBWriter.
  Baseline: SqliteQueueDatabase. Limit: one row committed by raw ``sqlite3`` at
  ``synchronous=FULL`` (``BEGIN IMMEDIATE``, upsert, ``COMMIT``), one after the other (the
  target's). Beside it, ``paced_limit``: the same raw commit, one every ``commit_every_ms``,
  the interval between the DBWriter's commits in that run, since a commit after the disk
  idled is slower than one straight after another; and ``one_writer``: the DBWriter's ack
  with a single writer at that pace (no other writer's commit to wait behind).
- ``load_position_p50`` and ``list_orders_by_position_p50`` at 10,000 positions and 100,000
  orders; baselines: peewee's ``Model.get_by_id``, and the same query at schema v1 (before
  ``idx_orders_position``).

Each line carries ``load_1m`` (the load average when it was printed): these machines are shared.
``RATCHET_BENCH_QUICK=1`` shrinks every size (a smoke run; its figures mean little).
``RATCHET_BENCH_DIR`` chooses where the files go (default: the system temp dir); put it on
the disk the engine will use, since durable saves measure that disk's fsync.
"""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from playhouse.sqliteq import SqliteQueueDatabase

from actors.db_writer import DBWriter, durable
from actors.messages import LoadState, Persist
from bench import emit, run_in_workdir
from bench.db_limits import (
    handoff_floor_per_second,
    handoff_microseconds,
    paced,
    raw_commit_latencies,
    raw_executemany_rows_per_second,
)
from core.types import Order, OrderState, OrderType, Position, PositionState, Side
from persistence import migrations
from persistence.db import open_database
from persistence.fields import JsonText
from persistence.models import bind_models
from persistence.repository import Repository, utc_now

BENCH = "db"
QUEUE_DB = "playhouse.sqliteq.SqliteQueueDatabase"


@dataclass(frozen=True, slots=True)
class Sizes:
    save_writers: int = 64
    saves: int = 8000
    latency_writers: int = 1000
    latency_seconds: float = 8.0
    positions: int = 10_000
    orders_per_position: int = 10
    lookups: int = 2000
    unindexed_lookups: int = 40
    raw_commits: int = 3000  # the single-commit limit
    raw_rows: int = 50_000  # the executemany limit (rows in one transaction)
    handoff_rounds: int = 20_000  # lock round trips for one handoff's cost


QUICK = Sizes(save_writers=8, saves=400, latency_writers=50, latency_seconds=2.0,
              positions=500, orders_per_position=10, lookups=200, unindexed_lookups=20,
              raw_commits=300, raw_rows=5000, handoff_rounds=2000)


def position(pid: str, seq: int = 0) -> Position:
    """A live-looking position: its stored JSON ``value`` is about 300 bytes."""
    return Position(
        position_id=pid, symbol="BTCUSDT", state=PositionState.OPEN, qty=Decimal("0.00215"),
        entry_price=Decimal("46319.12"), highest=Decimal(46319 + seq),
        stop=Decimal("45794.23"), limit=Decimal("45565.25"), seq=seq,
    )


def value_bytes(p: Position) -> int:
    return len(JsonText().db_value(p.to_json()).encode())


def order(cid: str, pid: str) -> Order:
    return Order(client_order_id=cid, position_id=pid, symbol="BTCUSDT", side=Side.SELL,
                 type=OrderType.STOP_LOSS_LIMIT, qty=Decimal("0.00215"), state=OrderState.NEW,
                 stop_price=Decimal("45794.23"), limit_price=Decimal("45565.25"))


# --- the three ways to save durably -------------------------------------------------------


class WriterSaver:
    """Through the DBWriter: ``durable(db, Persist(...))`` returns after COMMIT."""

    def __init__(self, path: Path):
        self.ref = DBWriter.start(path, synchronous="FULL")
        self.ref.ask(LoadState(), timeout=60)

    def save(self, p: Position) -> None:
        durable(self.ref, Persist(positions=(p,)), timeout=60)

    def commits(self) -> int:
        return self.ref.proxy().commits.get(timeout=60)

    def close(self) -> None:
        self.ref.stop(timeout=60)


class QueueSaver:
    """peewee's SqliteQueueDatabase: one writer thread, each statement in autocommit; the call
    returns once its statement ran (``lastrowid`` waits for it)."""

    def __init__(self, path: Path):
        open_database(path).close()  # same schema and WAL as ours
        self.db = SqliteQueueDatabase(str(path), pragmas=[("synchronous", "FULL"),
                                                          ("busy_timeout", 5000)],
                                      autostart=True, results_timeout=60)
        self.model = bind_models(self.db).positions

    def save(self, p: Position) -> None:
        m = self.model
        m.insert(position_id=p.position_id, symbol=p.symbol, state=str(p.state),
                 value=p.to_json(), updated_at=utc_now()).on_conflict(
            conflict_target=[m.position_id],
            preserve=[m.symbol, m.state, m.value, m.updated_at]).execute()

    def close(self) -> None:
        self.db.stop()
        self.db.close()


# --- rows for the limits (bench.db_limits) ------------------------------------------------


def _raw_rows(prefix: str, n: int, distinct: int | None = None) -> list[tuple]:
    """Upsert parameters of ``n`` saves (of ``distinct`` positions, cycling), built up front."""
    encode = JsonText().db_value
    now = utc_now()
    distinct = distinct or n
    return [(f"{prefix}{i % distinct}", "BTCUSDT", "OPEN",
             encode(position(f"{prefix}{i % distinct}", i).to_json()), now) for i in range(n)]


def saves_per_second(saver, writers: int, total: int) -> float:
    """``writers`` threads each save their share of distinct positions, waiting for each."""
    per_writer = max(1, total // writers)
    start = threading.Barrier(writers + 1)

    def work(w: int) -> None:
        rows = [position(f"w{w}-{i}", i) for i in range(per_writer)]
        start.wait()
        for p in rows:
            saver.save(p)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    return per_writer * writers / (time.perf_counter() - began)


def commit_per_save_per_second(path: Path, total: int) -> float:
    db = open_database(path, synchronous="FULL")
    repo = Repository(db)
    rows = [position(f"s{i}", i) for i in range(total)]
    began = time.perf_counter()
    for p in rows:
        repo.save_position(p)  # autocommit: one transaction, one fsync, per save
    rate = total / (time.perf_counter() - began)
    db.close()
    return rate


def ack_latencies(save: Callable[[Position], None], writers: int, seconds: float) -> list[float]:
    """Each writer saves its own position at about 1/s until ``seconds`` have passed."""
    latencies: list[list[float]] = [[] for _ in range(writers)]
    deadline = time.monotonic() + seconds

    def work(w: int) -> None:
        rng = random.Random(w)
        time.sleep(rng.uniform(0.0, 1.0))
        seq = 0
        while time.monotonic() < deadline:
            p = position(f"w{w}", seq)
            began = time.perf_counter()
            save(p)
            latencies[w].append(time.perf_counter() - began)
            seq += 1
            time.sleep(rng.uniform(0.5, 1.5))

    stack = threading.stack_size(256 * 1024)
    try:
        threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    finally:
        threading.stack_size(stack)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [x for per in latencies for x in per]


def paced_saves(save: Callable[[Position], None], n: int, every_s: float) -> list[float]:
    """One writer saving one position every ``every_s`` seconds: an ack with nobody else's
    commit to wait behind, at the DBWriter's pace of the 1,000-writer run."""
    out = []
    for seq in paced(n, every_s):
        p = position("alone", seq)
        began = time.perf_counter()
        save(p)
        out.append(time.perf_counter() - began)
    return out


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(calls: list[Callable[[], object]]) -> list[float]:
    out = []
    for call in calls:
        began = time.perf_counter()
        call()
        out.append(time.perf_counter() - began)
    return out


# --- the run --------------------------------------------------------------------------------


def _emit(**fields) -> dict:
    return emit(bench=BENCH, **fields, load_1m=os.getloadavg()[0])


def run(sizes: Sizes, workdir: Path) -> list[dict]:
    records = []
    ms = 1000.0

    # Durable saves/s, beside SqliteQueueDatabase and raw executemany
    writer = WriterSaver(workdir / "saves-writer.db")
    ours = saves_per_second(writer, sizes.save_writers, sizes.saves)
    writer.close()
    queue = QueueSaver(workdir / "saves-queue.db")
    theirs = saves_per_second(queue, sizes.save_writers, sizes.saves)
    queue.close()
    single = commit_per_save_per_second(workdir / "saves-single.db", max(200, sizes.saves // 4))
    limit = raw_executemany_rows_per_second(
        workdir / "raw-many.db", [_raw_rows(f"m{r}-", sizes.raw_rows) for r in range(3)])
    raw = raw_commit_latencies(workdir / "raw-commit.db",
                               _raw_rows("c", sizes.raw_commits, distinct=1000))
    floor = handoff_floor_per_second(sizes.save_writers, sizes.saves, percentile(raw, 0.5))
    common = {"writers": sizes.save_writers, "synchronous": "FULL",
              "value_bytes": value_bytes(position("w12-345", 345))}
    records.append(_emit(metric="durable_saves_per_s", value=ours, unit="saves/s",
                         baseline=theirs, baseline_name=QUEUE_DB, better="higher",
                         limit=limit, limit_name="raw sqlite3 executemany, one transaction",
                         of_limit=ours / limit, target="ratio >= 10 and of_limit >= 0.3",
                         threads_floor=floor, threads_floor_name="bare thread handoffs, one "
                         "raw commit's sleep per group (handoff_floor_per_second)",
                         handoff_us=handoff_microseconds(sizes.handoff_rounds),
                         handoff_us_name="one thread handoff, two threads passing a lock "
                         "(handoff_microseconds)",
                         **common))
    records.append(_emit(metric="durable_saves_per_s", value=ours, unit="saves/s",
                         baseline=single, baseline_name="one commit per save", better="higher",
                         **common))

    # Ack latency under 1,000 writers, beside SqliteQueueDatabase and one raw commit
    writer = WriterSaver(workdir / "latency-writer.db")
    ours_lat = ack_latencies(writer.save, sizes.latency_writers, sizes.latency_seconds)
    every_s = sizes.latency_seconds / max(1, writer.commits())
    alone = paced_saves(writer.save, sizes.raw_commits, every_s)
    writer.close()
    # The same raw commit at the pace the DBWriter committed in that run: between group
    # commits the disk and the CPU idle, and a commit after an idle gap is slower.
    paced = raw_commit_latencies(workdir / "raw-paced.db",
                                 _raw_rows("c", sizes.raw_commits, distinct=1000), every_s)
    queue = QueueSaver(workdir / "latency-queue.db")
    theirs_lat = ack_latencies(queue.save, sizes.latency_writers, sizes.latency_seconds)
    queue.close()
    common = {"writers": sizes.latency_writers, "samples": len(ours_lat),
              "baseline_name": QUEUE_DB, "synchronous": "FULL",
              "limit_name": "one raw sqlite3 commit (BEGIN IMMEDIATE, upsert, COMMIT), "
                            "back to back",
              "paced_limit_name": "the same raw commit, one every commit_every_ms (the "
                                  "DBWriter's own pace in this run)",
              "commit_every_ms": every_s * ms}
    for q, name, target in ((0.5, "ack_latency_p50", 2), (0.99, "ack_latency_p99", 3)):
        value, limit = percentile(ours_lat, q) * ms, percentile(raw, q) * ms
        paced_limit = percentile(paced, q) * ms
        records.append(_emit(metric=name, unit="ms", better="lower", value=value,
                             baseline=percentile(theirs_lat, q) * ms, limit=limit,
                             of_limit=value / limit, target=f"of_limit <= {target}",
                             paced_limit=paced_limit, of_paced_limit=value / paced_limit,
                             one_writer=percentile(alone, q) * ms, **common))

    records.extend(_reads(sizes, workdir / "reads.db"))
    return records


def _reads(sizes: Sizes, path: Path) -> list[dict]:
    db = open_database(path, synchronous="OFF", migrate=False)
    migrations.migrate(db, target=1)  # tables only: the v1 baseline
    repo = Repository(db)
    ids = [f"p{i:05d}" for i in range(sizes.positions)]
    with repo.transaction():
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            repo.apply_batch([Persist(
                positions=tuple(position(pid) for pid in chunk),
                orders=tuple(order(f"{pid}-{k}", pid) for pid in chunk
                             for k in range(sizes.orders_per_position)))])
    rng = random.Random(42)
    picks = [rng.choice(ids) for _ in range(sizes.lookups)]
    v1_orders = timed([lambda pid=pid: repo.list_orders(position_id=pid)
                       for pid in picks[:sizes.unindexed_lookups]])
    migrations.migrate(db)  # v2: the indices
    v2_orders = timed([lambda pid=pid: repo.list_orders(position_id=pid) for pid in picks])
    ours_load = timed([lambda pid=pid: repo.load_position(pid) for pid in picks])
    model = bind_models(db).positions
    orm_load = timed([lambda pid=pid: Position.from_json(model.get_by_id(pid).value)
                      for pid in picks])
    db.close()
    ms = 1000.0
    common = {"positions": sizes.positions,
              "orders": sizes.positions * sizes.orders_per_position}
    return [
        _emit(metric="load_position_p50", unit="ms", better="lower",
             value=statistics.median(ours_load) * ms,
             baseline=statistics.median(orm_load) * ms,
             baseline_name="peewee Model.get_by_id + Position.from_json",
             p99=percentile(ours_load, 0.99) * ms, target="< 0.2 ms", **common),
        _emit(metric="list_orders_by_position_p50", unit="ms", better="lower",
             value=statistics.median(v2_orders) * ms,
             baseline=statistics.median(v1_orders) * ms,
             baseline_name="same query at schema v1 (no idx_orders_position)",
             p99=percentile(v2_orders, 0.99) * ms, target="< 0.5 ms", **common),
    ]


def main() -> None:
    run_in_workdir("db", run, Sizes(), QUICK)


if __name__ == "__main__":
    main()
