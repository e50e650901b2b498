"""The actions of boot reconciliation (``core.reconcile``): frozen data, each with a stable
``kind`` for metrics. ``core.reconcile`` re-exports them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar

from core.types import Order

if TYPE_CHECKING:
    from core.types import OrderReport


class Action:
    """Base of the reconcile actions; ``kind`` is a stable metrics label."""

    __slots__ = ()
    kind: ClassVar[str]


@dataclass(frozen=True, slots=True)
class KeepStop(Action):
    """The position's stop is open and correct: nothing to do.

    ``client_order_id`` is the open stop; if it differs from ``position.stop_order_id`` (an
    EXITING position whose stop was never cancelled), the executor points the position at it.
    """

    kind: ClassVar[str] = "keep_stop"
    position_id: str
    client_order_id: str


@dataclass(frozen=True, slots=True)
class AdoptIntent(Action):
    """An order whose outcome the DB never recorded is on the venue: take on its venue state.

    Mostly a ``PENDING_NEW`` intent; also an acknowledged entry buy or exit sell that settled
    while we were down. A filled entry buy opens its position (``report.executions``); a filled
    exit sell or stop closes it; an open stop becomes the position's stop.
    """

    kind: ClassVar[str] = "adopt_intent"
    order: Order
    report: OrderReport


@dataclass(frozen=True, slots=True)
class FailIntent(Action):
    """The venue does not know this order: mark the row FAILED (an entry's position goes
    back to FLAT, an exit's back to OPEN)."""

    kind: ClassVar[str] = "fail_intent"
    order: Order


@dataclass(frozen=True, slots=True)
class RecordStopFill(Action):
    """The position's stop FILLED while we were down: record the fills, close, book ``pnl``."""

    kind: ClassVar[str] = "record_stop_fill"
    position_id: str
    order: Order
    report: OrderReport
    exit_price: Decimal
    pnl: Decimal


@dataclass(frozen=True, slots=True)
class ReplaceStop(Action):
    """The position has no working stop: place a new one at ``stop``/``limit``.

    ``old_order`` is the position's previous stop row (or ``None``), to be marked with
    ``old_report``'s state (``None``: the venue does not know it). ``last_price`` is there so
    the executor can see a stop that would trigger at once (``last_price <= stop``). With
    ``trailing_delta`` the new stop is native (§3b): the delta and the limit, no stop price;
    ``stop`` is then Ratchet's estimate of its level.
    """

    kind: ClassVar[str] = "replace_stop"
    position_id: str
    old_order: Order | None
    stop: Decimal
    limit: Decimal
    highest: Decimal
    old_report: OrderReport | None = None
    last_price: Decimal | None = None
    trailing_delta: int | None = None


@dataclass(frozen=True, slots=True)
class MarkOrder(Action):
    """An order reached a final state on the venue and nothing else depends on it: update
    the row (a superseded stop, a cancelled entry of a position that is gone, ...)."""

    kind: ClassVar[str] = "mark_order"
    order: Order
    report: OrderReport


@dataclass(frozen=True, slots=True)
class CancelOrphan(Action):
    """Cancel an open venue order with our prefix that no live position uses as its stop: it
    has no row, or it is a second or wrong stop, or its position is gone."""

    kind: ClassVar[str] = "cancel_orphan"
    report: OrderReport


@dataclass(frozen=True, slots=True)
class UnknownStop(Action):
    """An open stop with our prefix that the DB has no row for, over coins the account holds:
    another engine on this key and prefix, or a DB older than the venue. Boot refuses (nothing
    is changed) unless told to take such stops over."""

    kind: ClassVar[str] = "unknown_stop"
    report: OrderReport


@dataclass(frozen=True, slots=True)
class AdoptOrphan(Action):
    """Take over an ``UnknownStop`` (``ratchet reconcile --adopt-orphans``): a position of its
    quantity, entered at ``last_price`` (its cost is unknown), with it as its stop."""

    kind: ClassVar[str] = "adopt_orphan"
    report: OrderReport
    last_price: Decimal | None


@dataclass(frozen=True, slots=True)
class ShrinkPosition(Action):
    """The account holds less than the position: ``gone`` was sold outside Ratchet, ``qty``
    is what is left, and the rest of the diff protects that (a stop for more is replaced)."""

    kind: ClassVar[str] = "shrink_position"
    position_id: str
    qty: Decimal
    gone: Decimal


@dataclass(frozen=True, slots=True)
class CloseUnbooked(Action):
    """The position's coins are gone (sold outside Ratchet), or what is left is too little
    for any order: close it with ``reason``, no P&L booked (Ratchet did not sell them)."""

    kind: ClassVar[str] = "close_unbooked"
    position_id: str
    reason: str
    gone: Decimal


@dataclass(frozen=True, slots=True)
class HaltPair(Action):
    """Stop trading the symbol and alert: it has no settings or filters to compute a stop
    from; its exchange stop stays as it is."""

    kind: ClassVar[str] = "halt_pair"
    symbol: str
    reason: str


ACTION_KINDS = tuple(
    cls.kind for cls in (KeepStop, AdoptIntent, FailIntent, RecordStopFill, ReplaceStop,
                         MarkOrder, CancelOrphan, UnknownStop, AdoptOrphan, ShrinkPosition,
                         CloseUnbooked, HaltPair)
)


def summarize(actions: Iterable[Action]) -> dict[str, int]:
    """How many actions of each kind (every kind present, zeros included)."""
    counts = Counter(a.kind for a in actions)
    return {kind: counts.get(kind, 0) for kind in ACTION_KINDS}
