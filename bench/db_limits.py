"""The limits the DB figures are set against, measured on the same disk in the same run:
raw ``sqlite3`` with no ORM, no actor and no JSON encoding, and bare Python thread handoffs.

Callers build the rows (``bench.db_bench._raw_rows``): the same ~300-byte positions.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from persistence.db import open_database
from persistence.repository import utc_now

RAW_UPSERT = ("INSERT INTO positions (position_id, symbol, state, value, updated_at) "
              "VALUES (?, ?, ?, ?, ?) ON CONFLICT (position_id) DO UPDATE SET "
              "symbol = excluded.symbol, state = excluded.state, value = excluded.value, "
              "updated_at = excluded.updated_at")


def _raw_connection(path: Path) -> sqlite3.Connection:
    open_database(path).close()  # the same schema, WAL and page size as ours
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def paced(n: int, every_s: float) -> Iterator[int]:
    """``0 .. n-1``, one every ``every_s`` seconds (at once when 0), on a fixed schedule."""
    next_at = time.perf_counter()
    for i in range(n):
        if every_s:
            next_at += every_s
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        yield i


def raw_commit_latencies(path: Path, rows: list[tuple], every_s: float = 0.0) -> list[float]:
    """One row per transaction (``BEGIN IMMEDIATE``, upsert, ``COMMIT``), each with a fresh
    ``updated_at`` as a real save has (its index entry moves every time): one after another,
    or one every ``every_s`` seconds (the disk and the CPU idle between them, as they do
    between an engine's commits)."""
    conn = _raw_connection(path)
    out = []
    for i in paced(len(rows), every_s):
        row = (*rows[i][:4], utc_now())
        began = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(RAW_UPSERT, row)
        conn.execute("COMMIT")
        out.append(time.perf_counter() - began)
    conn.close()
    return out


def raw_executemany_rows_per_second(path: Path, row_sets: list[list[tuple]]) -> float:
    """Each set of upserts through ``executemany`` in one transaction; the best rate."""
    conn = _raw_connection(path)
    best = 0.0
    for rows in row_sets:
        began = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(RAW_UPSERT, rows)
        conn.execute("COMMIT")
        best = max(best, len(rows) / (time.perf_counter() - began))
    conn.close()
    return best


def handoff_floor_per_second(writers: int, total: int, commit_s: float) -> float:
    """What Python threads allow here, with no SQL, JSON, pykka or peewee: ``writers``
    threads each hand a lock through a ``queue.Queue`` to one consumer, which takes all that
    waits, sleeps ``commit_s`` (one commit), then releases them: a group commit's bare
    thread handoffs."""
    inbox: queue.Queue = queue.Queue()

    def consume() -> None:
        while True:
            group = [inbox.get()]
            while not inbox.empty():
                group.append(inbox.get())
            time.sleep(commit_s)
            for lock in group:
                if lock is None:
                    return
                lock.release()

    def produce(n: int) -> None:
        for _ in range(n):
            lock = threading.Lock()
            lock.acquire()
            inbox.put(lock)
            lock.acquire()

    consumer = threading.Thread(target=consume)
    consumer.start()
    per_writer = max(1, total // writers)
    threads = [threading.Thread(target=produce, args=(per_writer,)) for _ in range(writers)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rate = per_writer * writers / (time.perf_counter() - began)
    inbox.put(None)
    consumer.join()
    return rate


def handoff_microseconds(rounds: int = 20_000) -> float:
    """One thread handoff here: two threads passing a lock back and forth, half a round
    trip. Each of a durable save's wake-ups (the writer's reply, the GIL) costs about this;
    on a VM whose idle cores halt (no halt polling) it is tens of microseconds."""
    ping, pong = threading.Lock(), threading.Lock()
    ping.acquire()
    pong.acquire()

    def other() -> None:
        for _ in range(rounds):
            ping.acquire()
            pong.release()

    thread = threading.Thread(target=other)
    thread.start()
    began = time.perf_counter()
    for _ in range(rounds):
        ping.release()
        pong.acquire()
    elapsed = time.perf_counter() - began
    thread.join()
    return elapsed / rounds / 2 * 1e6
