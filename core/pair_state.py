"""The pair state machine's data: the pair, its state, the events it takes and the effects it
gives (``core.pair_machine``). Frozen, keyword-only; money is Decimal."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core import pair_logic as logic
from core.commands import (
    BalanceSeen,
    CancelRefused,
    Command,
    FiltersRefreshed,
    MarketReopened,
    MoveDropped,
    OrderMissing,
    OrderRejected,
    OrderUpdated,
    StopReplaced,
    StraysCanceled,
)
from core.fill_model import TrailingStop
from core.types import (
    Execution,
    Fill,
    Order,
    OrderReport,
    OrderType,
    PairSettings,
    Position,
    Side,
    SymbolFilters,
    Tick,
)

ZERO = Decimal(0)


def is_stop(order: Order) -> bool:
    return order.side is Side.SELL and order.type is OrderType.STOP_LOSS_LIMIT


def is_sale(order: Order) -> bool:
    return order.side is Side.SELL and order.type is OrderType.MARKET


# --- the pair, its state, its events, its effects --------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Pair:
    """What does not change while the pair runs. ``trailing_delta``: the pair keeps native
    trailing stops of that many basis points (``core.stop_mode``); None: it moves its own."""

    settings: PairSettings
    filters: SymbolFilters
    prefix: str = "rt"
    trailing_delta: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Guard:
    """What stands between held coins and their stop after the venue refused one
    (``core.refusals``). ``bare_since``: when the venue first refused to protect them (the
    unprotected exit runs from it); ``market_closed``: waiting for the symbol to trade again;
    ``retry_at``/``retries``: the backoff of a refusal of no known class; ``refit``: fresh
    filters were read once for this position; ``balance``: the account is being read after a
    refusal for want of coins. Cleared once a stop is on the venue or the position is flat."""

    bare_since: Decimal | None = None
    market_closed: bool = False
    retry_at: Decimal | None = None
    retries: int = 0
    refit: bool = False
    balance: bool = False

    def replace(self, **changes: Any) -> Guard:
        return dataclasses.replace(self, **changes)


NO_GUARD = Guard()


@dataclass(frozen=True, slots=True, kw_only=True)
class PairState:
    """Everything the pair knows. ``orders`` are the position's orders that are not final;
    ``in_flight`` the client ids with a command out and no answer yet; ``executions`` every
    execution seen per open order (a user-stream report carries only its latest);
    ``exit_executions`` what sells that ended unfilled (a stop partly filled, then canceled)
    already sold of the position. ``trail`` mirrors the venue rule of the native stop
    ``trail_of`` (``core.native``). ``balance``: a balance that came before any price, kept
    for the first one (dropped by any venue event); ``short``: a balance seen below the
    position; ``topup_price``: the price that found coins now being added. ``halted`` stops
    entries only: held coins are always protected. ``last_ts`` is the pair's clock: the latest
    price's time, or a later ``TimePassed``. ``guard``: the protection after a refusal;
    ``filters``: the symbol's filters read again after a filter refusal (None: the pair's);
    ``adopt_skipped``: why held coins were not adopted (their stop would break a filter).
    ``draining``: the pair left the config; it keeps protecting its position and buys (or
    adopts) nothing, and says ``Drained`` once flat. ``history``: orders of earlier positions
    still waiting for the venue's answer (``core.pair_past``)."""

    position: Position
    orders: Mapping[str, Order] = field(default_factory=dict)
    in_flight: frozenset[str] = frozenset()
    executions: Mapping[str, Mapping[str, Execution]] = field(default_factory=dict)
    exit_executions: tuple[Execution, ...] = ()  # sells of the position that ended unfilled
    last_price: Decimal | None = None
    last_ts: Decimal = ZERO
    last_time: str = ""
    closed_on_this_price: bool = False
    halted: bool = False
    entry_refusals: int = 0
    entry_retry_at: Decimal | None = None
    refusal_reason: str | None = None
    realized: Decimal = ZERO
    trail: TrailingStop | None = None
    trail_of: str | None = None
    balance: BalanceSeen | None = None
    short: Decimal | None = None
    topup_price: Decimal | None = None
    guard: Guard = NO_GUARD
    filters: SymbolFilters | None = None
    adopt_skipped: str | None = None
    draining: bool = False  # removed from the config: protect the position, buy nothing
    drained: bool = False  # said so (``Drained``) once flat
    history: Mapping[str, Order] = field(default_factory=dict)  # earlier positions' orders

    def replace(self, **changes: Any) -> PairState:
        return dataclasses.replace(self, **changes)

    @property
    def stop_order(self) -> Order | None:
        """The position's own stop, while the pair tracks it."""
        return self.orders.get(self.position.stop_order_id or "")

    @property
    def protected(self) -> bool:
        """A held position has an open stop on the venue (a stop being moved still counts)."""
        return any(is_stop(o) and o.state.is_open for o in self.orders.values())


