"""The DBWriter: the one owner of the SQLite write connection (DESIGN.md §2 and §5).

It opens the store in ``on_start``, on its own thread. Every write is a ``Persist`` unit.

Group commit: a ``Persist`` sent through the ref ``DBWriter.start`` returns (``WriterRef``)
waits in the writer's lane (``WriteLane``: a list under a lock, beside pykka's inbox), and the
first unit of an empty lane tells the writer one ``Flush``. On it, the writer takes every unit
that waits and commits them in one ``BEGIN IMMEDIATE`` transaction, with repeated saves of a
position (order, kv key) collapsed to the last; units that arrive during that commit wait for
the next one, which the first of them has already asked for. A batch is capped at
``batch_limit`` units. Reads (``LoadState``, ``GetKv``) commit the lane first, so they see
every earlier write. The lane costs a unit one list append instead of a pykka message: with 64
writers the inbox's ``queue.Queue`` and the per-message actor loop were a tenth of each save
(``python -m bench db``). All of a sender's units go through the lane, durable or not, so they
commit in the order it sent them.

Replies after COMMIT, with pykka's public API only: a durable write carries its own reply
(``done``), which the writer resolves after the COMMIT that includes the unit, or with the
exception that rolled it back, for every waiter of the group. ``durable(db, unit, timeout)``
sends one and waits; ``write(db, unit)`` returns the ``DurableWrite`` to wait on later. ``done``
may also be a ``pykka.ThreadingFuture`` (a ``WriteUnit`` told to the ref). ``WriterRef`` keeps
``ask(Persist)`` meaning the same thing (a durable write in the group commit) and sends
``tell(Persist)`` without a reply, which may be coalesced. On stop the writer shuts the lane
and commits what it holds: a unit that got into the lane is committed and answered, one sent
after raises ``pykka.ActorDeadError`` at once. A waiter also learns that the writer died
without its unit from ``closed``, an event the writer sets once its last flush has answered
everything it took.

A ``Persist`` or ``WriteUnit`` that reaches the actor itself (through a ref from
``pykka.ActorRegistry``, say) commits at once, with whatever waits in the lane, before the
writer handles anything else: an ask of it is answered after COMMIT, never before.

Failures: the transaction rolls back, every waiter gets the exception, the failure is counted
(``failures``, ``metrics.db_failure()``), units of that batch told without a waiter are logged
as lost, and the writer keeps serving.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pykka
from peewee import PeeweeException

from actors.messages import (
    Flush,
    GetKv,
    GetKvPrefix,
    GetRealizedPnl,
    KnownOrderIds,
    LoadState,
    Persist,
    StoredState,
    WriteUnit,
    describe,
)
from core.errors import StoreError
from persistence.db import open_database
from persistence.repository import Repository

logger = logging.getLogger(__name__)

_ASKER = object()  # the ``done`` of a Persist sent to the actor itself: its ask gets the error
_POLL_S = 0.05  # how often a waiter checks that the writer has not stopped without its unit


class DurableWrite:
    """The answer to one durable write: ``get`` returns once the unit is committed.

    The writer resolves it like a pykka future (``set``, ``set_exception``); it is a bare lock
    rather than a ``pykka.ThreadingFuture`` because a waiter then sleeps and wakes in C, with
    no Python ``Condition`` around it: about a quarter more durable saves/s with 64 writers
    (``python -m bench db``). ``get`` raises the exception that rolled the unit's transaction
    back, ``ActorDeadError`` when the writer stopped before taking the unit, and
    ``pykka.Timeout`` when ``timeout`` passed first (the unit may still commit later).

    ``answered`` is the outcome's flag; the lock only wakes the waiter. A group's waiters are
    woken in turn (``wake_in_turn``): the writer wakes the first, and each wakes the next
    once it holds the GIL, so about two threads want the GIL at a time instead of the whole
    group (64 writers: a third more saves/s, and 1.8 voluntary context switches a save
    instead of 2.6; README, "Saves, waking in turn"). A waiter never woken by the one before
    it (that one gave up on its timeout just then) sees ``answered`` on its next poll, within
    ``_POLL_S``.
    """

    __slots__ = ("_closed", "_error", "_lock", "_next", "answered", "waiting")

    def __init__(self, closed: threading.Event):
        self._lock = threading.Lock()
        self._lock.acquire()  # released once: by set(), set_exception() or the waiter before
        self._error: BaseException | None = None
        self._closed = closed  # set by the writer once its last flush has answered everyone
        self._next: list[DurableWrite] | None = None  # the waiter this one wakes, popped once
        self.answered = False
        self.waiting = False  # a thread is (about to be) blocked in get()

    def set(self, value: None = None) -> None:
        self.answered = True
        self._lock.release()

    def set_exception(self, exc_info: Any = None) -> None:
        self._error = (exc_info or sys.exc_info())[1]
        self.answered = True
        self._lock.release()

    @staticmethod
    def wake_in_turn(writes: list[DurableWrite]) -> None:
        """Answer ``writes`` (committed, no error): each one's waiter wakes the next's."""
        head = last = None
        for pending in writes:
            if not pending.waiting:  # nobody to wake it yet: its get() returns at once
                pending.set()
                continue
            pending.answered = True
            if last is None:
                head = pending
            else:
                last._next = [pending]
            last = pending
        if head is not None:
            head._lock.release()

    def get(self, timeout: float | None = None) -> None:
        if not self.answered:
            self.waiting = True
            first = _POLL_S if timeout is None else min(timeout, _POLL_S)
            if not self._lock.acquire(timeout=first):  # mostly answered within one poll
                self._wait(None if timeout is None else timeout - first)
        after = self._next
        if after:
            try:  # noqa: SIM105 (not contextlib.suppress: a context manager on every save)
                after.pop()._lock.release()  # popped once: the next waiter wakes once
            except IndexError:
                pass
        if self._error is not None:
            raise self._error

    def _wait(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.answered:
            # Every unit the writer took is answered before ``closed`` is set; one it never
            # took (the writer died first) never is.
            if self._closed.is_set() and not self.answered:
                raise pykka.ActorDeadError("the DBWriter stopped before taking the unit")
            wait = _POLL_S
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    self.waiting = False  # the writer answers it without a turn from now
                    if self.answered:
                        break
                    raise pykka.Timeout(f"{timeout} seconds")
            self._lock.acquire(timeout=wait)


class WriteLane:
    """Where units wait for the DBWriter: ``(unit, done)`` pairs in a list under a lock.

    ``put`` says whether the writer must be told to take them (the lane was empty and no
    ``Flush`` is on its way); ``take`` hands over everything waiting. ``shut`` is the writer's
    last take: a later ``put`` raises ``ActorDeadError``. ``closed`` is set once the writer
    has answered everything it took.
    """

    __slots__ = ("_items", "_lock", "_shut", "_told", "closed")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[Persist, Any]] = []
        self._told = False  # a Flush is on its way and has not taken the lane yet
        self._shut = False
        self.closed = threading.Event()

    def put(self, unit: Persist, done: Any) -> bool:
        with self._lock:
            if self._shut:
                raise pykka.ActorDeadError("the DBWriter has stopped")
            self._items.append((unit, done))
            if self._told:
                return False
            self._told = True
            return True

    def take(self) -> list[tuple[Persist, Any]]:
        with self._lock:
            items, self._items = self._items, []
            self._told = False
        return items

    def shut(self) -> list[tuple[Persist, Any]]:
        with self._lock:
            self._shut = True
            items, self._items = self._items, []
        return items

    def __len__(self) -> int:
        return len(self._items)


def write(db: WriterRef, unit: Persist) -> DurableWrite:
    """Send ``unit`` to the DBWriter ``db`` (the ref ``DBWriter.start`` returned) for its next
    group commit; wait for it with ``.get(timeout)``. ``ActorDeadError`` if it has stopped."""
    if type(db) is not WriterRef:
        raise TypeError(f"a durable write needs the ref DBWriter.start returned, not {db!r}")
    pending = DurableWrite(db.lane.closed)
    db.send(unit, pending)
    return pending


def durable(db: WriterRef, unit: Persist, timeout: float | None = None) -> None:
    """Write ``unit`` through the DBWriter ``db``; return once it is on disk.

    Raises the error that rolled its transaction back, ``pykka.ActorDeadError`` if the writer
    is gone, ``pykka.Timeout`` after ``timeout`` seconds.
    """
    write(db, unit).get(timeout)


class WriterRef:
    """The DBWriter's ref: pykka's ``ActorRef`` (``ref``) and the writer's ``WriteLane``.

    ``Persist`` and ``WriteUnit`` go through the lane: ``ask(Persist(...))`` returns once it is
    committed (``block=False``: a ``DurableWrite``), ``tell(Persist(...))`` may be coalesced.
    Everything else is pykka's."""

    __slots__ = ("lane", "ref")

    def __init__(self, ref: pykka.ActorRef[Any], lane: WriteLane):
        self.ref = ref
        self.lane = lane

    @property
    def closed(self) -> threading.Event:
        return self.lane.closed

    def send(self, unit: Persist, done: Any = None) -> None:
        """Put ``unit`` in the lane; tell the writer when it must come for it."""
        if self.lane.put(unit, done):
            # pykka marks the actor stopped before its on_stop runs: a unit that got into the
            # lane before the writer shut it is committed and answered by that last take.
            with contextlib.suppress(pykka.ActorDeadError):
                self.ref.tell(Flush())

    def tell(self, message: Any) -> None:
        kind = type(message)
        if kind is Persist:
            self.send(message)
        elif kind is WriteUnit:
            self.send(message.unit, message.done)
        else:
            self.ref.tell(message)

    def ask(self, message: Any, *, block: bool = True, timeout: float | None = None) -> Any:
        if type(message) is not Persist:
            return self.ref.ask(message, block=block, timeout=timeout)
        pending = write(self, message)
        if not block:
            return pending
        return pending.get(timeout)

    def __getattr__(self, name: str) -> Any:  # stop, is_alive, proxy, actor_urn, ...
        return getattr(self.ref, name)

    def __eq__(self, other: object) -> bool:
        return self.ref == (other.ref if isinstance(other, WriterRef) else other)

    def __hash__(self) -> int:
        return hash(self.ref)

    def __repr__(self) -> str:
        return repr(self.ref)


