"""Holding the DBWriter where a test needs it: behind SQLite's write lock, taken by another
connection, so "answered before COMMIT" or "split into two groups" would show."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from actors.messages import Persist
from tests.integration.engine import wait_for
from tests.persistence.helpers import position

TIMEOUT = 15


@contextmanager
def write_lock_held(db_path) -> Iterator[None]:
    """Another connection holds SQLite's write lock: the writer's next BEGIN IMMEDIATE waits."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


@contextmanager
def writer_stuck_behind_the_lock(ref, db_path) -> Iterator[None]:
    """The writer has taken a ``blocker`` position's save and waits for the write lock.

    Everything sent inside the block waits in the lane and, once the lock is released, is
    committed as one group after the blocker's own. Without waiting for the writer to take
    the blocker, the first units sent could join the blocker's group or not, by thread timing.
    """
    with write_lock_held(db_path):
        ref.tell(Persist(positions=(position("blocker"),)))
        wait_for(lambda: len(ref.lane) == 0, timeout=TIMEOUT, what="the writer to take it")
        yield  # it has, and waits on BEGIN