HALT_KEY = "halt:"  # kv: a pair halted for entries, with the settings it was halted under


def halt_key(symbol: str) -> str:
    return HALT_KEY + symbol


def settings_fingerprint(settings: PairSettings) -> str:
    """A short, stable digest of a pair's settings: a halt stays while they do not change."""
    return hashlib.sha256(repr(settings).encode()).hexdigest()[:16]


def halt_record(reason: str, settings: PairSettings) -> str:
    return json.dumps({"reason": reason, "settings": settings_fingerprint(settings)},
                      sort_keys=True)


def halt_in_force(record: str | None, settings: PairSettings) -> str | None:
    """The reason of a stored halt that still holds: the pair's settings are the ones it was
    halted under. A halt survives every restart, however the process ended, until the pair's
    configuration changes (the person's answer to it)."""
    if not record:
        return None
    try:
        data = json.loads(record)
    except ValueError:
        return None
    if data.get("settings") != settings_fingerprint(settings):
        return None
    return str(data.get("reason") or "halted")


def initial_state(position: Position | None, orders: tuple[Order, ...], *, symbol: str,
                  realized: Decimal = ZERO, halt: str | None = None) -> PairState:
    """A pair's state rebuilt from the DB: its position, the orders not yet final, and the
    reason of a halt still in force (``halt_in_force``)."""
    position = position or logic.flat_position(symbol)
    tracked = {o.client_order_id: o for o in orders
               if not o.state.is_final and o.position_id == position.position_id}
    if halt is not None:
        position = position.replace(halted=True, halt_reason=halt)
    return PairState(position=position, orders=tracked, halted=halt is not None,
                     realized=realized)


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceSeen:
    tick: Tick
    matched: tuple[OrderReport, ...] = ()  # unused by step; the venue's reports come first


@dataclass(frozen=True, slots=True, kw_only=True)
class Started:
    """The pair (re)started from the DB. ``confirmed_open``: orders boot reconciliation has
    just seen open on the venue, which need not be asked about again."""

    confirmed_open: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayRestarted:
    """The Gateway was replaced: whatever it had in hand is lost, so ask about it again."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Draining:
    """The pair left the config (``on``), or came back (not ``on``)."""

    on: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class TimePassed:
    """The clock (epoch seconds) with no price: timeouts and retries come due without trades."""

    ts: Decimal


Event = (PriceSeen | Started | GatewayRestarted | TimePassed | Draining | OrderUpdated
         | StopReplaced
         | OrderRejected | OrderMissing | StraysCanceled | BalanceSeen | MarketReopened
         | FiltersRefreshed | CancelRefused | MoveDropped)


@dataclass(frozen=True, slots=True, kw_only=True)
class Write:
    positions: tuple[Position, ...] = ()
    orders: tuple[Order, ...] = ()
    fills: tuple[Fill, ...] = ()
    kv: tuple[tuple[str, str], ...] = ()
    durable: bool = False  # on disk before the next effect runs (a write-ahead intent)


@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    command: Command


@dataclass(frozen=True, slots=True, kw_only=True)
class Halt:
    """Stop entries on the pair: it buys (or adopts) nothing more. The pair is flat when it
    halts; had it coins, it would go on protecting them. ``entry``: an entry that can never be
    made (a replay stops there)."""

    reason: str
    entry: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Log:
    event: str
    level: str = "info"
    fields: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Count:
    """One order outcome (``orders_total{type,result}``)."""

    order_type: str
    result: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StopMoved:
    """The stop moved up from ``old`` to ``new`` (stop prices)."""

    old: Decimal | None
    new: Decimal | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Closed:
    """A trade closed; ``position`` carries its exit and P&L."""

    position: Position


@dataclass(frozen=True, slots=True, kw_only=True)
class Drained:
    """A draining pair is flat, with nothing in flight: it may be stopped."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AdoptSkipped:
    """Held coins are not adopted because their stop would break a filter (``reason``), or,
    with None, no longer skipped."""

    reason: str | None


Effect = Write | Send | Halt | Log | Count | StopMoved | Closed | AdoptSkipped | Drained
