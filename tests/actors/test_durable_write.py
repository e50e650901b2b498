"""``DurableWrite``: the reply a durable write waits on, and a group's waiters woken in turn.

``wake_in_turn`` answers a committed group: it wakes the first blocked waiter and each wakes
the next. These tests check the outcomes that must hold whatever the order of wake-ups: every
answered waiter returns with its outcome, including when a link of the chain is missing (a
waiter that gave up, or a write nobody waits for), and ``closed`` never turns an answered
write into an error. The speed-up itself is a figure of ``python -m bench db``.
"""

from __future__ import annotations

import threading

import pykka
import pytest

from actors.db_writer import DurableWrite
from tests.integration.engine import wait_for

TIMEOUT = 15


class Waiter:
    """A thread blocked in ``get()`` on one write; records what it returned or raised."""

    def __init__(self, pending: DurableWrite, timeout: float | None = TIMEOUT):
        self.pending = pending
        self.outcome: object = "still waiting"
        self.thread = threading.Thread(target=self._run, args=(timeout,), daemon=True)
        self.thread.start()
        wait_for(lambda: pending.waiting, timeout=TIMEOUT, what="the waiter to block")

    def _run(self, timeout: float | None) -> None:
        try:
            self.outcome = self.pending.get(timeout)
        except BaseException as exc:  # the test reads it
            self.outcome = exc

    def result(self) -> object:
        self.thread.join(TIMEOUT)
        return self.outcome


def _waiting_but_gone(closed: threading.Event) -> DurableWrite:
    """A write whose waiter was linked into a turn and then left (it gave up just then)."""
    pending = DurableWrite(closed)
    pending.waiting = True
    return pending


def test_every_waiter_of_a_group_woken_in_turn_returns_once_answered():
    # Arrange
    closed = threading.Event()
    waiters = [Waiter(DurableWrite(closed)) for _ in range(40)]

    # Act
    DurableWrite.wake_in_turn([w.pending for w in waiters])

    # Assert: each returned None; a lock released twice would have raised in its waiter
    assert [w.result() for w in waiters] == [None] * 40
    assert [w.pending.get(timeout=0) for w in waiters] == [None] * 40  # and again at once


def test_a_waiter_that_left_in_the_middle_of_a_turn_does_not_strand_the_ones_after_it():
    # Arrange
    closed = threading.Event()
    first = Waiter(DurableWrite(closed))
    gone = _waiting_but_gone(closed)
    last = [Waiter(DurableWrite(closed)) for _ in range(3)]

    # Act
    DurableWrite.wake_in_turn([first.pending, gone, *(w.pending for w in last)])

    # Assert
    assert first.result() is None
    assert [w.result() for w in last] == [None] * 3


def test_a_write_nobody_waits_for_is_answered_directly_and_holds_up_no_turn():
    # Arrange
    closed = threading.Event()
    unawaited = DurableWrite(closed)
    waiter = Waiter(DurableWrite(closed))

    # Act
    DurableWrite.wake_in_turn([unawaited, waiter.pending])

    # Assert
    assert unawaited.get(timeout=0) is None
    assert waiter.result() is None


def test_a_waiter_that_timed_out_is_answered_later_without_a_turn():
    # Arrange
    closed = threading.Event()
    pending = DurableWrite(closed)
    with pytest.raises(pykka.Timeout):
        pending.get(timeout=0.01)

    # Act
    DurableWrite.wake_in_turn([pending])

    # Assert
    assert pending.waiting is False
    assert pending.get(timeout=0) is None


def test_an_answered_write_whose_turn_has_not_come_is_not_failed_by_the_writer_closing():
    # Arrange: answered, but the waiter before it never woke it; then the writer closed
    closed = threading.Event()
    head = _waiting_but_gone(closed)
    waiter = Waiter(DurableWrite(closed))

    # Act
    DurableWrite.wake_in_turn([head, waiter.pending])
    closed.set()

    # Assert
    assert waiter.result() is None


def test_a_write_never_answered_fails_once_the_writer_has_closed():
    # Arrange
    closed = threading.Event()
    waiter = Waiter(DurableWrite(closed))

    # Act
    closed.set()

    # Assert
    assert isinstance(waiter.result(), pykka.ActorDeadError)


def test_every_waiter_of_a_failed_group_gets_its_error():
    # Arrange
    closed = threading.Event()
    waiters = [Waiter(DurableWrite(closed)) for _ in range(5)]
    error = RuntimeError("rolled back")

    # Act
    for w in waiters:
        w.pending.set_exception((RuntimeError, error, None))

    # Assert
    assert [w.result() for w in waiters] == [error] * 5