class DBWriter(pykka.ThreadingActor):
    """Applies ``Persist`` units in group commits; answers ``LoadState`` and ``GetKv``.

    ``metrics``, when given, receives ``db_commit(seconds, batch_size)``,
    ``db_queue_depth(n)`` and ``db_failure()``. If the store cannot be opened, every write
    with a waiter and every ask gets the ``StoreError``, and the first write told without one
    stops the actor (``on_failure``).
    """

    @classmethod
    def start(cls, *args: Any, **kwargs: Any) -> WriterRef:  # type: ignore[override]
        lane = WriteLane()
        return WriterRef(super().start(*args, lane=lane, **kwargs), lane)

    def __init__(
        self,
        db_path: str | Path,
        *,
        password: str | None = None,
        synchronous: str = "FULL",
        metrics: Any = None,
        batch_limit: int = 1000,
        lane: WriteLane | None = None,
    ) -> None:
        super().__init__()
        self._lane = WriteLane() if lane is None else lane
        self.db_path = Path(db_path)
        self._password = password
        self._synchronous = synchronous
        self._metrics = metrics
        self._batch_limit = max(1, batch_limit)
        self._db: Any = None
        self._repo: Repository | None = None
        self._open_error: StoreError | None = None
        self._pending: list[tuple[Persist, Any]] = []  # taken from the lane, not committed
        self.failures = 0
        self.lost_units = 0
        self.commits = 0

    # --- lifecycle ------------------------------------------------------------------------

    def on_start(self) -> None:
        try:
            self._db = open_database(self.db_path, password=self._password,
                                     synchronous=self._synchronous)
            self._repo = Repository(self._db)
        except StoreError as exc:
            logger.error("DBWriter cannot open the store: %s", exc)
            self._open_error = exc
        except BaseException:  # pykka stops the actor without on_failure: nothing waits on it
            self._lane.shut()
            self._lane.closed.set()
            raise

    def on_stop(self) -> None:
        self._close()

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        self._close()

    def _close(self) -> None:
        """The lane's last units, then the connection; then waiters of units never taken give
        up (``closed``)."""
        try:
            self._accept(self._lane.shut(), final=True)
            self._flush()
        finally:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._lane.closed.set()

    # --- messages -------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        match message:
            case Flush():
                self._accept(self._lane.take())
                self._flush()
            case WriteUnit(unit=unit, done=done):  # not through WriterRef: commit at once
                self._accept([*self._lane.take(), (unit, done)])
                self._flush()
            case Persist():  # not through WriterRef: an ask or a tell, so commit before replying
                self._require_open()
                self._accept(self._lane.take())
                self._pending.append((message, _ASKER))
                self._flush()
            case LoadState(open_only=open_only, symbol=symbol):
                self._commit_lane()
                return self._load_state(open_only=open_only, symbol=symbol)
            case GetKv(key=key):
                self._commit_lane()
                return self._repo.kv_get(key)
            case GetKvPrefix(prefix=prefix):
                self._commit_lane()
                return self._repo.kv_with_prefix(prefix)
            case KnownOrderIds(client_order_ids=ids):
                self._commit_lane()
                return self._repo.known_order_ids(ids)
            case GetRealizedPnl(symbol=symbol):
                self._commit_lane()
                if symbol is None:
                    return self._repo.realized_pnl_by_symbol()
                return self._repo.realized_pnl(symbol)
            case _:
                raise TypeError(f"DBWriter does not handle {describe(message)}")
        return None

    def _require_open(self) -> None:
        if self._open_error is not None:
            raise self._open_error

    def _commit_lane(self) -> None:
        """Before a read: commit what waits, so the read sees every earlier write."""
        self._require_open()
        self._accept(self._lane.take())
        self._flush()

    def _accept(self, items: list[tuple[Persist, Any]], *, final: bool = False) -> None:
        """Buffer units taken from the lane for ``_flush``.

        With no store, waiters get the ``StoreError``; a unit told without one raises it,
        which stops the actor (not on the ``final`` take, when it is stopping anyway)."""
        if self._open_error is not None:
            error = self._open_error
            told = 0
            for _, done in items:
                if done is None:
                    told += 1
                else:
                    done.set_exception((type(error), error, None))
            if told and not final:
                raise error
            self.lost_units += told
            return
        self._pending.extend(items)

    def _flush(self) -> None:
        """Commit the buffered units, ``batch_limit`` to a transaction, answering each group's
        waiters after its COMMIT.

        Once a group is committed, what waits in the lane is taken at once and its
        ``BEGIN IMMEDIATE`` sent before the waiters are answered: the writers that wake then
        would otherwise hold the GIL while the writer waits to get it back from that
        statement (64 writers: 24-28k saves/s against 20-23k, ``python -m bench db``). No
        transaction is ever left open with nothing to commit in it. After ``batch_limit``
        units the writer goes back to its inbox, where the lane's next ``Flush`` waits.
        """
        if self._repo is None:
            return
        begun = False
        committed = 0
        while self._pending:
            group = self._pending[:self._batch_limit]
            del self._pending[:self._batch_limit]
            started = time.perf_counter()
            try:
                if not begun:
                    self._repo.begin()
                begun = False
                self._repo.apply_batch([unit for unit, _ in group])
                self._repo.commit()
            except Exception as failure:  # every waiter gets it; nothing is dropped silently
                self._repo.abandon()
                self._failed(group, first_error(failure))
                continue
            finally:
                if self._metrics is not None:
                    self._metrics.db_queue_depth(len(self._lane) + self.actor_inbox.qsize())
            elapsed = time.perf_counter() - started
            self.commits += 1
            committed += len(group)
            if not self._pending and committed < self._batch_limit:
                self._pending = self._lane.take()
                begun = bool(self._pending) and self._repo.try_begin()
            try:
                self._answer(group)
            except BaseException:  # a reply that raised: no transaction stays open behind it
                if begun:
                    self._repo.abandon()
                raise
            if self._metrics is not None:
                self._metrics.db_commit(elapsed, len(group))

    @staticmethod
    def _answer(group: list[tuple[Persist, Any]]) -> None:
        """Tell a committed group's waiters; ``DurableWrite`` waiters wake one after another."""
        turns = []
        for _, done in group:
            if type(done) is DurableWrite:
                turns.append(done)
            elif done is not None and done is not _ASKER:
                done.set(None)
        DurableWrite.wake_in_turn(turns)

    def _failed(self, group: list[tuple[Persist, Any]], exc: BaseException) -> None:
        """A group rolled back: count it, log it, give every waiter the error; a unit sent to
        the actor itself (``_ASKER``) gets it raised to its asker."""
        self.failures += 1
        told = sum(1 for _, done in group if done is None)
        self.lost_units += told
        logger.error("DB commit of %d units rolled back (%d waiting, %d told and lost): %s",
                     len(group), len(group) - told, told, exc)
        if self._metrics is not None:
            self._metrics.db_failure()
        asked = False
        for _, done in group:
            if done is _ASKER:
                asked = True
            elif done is not None:
                done.set_exception((type(exc), exc, exc.__traceback__))
        if asked:
            raise exc from None

    def _load_state(self, *, open_only: bool, symbol: str | None) -> StoredState:
        assert self._repo is not None
        positions = self._repo.list_positions(symbol=symbol, open_only=open_only)
        orders = self._repo.orders_of(p.position_id for p in positions)
        written = self._repo.intents_written() if open_only and symbol is None else {}
        return StoredState(positions=tuple(positions), orders=tuple(orders),
                           intents_written=written)


def first_error(exc: BaseException) -> BaseException:
    """The error that started a failure, not the last one raised while handling it.

    A COMMIT that fails with "database or disk is full" is rolled back by SQLite itself, so
    peewee's own ROLLBACK then fails with "no transaction is active"; the first names the
    problem. The earliest peewee error of the chain is kept (peewee wraps each driver error).
    """
    first = exc
    while isinstance(exc.__context__, Exception):
        exc = exc.__context__
        if isinstance(exc, PeeweeException):
            first = exc
    return first
