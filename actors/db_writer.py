"""The DBWriter: the one owner of the SQLite write connection (DESIGN.md §2 and §5).

It opens the store in ``on_start``, on its own thread. Every write is a ``Persist`` unit.

Group commit: the first unit buffered after a commit makes the writer ``tell`` itself a
``Flush``. The inbox is FIFO, so the Flush runs after every message already waiting; all the
units buffered by then commit in one ``BEGIN IMMEDIATE`` transaction, with repeated saves of a
position (order, kv key) collapsed to the last. When nothing waits in the inbox, the unit
commits at once (a Flush would only add a round through the inbox to its ack). A batch is
capped at ``batch_limit`` units. Reads (``LoadState``, ``GetKv``) commit the buffer first, so
they see every earlier write.

Replies after COMMIT, with pykka's public API only: a durable write is a ``WriteUnit`` that
carries its own reply (``done``), which the writer resolves after the COMMIT that includes the
unit, or with the exception that rolled it back, for every waiter of the group. ``durable(db,
unit, timeout)`` sends one and waits; ``write(db, unit)`` returns the ``DurableWrite`` to wait
on later. ``done`` may also be a ``pykka.ThreadingFuture``. The ref that ``DBWriter.start``
returns (``WriterRef``) keeps ``ask(Persist)`` meaning the same thing (a durable write in the
group commit) and turns ``tell(Persist)`` into a ``WriteUnit`` without a reply, which may be
coalesced. A waiter learns that the writer stopped without its unit from ``closed``, an event
the writer sets once its last flush has answered everything it took.

A ``Persist`` that reaches the actor itself (through a ref from ``pykka.ActorRegistry``, say)
cannot tell an ask from a tell, so it commits at once, with whatever is buffered, before the
writer handles anything else: an ask of it is answered after COMMIT, never before.

Failures: the transaction rolls back, every waiter gets the exception, the failure is counted
(``failures``, ``metrics.db_failure()``), units of that batch told without a waiter are logged
as lost, and the writer keeps serving. On stop it commits everything it received before the
stop; a write that arrives after the stop fails with pykka's ``ActorDeadError``.
"""

from __future__ import annotations

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
    GetRealizedPnl,
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

_POLL_S = 0.05  # how often a waiter checks that the writer has not stopped without its unit


class DurableWrite:
    """The answer to one durable write: ``get`` returns once the unit is committed.

    The writer resolves it like a pykka future (``set``, ``set_exception``); it is a bare lock
    rather than a ``pykka.ThreadingFuture`` because a waiter then sleeps and wakes in C, with
    no Python ``Condition`` around it: about a quarter more durable saves/s with 64 writers
    (``python -m bench db``). ``get`` raises the exception that rolled the unit's transaction
    back, ``ActorDeadError`` when the writer stopped before taking the unit, and
    ``pykka.Timeout`` when ``timeout`` passed first (the unit may still commit later).
    """

    __slots__ = ("_closed", "_error", "_lock")

    def __init__(self, closed: threading.Event):
        self._lock = threading.Lock()
        self._lock.acquire()  # released once, by set() or set_exception()
        self._error: BaseException | None = None
        self._closed = closed  # set by the writer once its last flush has answered everyone

    def set(self, value: None = None) -> None:
        self._lock.release()

    def set_exception(self, exc_info: Any = None) -> None:
        self._error = (exc_info or sys.exc_info())[1]
        self._lock.release()

    def get(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = _POLL_S
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - time.monotonic()))
            if self._lock.acquire(timeout=wait):
                break
            # Every unit the writer took is answered before ``closed`` is set; one still in
            # its inbox when it stopped never is.
            if self._closed.is_set():
                if not self._lock.acquire(blocking=False):
                    raise pykka.ActorDeadError("the DBWriter stopped before taking the unit")
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise pykka.Timeout(f"{timeout} seconds")
        self._lock.release()  # answered: a later get() returns at once
        if self._error is not None:
            raise self._error


def write(db: WriterRef, unit: Persist) -> DurableWrite:
    """Send ``unit`` to the DBWriter ``db`` (the ref ``DBWriter.start`` returned) for its next
    group commit; wait for it with ``.get(timeout)``."""
    if not isinstance(db, WriterRef):
        raise TypeError(f"a durable write needs the ref DBWriter.start returned, not {db!r}")
    pending = DurableWrite(db.closed)
    db.ref.tell(WriteUnit(unit=unit, done=pending))  # ActorDeadError if it already stopped
    return pending


def durable(db: WriterRef, unit: Persist, timeout: float | None = None) -> None:
    """Write ``unit`` through the DBWriter ``db``; return once it is on disk.

    Raises the error that rolled its transaction back, ``pykka.ActorDeadError`` if the writer
    is gone, ``pykka.Timeout`` after ``timeout`` seconds.
    """
    write(db, unit).get(timeout)


