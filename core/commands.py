"""What a pair asks of the venue, and what the venue answers: plain, frozen data.

A pair's state machine (``core.pair_machine``) emits the commands as effects; the Gateway actor
carries them out and answers with exactly one of the events per command. ``actors.messages``
re-exports all of them, since they are also the messages between those two actors.
Commands are verb-noun; events are past tense.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.refusals import Refusal
from core.types import Order, OrderReport, ReplaceReport, SymbolFilters

# --- commands (pair -> Gateway) -----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceMarketOrder:
    """Send a market order whose intent is already on disk."""

    order: Order


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceStop:
    """Send a STOP_LOSS_LIMIT SELL whose intent is already on disk."""

    order: Order


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplaceStop:
    """Move a stop with cancelReplace: cancel ``old`` and place ``new`` (intent on disk)."""

    old: Order
    new: Order
    gap: Decimal = Decimal(0)  # new stop − old stop: the widest gap is sent first under budget


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOrder:
    order: Order


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryOrder:
    """Ask the venue for an order whose outcome is not known."""

    order: Order


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelStrays:
    """Cancel the open stops of ``symbol`` that carry ``prefix`` but are not in ``keep``: the
    venue refused a stop for too many algo orders (MAX_NUM_ALGO_ORDERS)."""

    symbol: str
    prefix: str
    keep: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchMarket:
    """The venue said "Market is closed.": read the symbol's status with backoff until it
    trades again, then answer ``MarketReopened``."""

    symbol: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshFilters:
    """The venue refused an order by a filter: read the symbol's filters again
    (``FiltersRefreshed``)."""

    symbol: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadBalance:
    """The venue said the account lacks the coins: read the balance of ``asset``
    (``BalanceSeen``)."""

    symbol: str
    asset: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DropMove:
    """Withdraw the stop move whose new stop is ``order``: the stop it would replace no longer
    protects anything (filled, canceled). The Gateway answers ``MoveDropped`` if it had not
    sent it yet; otherwise the venue's answer comes as usual."""

    order: Order


Command = (PlaceMarketOrder | PlaceStop | ReplaceStop | CancelOrder | QueryOrder | CancelStrays
           | WatchMarket | RefreshFilters | ReadBalance | DropMove)

# --- events (Gateway -> pair) -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderUpdated:
    """The venue reported an order: accepted, (partly) filled, canceled or expired.

    ``reply`` is True when this answers one of the pair's commands, False for an asynchronous
    execution report (a resting stop filled). ``matched``: the venue's matching of the price
    being handled produced it (paper venue, §3 step 2: re-enter on the next price).
    """

    report: OrderReport
    reply: bool = False
    matched: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StopReplaced:
    """The outcome of a ReplaceStop: both halves, as the venue reported them."""

    old: Order
    new: Order
    report: ReplaceReport


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRejected:
    """The venue (or a local filter check) refused an order for good. ``kind`` is what the
    refusal means for the pair (``core.refusals.classify`` of the code and text)."""

    order: Order
    reason: str
    code: int | None = None
    kind: Refusal = Refusal.OTHER


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderMissing:
    """The venue does not know this order (-2011 on cancel, -2013 on query)."""

    order: Order


@dataclass(frozen=True, slots=True, kw_only=True)
class StraysCanceled:
    """The answer to ``CancelStrays``: how many stops were canceled."""

    symbol: str
    canceled: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class BalanceSeen:
    """The venue's balance of one asset, for a pair that adopts coins (``entry = "adopt"``):
    from the Gateway's scan of ``balances()`` or a balance update of the user-data stream.
    ``ts`` (epoch seconds, wall clock) is when it was read; decisions use prices' time."""

    asset: str
    free: Decimal
    locked: Decimal = Decimal(0)
    ts: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketReopened:
    """The answer to ``WatchMarket``: the symbol trades again; ``price`` is its last price as
    the venue reported it then (None if it could not be read)."""

    symbol: str
    price: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelRefused:
    """The venue would not cancel ``order`` because its market is closed (HALT, BREAK: -2011
    "Market is closed."): the order stands; wait for the market, then ask again."""

    order: Order
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FiltersRefreshed:
    """The answer to ``RefreshFilters``: the symbol's filters as the venue has them now."""

    filters: SymbolFilters


@dataclass(frozen=True, slots=True, kw_only=True)
class MoveDropped:
    """The answer to ``DropMove``: the move was never sent; ``order`` is its new stop."""

    order: Order


VenueEvent = (OrderUpdated | StopReplaced | OrderRejected | OrderMissing | StraysCanceled
              | BalanceSeen | MarketReopened | FiltersRefreshed | CancelRefused | MoveDropped)
