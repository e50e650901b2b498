"""Messages between actors: frozen, slotted, keyword-only dataclasses.

Commands are verb-noun (``PlaceStop``); events are past tense (``OrderFilled``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The commands and venue events between a PairActor and the Gateway are data of the pair's
# state machine too, so core.commands defines them; they are re-exported here.
from core.commands import (  # noqa: F401
    BalanceSeen,
    CancelOrder,
    CancelRefused,
    CancelStrays,
    DropMove,
    FiltersRefreshed,
    MarketReopened,
    MoveDropped,
    OrderMissing,
    OrderRejected,
    OrderUpdated,
    PlaceMarketOrder,
    PlaceStop,
    QueryOrder,
    ReadBalance,
    RefreshFilters,
    ReplaceStop,
    StopReplaced,
    StraysCanceled,
    WatchMarket,
)
from core.types import Balance, Order, Position
from persistence.unit import Persist  # the unit of work lives with the store; re-exported

# --- DBWriter -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteUnit:
    """Tell the DBWriter: write ``unit`` in its next group commit.

    ``done``, when given, is resolved after the COMMIT that holds the unit (``set(None)``), or
    with the exception that rolled that transaction back (``set_exception``): a
    ``pykka.ThreadingFuture``, or the leaner ``actors.db_writer.DurableWrite`` that
    ``durable``/``write`` send, or any object with those two methods (an actor that must not
    block can pass one that ``tell``s it the outcome). They run on the writer's thread right
    after the COMMIT, so they must return at once. Without ``done`` the unit may be coalesced
    with later saves.
    """

    unit: Persist
    done: Any = None  # .set(None) / .set_exception(exc_info), as a pykka Future


@dataclass(frozen=True, slots=True, kw_only=True)
class Flush:
    """Tell the DBWriter: take every unit waiting in its lane and commit them (its ref sends
    one when the first unit of an empty lane arrives; one that finds the lane empty is a
    no-op)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadState:
    """Ask: every position (open or not, per ``open_only``) and the orders that belong to them.

    Reply: ``StoredState``.
    """

    open_only: bool = True
    symbol: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredState:
    """``intents_written``: when each ``PENDING_NEW`` intent was first written (ISO 8601)."""

    positions: tuple[Position, ...]
    orders: tuple[Order, ...]
    intents_written: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class GetRealizedPnl:
    """Ask: the realized P&L booked for ``symbol`` (sum of ``trades.pnl``), a Decimal; with no
    ``symbol``, a dict of every symbol's (one query for a boot's worth of pairs)."""

    symbol: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GetKvPrefix:
    """Ask: every non-empty ``kv`` value whose key starts with ``prefix`` (a dict by key)."""

    prefix: str


@dataclass(frozen=True, slots=True, kw_only=True)
class KnownOrderIds:
    """Ask: which of ``client_order_ids`` the DB has a row for (a frozenset)."""

    client_order_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class GetKv:
    """Ask: the value stored under ``key`` in ``kv``, or ``None``."""

    key: str


# --- Feed -> PairActor ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceReady:
    """A conflated tick is waiting in the pair's slot; take it."""

    symbol: str


# --- Gateway bookkeeping ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterPair:
    """Route this symbol's events to ``pair`` (and, when the venue matches in-process, its
    prices to ``slot`` after matching). ``base_asset``: the pair adopts coins of that asset
    (``entry = "adopt"``): the Gateway reads the balances for it now and every ``scan_s``
    seconds, and passes on the venue's balance updates of that asset (``BalanceSeen``)."""

    symbol: str
    pair: Any
    slot: Any
    base_asset: str | None = None
    scan_s: float = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BalancesUpdated:
    """Told to the Gateway by the venue adapter's balance listener: the balances a user-data
    update changed (Binance's ``outboundAccountPosition``)."""

    balances: tuple[Balance, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class UnregisterPair:
    symbol: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Maintain:
    """Sent by the Gateway to itself about once a second: the venue's periodic upkeep."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settle:
    """Sent by the Gateway to itself: ask about an order (or both halves of a move) whose
    outcome is unknown. ``attempt`` sets the backoff of the next try. ``landing_by``: until
    then (the Gateway's clock) the venue saying it has no such order is not an answer: a
    request whose outcome was unknown may still reach the matching engine until its
    ``timestamp + recvWindow`` has passed."""

    command: Any
    attempt: int = 1
    landing_by: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadAgain:
    """Sent by the Gateway to itself: a read for a pair (``WatchMarket``, ``RefreshFilters``,
    ``ReadBalance``) that failed, or whose answer is not there yet, is asked again."""

    command: Any
    attempt: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class DrainMoves:
    """Sent by the Gateway to itself: send queued stop moves the order budget allows."""


# --- Supervision and edges ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PairFailed:
    """A PairActor died; the Supervisor decides whether to restart it."""

    symbol: str
    error: str
    actor_urn: str = ""
    fatal: bool = False  # the store cannot commit: halt the engine, do not restart


@dataclass(frozen=True, slots=True, kw_only=True)
class PairDrained:
    """A pair removed from the config is flat: the Supervisor may stop it."""

    symbol: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayFailed:
    """The Gateway died; the Supervisor starts a new one (or, past the budget, stops)."""

    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UseGateway:
    """Tell a pair: the Gateway was replaced; send to this one, and ask again about whatever
    the old one had in hand."""

    gateway: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartGateway:
    """Sent by the Supervisor to itself after the Gateway's backoff delay."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockTick:
    """Sent by the Supervisor to itself once a second: tell every pair the time."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartPair:
    """Sent by the Supervisor to itself after the backoff delay."""

    symbol: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Sync:
    """Ask: a barrier. The PairActor replies with how many of its commands are in flight."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GetSnapshot:
    """Ask: the actor's state for display or tests."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Crash:
    """Tell: raise inside the actor (tests and fault drills)."""

    reason: str = "crash requested"


def describe(message: Any) -> str:
    return type(message).__name__


@dataclass(frozen=True, slots=True, kw_only=True)
class Boot:
    """Ask the Supervisor: start the DBWriter, reconcile, then start the Gateway, pairs and
    Feed. Reply: the reconciliation report (a dict)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReloadConfig:
    """Ask the Supervisor: apply a re-read config's ``[[pairs]]`` (SIGHUP)."""

    config: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Shutdown:
    """Ask the Supervisor: stop the Feed, the pairs, the Gateway, then the DBWriter."""
