"""The DBWriter actor on real SQLite files: group commit, durable asks, failures, stop."""

from __future__ import annotations

import sqlite3

import pykka
import pytest
from peewee import IntegrityError

from actors.db_writer import DBWriter
from actors.messages import Flush, GetKv, LoadState, Persist, StoredState
from core.errors import SchemaTooNew
from core.types import OrderState, PositionState
from persistence.db import open_database
from persistence.repository import Repository
from tests.actors.writer_helpers import write_lock_held, writer_stuck_behind_the_lock
from tests.persistence.helpers import file_digests, fill, order, position, refuse_poison_rows

TIMEOUT = 15


class FakeMetrics:
    """Records what the DBWriter reports."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.depths: list[int] = []
        self.failures = 0

    def db_commit(self, seconds: float, batch_size: int) -> None:
        assert seconds >= 0
        self.batches.append(batch_size)

    def db_queue_depth(self, n: int) -> None:
        self.depths.append(n)

    def db_failure(self) -> None:
        self.failures += 1


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "writer.db"


def _start(db_path, **kwargs) -> pykka.ActorRef:
    ref = DBWriter.start(db_path, **kwargs)
    ref.ask(LoadState(), timeout=TIMEOUT)  # opened
    return ref


def _stored(db_path) -> Repository:
    return Repository(open_database(db_path, readonly=True))


def test_an_asked_unit_is_on_disk_when_the_ask_returns(db_path):
    # Arrange
    ref = _start(db_path)
    unit = Persist(orders=(order("rt-p1-1"),), positions=(position("p1"),))

    # Act
    reply = ref.ask(unit, timeout=TIMEOUT)

    # Assert: another connection sees it at once
    repo = _stored(db_path)
    assert reply is None
    assert repo.get_order("rt-p1-1") == order("rt-p1-1")
    assert repo.load_position("p1") == position("p1")
    repo.db.close()


def test_units_waiting_in_the_inbox_commit_as_one_group(db_path):
    # Arrange
    metrics = FakeMetrics()
    ref = _start(db_path, metrics=metrics)

    # Act
    with writer_stuck_behind_the_lock(ref, db_path):
        futures = [ref.ask(Persist(orders=(order(f"o{i}"),)), block=False) for i in range(50)]
    replies = [f.get(timeout=TIMEOUT) for f in futures]

    # Assert: the blocker's commit, then one for everything that waited meanwhile
    assert replies == [None] * 50
    assert metrics.batches == [1, 50]
    assert metrics.depths


def test_a_group_is_capped_at_batch_limit(db_path):
    # Arrange
    metrics = FakeMetrics()
    ref = _start(db_path, metrics=metrics, batch_limit=10)

    # Act
    with write_lock_held(db_path):
        futures = [ref.ask(Persist(orders=(order(f"o{i}"),)), block=False) for i in range(45)]
    for f in futures:
        f.get(timeout=TIMEOUT)

    # Assert
    assert max(metrics.batches) == 10
    assert sum(metrics.batches) == 45


def test_repeated_saves_of_a_position_in_a_group_leave_the_last(db_path):
    # Arrange
    metrics = FakeMetrics()
    ref = _start(db_path, metrics=metrics)

    # Act
    with write_lock_held(db_path):
        for seq in range(1, 21):
            ref.tell(Persist(positions=(position("p1", seq=seq),)))
        barrier = ref.ask(Persist(), block=False)
    barrier.get(timeout=TIMEOUT)

    # Assert
    repo = _stored(db_path)
    assert repo.load_position("p1").seq == 20
    repo.db.close()


def test_a_failed_group_rolls_back_and_every_waiting_ask_gets_the_error(db_path):
    # Arrange: a real trigger refuses one unit's row
    metrics = FakeMetrics()
    ref = _start(db_path, metrics=metrics)
    refuse_poison_rows(db_path)

    # Act
    with writer_stuck_behind_the_lock(ref, db_path):
        good = ref.ask(Persist(orders=(order("good-1"),)), block=False)
        poison = ref.ask(Persist(orders=(order("bad"),), kv=(("poison", "x"),)), block=False)
        also_good = ref.ask(Persist(fills=(fill("1"),)), block=False)
        ref.tell(Persist(orders=(order("told"),)))
    errors = [_error_of(f) for f in (good, poison, also_good)]
    after = ref.ask(Persist(orders=(order("after"),)), timeout=TIMEOUT)

    # Assert: nothing of the failed group is on disk, the writer still serves
    repo = _stored(db_path)
    assert all(isinstance(e, IntegrityError) and "refused by test trigger" in str(e)
               for e in errors)
    assert after is None and repo.get_order("after") is not None
    assert [repo.get_order(cid) for cid in ("good-1", "bad", "told")] == [None] * 3
    assert repo.list_fills() == []
    assert metrics.failures == 1
    assert ref.proxy().failures.get(timeout=TIMEOUT) == 1
    repo.db.close()


def _error_of(future: pykka.Future) -> BaseException | None:
    try:
        future.get(timeout=TIMEOUT)
    except Exception as exc:
        return exc
    return None


def test_stop_commits_everything_received_before_it(db_path):
    # Arrange
    ref = _start(db_path)

    # Act
    for i in range(300):
        ref.tell(Persist(orders=(order(f"o{i}"),), kv=((f"k{i}", str(i)),)))
    ref.stop(timeout=TIMEOUT)

    # Assert
    repo = _stored(db_path)
    assert repo.counts()["orders"] == 300 and repo.counts()["kv"] == 300
    repo.db.close()


def test_an_ask_queued_behind_the_stop_is_committed_before_the_writer_stops(db_path):
    # Arrange
    ref = _start(db_path)

    # Act: the ask gets into the lane while the writer is still busy, before the stop
    with write_lock_held(db_path):
        ref.tell(Persist(positions=(position("blocker"),)))
        ref.stop(block=False)
        late = ref.ask(Persist(orders=(order("late"),)), block=False)

    # Assert: the writer's last flush took it; its answer is the truth on disk
    assert late.get(timeout=TIMEOUT) is None
    repo = _stored(db_path)
    assert repo.get_order("late") == order("late")
    assert repo.load_position("blocker") == position("blocker")
    repo.db.close()


def test_load_state_sees_earlier_tells_and_returns_open_positions_with_their_orders(db_path):
    # Arrange
    ref = _start(db_path)
    ref.tell(Persist(positions=(position("a"), position("b", state=PositionState.FLAT)),
                     orders=(order("oa", pid="a"), order("ob", pid="b"))))
    ref.tell(Persist(orders=(order("oa", pid="a", state=OrderState.NEW),)))

    # Act
    state = ref.ask(LoadState(open_only=True), timeout=TIMEOUT)
    everything = ref.ask(LoadState(open_only=False), timeout=TIMEOUT)

    # Assert
    assert isinstance(state, StoredState)
    assert [p.position_id for p in state.positions] == ["a"]
    assert [(o.client_order_id, o.state) for o in state.orders] == [("oa", OrderState.NEW)]
    assert {o.client_order_id for o in everything.orders} == {"oa", "ob"}


def test_get_kv_returns_the_stored_value_or_none(db_path):
    # Arrange
    ref = _start(db_path)
    ref.tell(Persist(kv=(("reconcile:last", '{"actions": 0}'),)))

    # Act / Assert
    assert ref.ask(GetKv(key="reconcile:last"), timeout=TIMEOUT) == '{"actions": 0}'
    assert ref.ask(GetKv(key="missing"), timeout=TIMEOUT) is None


def test_an_unknown_message_is_refused_and_the_writer_lives_on(db_path):
    # Arrange
    ref = _start(db_path)

    # Act
    with pytest.raises(TypeError, match="does not handle"):
        ref.ask("hello", timeout=TIMEOUT)

    # Assert
    assert ref.ask(Persist(), timeout=TIMEOUT) is None
    ref.tell(Flush())  # an idle Flush is harmless
    assert ref.is_alive()


def test_a_store_that_cannot_be_opened_fails_every_ask_and_stays_untouched(db_path):
    # Arrange: a newer schema
    open_database(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = file_digests(db_path.parent)

    # Act
    ref = DBWriter.start(db_path)

    # Assert
    with pytest.raises(SchemaTooNew):
        ref.ask(LoadState(), timeout=TIMEOUT)
    with pytest.raises(SchemaTooNew):
        ref.ask(Persist(positions=(position("p1"),)), timeout=TIMEOUT)
    ref.stop(timeout=TIMEOUT)
    assert file_digests(db_path.parent) == before


def test_encrypted_store_through_the_writer(db_path):
    # Arrange
    ref = _start(db_path, password="correct horse")

    # Act
    ref.ask(Persist(positions=(position("p1"),)), timeout=TIMEOUT)
    ref.stop(timeout=TIMEOUT)

    # Assert
    db = open_database(db_path, password="correct horse", readonly=True)
    assert Repository(db).load_position("p1") == position("p1")
    db.close()
    assert not db_path.read_bytes().startswith(b"SQLite format 3")
