"""How the DBWriter answers a durable write: ``durable``/``write`` (a ``WriteUnit`` carrying
its own future), ``ask(Persist)`` through its ref, and a ``Persist`` sent to the bare pykka ref.

Each test holds SQLite's write lock from another connection where it needs the writer to be
unable to commit, so "answered before COMMIT" would show as an answer while the lock is held.
"""

from __future__ import annotations

import sqlite3
import threading

import pykka
import pytest
from peewee import IntegrityError

from actors.db_writer import DBWriter, DurableWrite, WriterRef, durable, write
from actors.messages import LoadState, Persist, WriteUnit
from persistence.db import open_database
from persistence.repository import Repository
from tests.actors.writer_helpers import write_lock_held, writer_stuck_behind_the_lock
from tests.integration.engine import wait_for
from tests.persistence.helpers import fill, order, position, refuse_poison_rows

TIMEOUT = 15
NOT_YET = 0.3  # long enough for an early answer to show


class FakeMetrics:
    def __init__(self) -> None:
        self.batches: list[int] = []
        self.failures = 0

    def db_commit(self, seconds: float, batch_size: int) -> None:
        self.batches.append(batch_size)

    def db_queue_depth(self, n: int) -> None:
        pass

    def db_failure(self) -> None:
        self.failures += 1


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "writer.db"


def _start(db_path, **kwargs) -> WriterRef:
    ref = DBWriter.start(db_path, **kwargs)
    ref.ask(LoadState(), timeout=TIMEOUT)  # opened
    return ref


def _on_disk(db_path, client_order_id: str) -> bool:
    db = open_database(db_path, readonly=True)
    try:
        return Repository(db).get_order(client_order_id) is not None
    finally:
        db.close()


def _error_of(pending) -> BaseException | None:
    try:
        pending.get(timeout=TIMEOUT)
    except Exception as exc:
        return exc
    return None


