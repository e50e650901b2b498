"""The DBWriter: the one owner of the SQLite write connection (DESIGN.md §2 and §5).

It opens the store in ``on_start``, on its own thread. Every write is a ``Persist`` unit.

Group commit: the first unit buffered after a commit makes the writer ``tell`` itself a
``Flush``. The inbox is FIFO, so the Flush runs after every message already waiting; all the
units buffered by then commit in one ``BEGIN IMMEDIATE`` transaction, with repeated saves of a
position (order, kv key) collapsed to the last. A batch is capped at ``batch_limit`` units.
Reads (``LoadState``, ``GetKv``) commit the buffer first, so they see every earlier write.

Asks answered after COMMIT: pykka replies to an ask with ``on_receive``'s return value as soon
as it returns, and has no public hook to reply later. So the writer installs its own inbox
(``_create_actor_inbox``, pykka's hook for actor types): when it hands out an asked ``Persist``,
it wraps the message with its reply future (``_Durable``) and clears the envelope's
``reply_to``, so pykka does not answer it; the writer sets the future itself after the COMMIT
that includes the unit, or sets the exception that rolled it back. This relies only on the
envelope's two attributes ``message`` and ``reply_to`` (stable through pykka 4; the tests pin
the behaviour). Flushing on every asked unit instead would give asks no group commit at all.

Failures: the transaction rolls back, every waiting ask gets the exception, the failure is
counted (``failures``, ``metrics.db_failure()``), told units of that batch are logged as lost,
and the writer keeps serving. On stop it commits everything it received before the stop; asks
that arrive after the stop get pykka's ``ActorDeadError``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
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
    describe,
)
from core.errors import StoreError
from persistence.db import open_database
from persistence.repository import Repository

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Durable:
    """An asked ``Persist`` with the future to answer once it is committed."""

    persist: Persist
    reply_to: pykka.Future[Any]


class _DeferredReplyInbox(queue.Queue):
    """pykka's inbox, except that an asked ``Persist`` comes out with its reply future.

    Once the actor has stopped, envelopes come out untouched, so pykka fails leftover asks
    with ``ActorDeadError`` instead of leaving them unanswered.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stopped = threading.Event()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        envelope = super().get(block, timeout)
        if (envelope.reply_to is not None and isinstance(envelope.message, Persist)
                and not self.stopped.is_set()):
            envelope.message = _Durable(persist=envelope.message, reply_to=envelope.reply_to)
            envelope.reply_to = None
        return envelope


class DBWriter(pykka.ThreadingActor):
    """Applies ``Persist`` units in group commits; answers ``LoadState`` and ``GetKv``.

    ``metrics``, when given, receives ``db_commit(seconds, batch_size)``,
    ``db_queue_depth(n)`` and ``db_failure()``. If the store cannot be opened, every ask gets
    the ``StoreError`` and the first tell stops the actor (``on_failure``).
    """

    def __init__(
        self,
        db_path: str | Path,
        *,
        password: str | None = None,
        synchronous: str = "FULL",
        metrics: Any = None,
        batch_limit: int = 1000,
    ) -> None:
        super().__init__()
        self.actor_inbox.stopped = self.actor_stopped
        self.db_path = Path(db_path)
        self._password = password
        self._synchronous = synchronous
        self._metrics = metrics
        self._batch_limit = max(1, batch_limit)
        self._db: Any = None
        self._repo: Repository | None = None
        self._open_error: StoreError | None = None
        self._units: list[Persist] = []
        self._acks: list[pykka.Future[Any]] = []
        self._flush_queued = False
        self.failures = 0
        self.lost_units = 0
        self.commits = 0

    @staticmethod
    def _create_actor_inbox() -> _DeferredReplyInbox:
        return _DeferredReplyInbox()

    # --- lifecycle ------------------------------------------------------------------------

    def on_start(self) -> None:
        try:
            self._db = open_database(self.db_path, password=self._password,
                                     synchronous=self._synchronous)
        except StoreError as exc:
            logger.error("DBWriter cannot open the store: %s", exc)
            self._open_error = exc
            return
        self._repo = Repository(self._db)

    def on_stop(self) -> None:
        self._flush()
        self._close()

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        self._flush()
        self._close()

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # --- messages -------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        match message:
            case _Durable(persist=unit, reply_to=future):
                if self._open_error is not None:
                    future.set_exception((type(self._open_error), self._open_error, None))
                    return None
                self._buffer(unit, future)
            case Persist():
                self._require_open()
                self._buffer(message, None)
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
                return self._repo.realized_pnl(symbol)
            case _:
                raise TypeError(f"DBWriter does not handle {describe(message)}")
        return None

    def _require_open(self) -> None:
        if self._open_error is not None:
            raise self._open_error

    def _buffer(self, unit: Persist, future: pykka.Future[Any] | None) -> None:
        self._units.append(unit)
        if future is not None:
            self._acks.append(future)
        if len(self._units) >= self._batch_limit:
            self._flush()
        elif not self._flush_queued:
            self._flush_queued = True
            self.actor_ref.tell(Flush())

    def _flush(self) -> None:
        """Commit every buffered unit in one transaction, then answer their asks."""
        if not self._units or self._repo is None:
            return
        units, acks = self._units, self._acks
        self._units, self._acks = [], []
        started = time.perf_counter()
        try:
            with self._repo.transaction():
                self._repo.apply_batch(units)
        except Exception as failure:  # every waiting ask gets it; nothing is dropped silently
            exc = first_error(failure)
            self.failures += 1
            told = len(units) - len(acks)
            self.lost_units += told
            logger.error("DB commit of %d units rolled back (%d asked, %d told and lost): %s",
                         len(units), len(acks), told, exc)
            if self._metrics is not None:
                self._metrics.db_failure()
            for future in acks:
                future.set_exception((type(exc), exc, exc.__traceback__))
        else:
            elapsed = time.perf_counter() - started
            self.commits += 1
            for future in acks:
                future.set(None)
            if self._metrics is not None:
                self._metrics.db_commit(elapsed, len(units))
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