class WriterRef:
    """The DBWriter's ref: pykka's ``ActorRef`` (``ref``), with ``Persist`` sent as a unit of
    the group commit. ``ask(Persist(...))`` returns once it is committed (``block=False``: a
    ``DurableWrite``); ``tell(Persist(...))`` may be coalesced. Everything else is pykka's."""

    __slots__ = ("closed", "ref")

    def __init__(self, ref: pykka.ActorRef[Any], closed: threading.Event):
        self.ref = ref
        self.closed = closed

    def tell(self, message: Any) -> None:
        if type(message) is Persist:
            message = WriteUnit(unit=message)
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
        closed = threading.Event()
        return WriterRef(super().start(*args, closed=closed, **kwargs), closed)

    def __init__(
        self,
        db_path: str | Path,
        *,
        password: str | None = None,
        synchronous: str = "FULL",
        metrics: Any = None,
        batch_limit: int = 1000,
        closed: threading.Event | None = None,
    ) -> None:
        super().__init__()
        self._closed = closed or threading.Event()  # set once the last flush has answered
        self.db_path = Path(db_path)
        self._password = password
        self._synchronous = synchronous
        self._metrics = metrics
        self._batch_limit = max(1, batch_limit)
        self._db: Any = None
        self._repo: Repository | None = None
        self._open_error: StoreError | None = None
        self._units: list[Persist] = []
        self._waiters: list[pykka.Future[None]] = []
        self._flush_queued = False
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
            self._closed.set()
            raise

    def on_stop(self) -> None:
        self._close()

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        self._close()

    def _close(self) -> None:
        """The last flush, then the connection; then waiters of units never taken may give up."""
        try:
            self._flush()
        finally:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._closed.set()

    # --- messages -------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        match message:
            case WriteUnit(unit=unit, done=done):
                if self._open_error is not None:
                    if done is None:
                        raise self._open_error
                    done.set_exception((type(self._open_error), self._open_error, None))
                    return None
                self._buffer(unit, done)
            case Persist():  # not through WriterRef: an ask or a tell, so commit before replying
                self._require_open()
                self._units.append(message)
                self._flush(raise_failure=True)
            case Flush():
                self._flush_queued = False
                self._flush()
            case LoadState(open_only=open_only, symbol=symbol):
                self._require_open()
                self._flush()
                return self._load_state(open_only=open_only, symbol=symbol)
            case GetKv(key=key):
                self._require_open()
                self._flush()
                return self._repo.kv_get(key)
            case GetRealizedPnl(symbol=symbol):
                self._require_open()
                self._flush()
                if symbol is None:
                    return self._repo.realized_pnl_by_symbol()
                return self._repo.realized_pnl(symbol)
            case _:
                raise TypeError(f"DBWriter does not handle {describe(message)}")
        return None

    def _require_open(self) -> None:
        if self._open_error is not None:
            raise self._open_error

    def _buffer(self, unit: Persist, done: Any) -> None:
        self._units.append(unit)
        if done is not None:
            self._waiters.append(done)
        if len(self._units) >= self._batch_limit:
            self._flush()
        elif not self._flush_queued:
            if self.actor_inbox.empty():
                self._flush()  # nothing waits behind it to join the group: commit now
            else:
                self._flush_queued = True
                self.actor_ref.tell(Flush())

    def _flush(self, *, raise_failure: bool = False) -> None:
        """Commit every buffered unit in one transaction, then answer their waiters."""
        if not self._units or self._repo is None:
            return
        units, waiters = self._units, self._waiters
        self._units, self._waiters = [], []
        started = time.perf_counter()
        try:
            with self._repo.transaction():
                self._repo.apply_batch(units)
        except Exception as failure:  # every waiter gets it; nothing is dropped silently
            exc = first_error(failure)
            self.failures += 1
            unanswered = len(units) - len(waiters) - (1 if raise_failure else 0)
            self.lost_units += unanswered
            logger.error("DB commit of %d units rolled back (%d waiting, %d told and lost): %s",
                         len(units), len(units) - unanswered, unanswered, exc)
            if self._metrics is not None:
                self._metrics.db_failure()
            for done in waiters:
                done.set_exception((type(exc), exc, exc.__traceback__))
            if raise_failure:
                raise exc from None
        else:
            elapsed = time.perf_counter() - started
            self.commits += 1
            for done in waiters:
                done.set(None)
            if self._metrics is not None:
                self._metrics.db_commit(elapsed, len(units))
        finally:
            if self._metrics is not None:
                self._metrics.db_queue_depth(self.actor_inbox.qsize())

    def _load_state(self, *, open_only: bool, symbol: str | None) -> StoredState:
        assert self._repo is not None
        positions = self._repo.list_positions(symbol=symbol, open_only=open_only)
        orders = self._repo.orders_of(p.position_id for p in positions)
        return StoredState(positions=tuple(positions), orders=tuple(orders))


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