def _count_position_writes(db_path) -> None:
    """Every INSERT or UPDATE of a ``positions`` row adds a row to ``position_writes``."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.executescript("""
        CREATE TABLE position_writes (position_id TEXT);
        CREATE TRIGGER count_insert AFTER INSERT ON positions
            BEGIN INSERT INTO position_writes VALUES (NEW.position_id); END;
        CREATE TRIGGER count_update AFTER UPDATE ON positions
            BEGIN INSERT INTO position_writes VALUES (NEW.position_id); END;
    """)
    conn.close()


def _position_writes(db_path, position_id: str) -> int:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT count(*) FROM position_writes WHERE position_id = ?",
                            (position_id,)).fetchone()[0]
    finally:
        conn.close()


def test_durable_returns_only_once_the_unit_is_committed(db_path):
    # Arrange
    ref = _start(db_path)
    returned = threading.Event()

    def save() -> None:
        durable(ref, Persist(orders=(order("rt-p1-1"),)), timeout=TIMEOUT)
        returned.set()

    # Act: the writer cannot commit while another connection holds the write lock
    with write_lock_held(db_path):
        saver = threading.Thread(target=save)
        saver.start()
        answered_while_locked = returned.wait(NOT_YET)
    saver.join(TIMEOUT)

    # Assert
    assert not answered_while_locked
    assert returned.is_set()
    assert _on_disk(db_path, "rt-p1-1")


def test_a_pending_write_is_not_answered_before_commit_and_is_after(db_path):
    # Arrange
    ref = _start(db_path)

    # Act
    with write_lock_held(db_path):
        pending = write(ref, Persist(orders=(order("rt-p1-1"),)))
        with pytest.raises(pykka.Timeout):
            pending.get(timeout=NOT_YET)
    reply = pending.get(timeout=TIMEOUT)

    # Assert
    assert isinstance(pending, DurableWrite)
    assert reply is None
    assert _on_disk(db_path, "rt-p1-1")


def test_every_waiter_of_a_rolled_back_group_gets_the_error_and_later_writes_commit(db_path):
    # Arrange: a real trigger refuses one unit's kv row
    metrics = FakeMetrics()
    ref = _start(db_path, metrics=metrics)
    refuse_poison_rows(db_path)

    # Act: everything sent while the writer is stuck waits for one group
    with writer_stuck_behind_the_lock(ref, db_path):
        pending = [
            write(ref, Persist(orders=(order("good-1"),))),
            write(ref, Persist(orders=(order("bad"),), kv=(("poison", "x"),))),
            ref.ask(Persist(fills=(fill("1"),)), block=False),
        ]
    errors = [_error_of(p) for p in pending]
    durable(ref, Persist(orders=(order("after"),)), timeout=TIMEOUT)

    # Assert
    assert all(isinstance(e, IntegrityError) and "refused by test trigger" in str(e)
               for e in errors)
    assert not _on_disk(db_path, "good-1") and not _on_disk(db_path, "bad")
    assert _on_disk(db_path, "after")
    assert metrics.failures == 1


def test_saves_of_one_position_within_a_group_write_its_row_once(db_path):
    # Arrange
    ref = _start(db_path)
    _count_position_writes(db_path)

    # Act: twenty coalescable saves and a durable one of the same position, in one group
    with writer_stuck_behind_the_lock(ref, db_path):
        for seq in range(1, 21):
            ref.tell(Persist(positions=(position("p1", seq=seq),)))
        last = write(ref, Persist(positions=(position("p1", seq=21),)))
    last.get(timeout=TIMEOUT)

    # Assert
    db = open_database(db_path, readonly=True)
    stored = Repository(db).load_position("p1")
    db.close()
    assert stored.seq == 21
    assert _position_writes(db_path, "p1") == 1


def test_a_pykka_future_carried_in_a_write_unit_is_resolved_after_commit(db_path):
    # Arrange
    ref = _start(db_path)
    done = pykka.ThreadingFuture()

    # Act
    with write_lock_held(db_path):
        ref.tell(WriteUnit(unit=Persist(orders=(order("rt-p1-1"),)), done=done))
        with pytest.raises(pykka.Timeout):
            done.get(timeout=NOT_YET)
    reply = done.get(timeout=TIMEOUT)

    # Assert
    assert reply is None and _on_disk(db_path, "rt-p1-1")


def test_waiters_share_one_commit(db_path):
    # Arrange
    metrics = FakeMetrics()
    ref = _start(db_path, metrics=metrics)

    # Act
    with writer_stuck_behind_the_lock(ref, db_path):
        pending = [write(ref, Persist(orders=(order(f"o{i}"),))) for i in range(50)]
    replies = [p.get(timeout=TIMEOUT) for p in pending]

    # Assert: the blocker's commit, and one for all fifty
    assert replies == [None] * 50
    assert metrics.batches == [1, 50]


def test_a_group_of_blocked_waiters_is_woken_in_turn_and_each_is_answered_after_commit(db_path):
    # Arrange: twenty threads blocked in get(), their units in one group behind the lock
    metrics = FakeMetrics()
    ref = _start(db_path, metrics=metrics)
    answers: dict[int, object] = {}

    def wait(i: int, pending: DurableWrite) -> None:
        answers[i] = (pending.get(timeout=TIMEOUT), _on_disk(db_path, f"turn{i}"))

    # Act
    with writer_stuck_behind_the_lock(ref, db_path):
        pending = [write(ref, Persist(orders=(order(f"turn{i}"),))) for i in range(20)]
        threads = [threading.Thread(target=wait, args=(i, p)) for i, p in enumerate(pending)]
        for t in threads:
            t.start()
        wait_for(lambda: all(p.waiting for p in pending), timeout=TIMEOUT,
                 what="every waiter to block")
        assert answers == {}  # nothing answered while the lock is held
    for t in threads:
        t.join(TIMEOUT)

    # Assert: each returned None and, when it did, found its own row committed
    assert answers == {i: (None, True) for i in range(20)}
    assert metrics.batches == [1, 20]
    ref.stop(timeout=TIMEOUT)


def test_a_persist_sent_to_the_bare_pykka_ref_is_committed_before_the_reply(db_path):
    # Arrange
    ref = _start(db_path)
    bare = ref.ref
    assert isinstance(bare, pykka.ActorRef)
    answered = threading.Event()

    def ask() -> None:
        bare.ask(Persist(orders=(order("rt-p1-1"),)), timeout=TIMEOUT)
        answered.set()

    # Act
    with write_lock_held(db_path):
        asker = threading.Thread(target=ask)
        asker.start()
        answered_while_locked = answered.wait(NOT_YET)
    asker.join(TIMEOUT)

    # Assert
    assert not answered_while_locked
    assert answered.is_set() and _on_disk(db_path, "rt-p1-1")


def test_a_write_to_a_stopped_writer_fails_at_once(db_path):
    # Arrange
    ref = _start(db_path)
    ref.stop(timeout=TIMEOUT)

    # Act / Assert
    with pytest.raises(pykka.ActorDeadError):
        durable(ref, Persist(orders=(order("late"),)), timeout=TIMEOUT)


def test_a_write_queued_behind_the_stop_is_answered_after_the_last_commit(db_path):
    # Arrange
    ref = _start(db_path)

    # Act
    with write_lock_held(db_path):
        ref.tell(WriteUnit(unit=Persist(positions=(position("blocker"),))))
        ref.stop(block=False)
        late = write(ref, Persist(orders=(order("late"),)))

    # Assert: answered, not hung, and on disk; after the stop the lane refuses at once
    late.get(timeout=TIMEOUT)
    assert ref.closed.wait(TIMEOUT)
    with pytest.raises(pykka.ActorDeadError):
        write(ref, Persist(orders=(order("too-late"),)))
    repo = Repository(open_database(db_path))
    assert repo.get_order("late") == order("late")
    assert repo.get_order("too-late") is None
    repo.db.close()


class _SlowToStop(DBWriter):
    """A DBWriter whose ``on_stop`` waits for ``go``: pykka has already marked it stopped
    (its ref refuses messages) while its last flush has not run yet."""

    def __init__(self, *args, go: threading.Event, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.go = go

    def on_stop(self) -> None:
        assert self.go.wait(TIMEOUT)
        super().on_stop()


def test_a_write_in_the_lane_while_pykka_stops_the_writer_is_committed_not_refused(db_path):
    # Arrange
    go = threading.Event()
    ref = _SlowToStop.start(db_path, go=go)
    ref.ask(LoadState(), timeout=TIMEOUT)
    ref.stop(block=False)
    assert ref.ref.actor_stopped.wait(TIMEOUT)  # pykka refuses messages from here on

    # Act: the lane is not shut yet, so the write gets in; its Flush finds the actor dead
    late = write(ref, Persist(orders=(order("in-the-window"),)))
    go.set()

    # Assert: the writer's last take committed it, and the waiter was told so
    late.get(timeout=TIMEOUT)
    repo = Repository(open_database(db_path))
    assert repo.get_order("in-the-window") == order("in-the-window")
    repo.db.close()


class _TellsOutcome:
    """What a non-blocking actor would pass as ``done``: it records the outcome (where an
    actor would ``tell`` itself) on the writer's thread, after the COMMIT."""

    def __init__(self, db_path) -> None:
        self.db_path = db_path
        self.outcomes: list[tuple[str, bool]] = []
        self.called = threading.Event()

    def set(self, value=None) -> None:
        self.outcomes.append(("committed", _on_disk(self.db_path, "rt-p1-1")))
        self.called.set()

    def set_exception(self, exc_info=None) -> None:
        self.outcomes.append(("failed", False))
        self.called.set()


def test_any_object_with_set_can_carry_the_reply_and_runs_after_commit(db_path):
    # Arrange
    ref = _start(db_path)
    done = _TellsOutcome(db_path)

    # Act
    ref.tell(WriteUnit(unit=Persist(orders=(order("rt-p1-1"),)), done=done))

    # Assert: when it ran, another connection already saw the row
    assert done.called.wait(TIMEOUT)
    assert done.outcomes == [("committed", True)]


class _SeesRows:
    """A ``done`` that, when the writer answers it, records which rows another connection
    sees committed."""

    def __init__(self, db_path, ids) -> None:
        self.db_path, self.ids = db_path, ids
        self.seen: dict[str, bool] | None = None

    def set(self, value=None) -> None:
        self.seen = {cid: _on_disk(self.db_path, cid) for cid in self.ids}

    def set_exception(self, exc_info=None) -> None:
        self.seen = {}


def test_the_next_group_begun_before_the_replies_is_answered_only_after_its_own_commit(db_path):
    # Arrange
    ref = _start(db_path)
    first = _SeesRows(db_path, ("first", "second"))

    # Act: "second" waits in the lane while the group of "first" is stuck behind the lock
    with write_lock_held(db_path):
        ref.tell(WriteUnit(unit=Persist(orders=(order("first"),)), done=first))
        wait_for(lambda: len(ref.lane) == 0, timeout=TIMEOUT, what='the writer to take "first"')
        second = write(ref, Persist(orders=(order("second"),)))

    # Assert: when "first" was answered, "second" was begun but not committed; then it was
    second.get(timeout=TIMEOUT)
    assert first.seen == {"first": True, "second": False}
    assert _on_disk(db_path, "second")
    ref.stop(timeout=TIMEOUT)


class _RaisingReply:
    def set(self, value=None) -> None:
        raise RuntimeError("a reply that fails")

    def set_exception(self, exc_info=None) -> None:
        raise RuntimeError("a reply that fails")


def test_a_reply_that_raises_leaves_no_transaction_open_and_the_next_writer_commits(db_path):
    # Arrange: the writer crashes on the reply; the unit waiting behind it was already begun
    ref = _start(db_path)
    with write_lock_held(db_path):
        ref.tell(WriteUnit(unit=Persist(orders=(order("raises"),)), done=_RaisingReply()))
        wait_for(lambda: len(ref.lane) == 0, timeout=TIMEOUT, what="the writer to take it")
        behind = write(ref, Persist(orders=(order("behind"),)))

    # Act: the writer stops on the failure; its last flush commits what it had taken
    behind.get(timeout=TIMEOUT)

    # Assert: both rows are on disk and nothing holds the write lock
    assert _on_disk(db_path, "raises") and _on_disk(db_path, "behind")
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=1)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("ROLLBACK")
    conn.close()
