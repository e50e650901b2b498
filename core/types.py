"""Domain types shared by every layer. Frozen, slotted, keyword-only; money is Decimal."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_LOSS_LIMIT = "STOP_LOSS_LIMIT"


class OrderState(StrEnum):
    """Lifecycle of an order row. ``PENDING_NEW`` is the write-ahead intent (DESIGN.md §4);
    ``FAILED`` marks an intent that never reached the venue."""

    PENDING_NEW = "PENDING_NEW"
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"

    @property
    def is_open(self) -> bool:
        return self in (OrderState.NEW, OrderState.PARTIALLY_FILLED)

    @property
    def is_final(self) -> bool:
        return self in _FINAL_STATES


_FINAL_STATES = frozenset(
    {OrderState.FILLED, OrderState.CANCELED, OrderState.EXPIRED, OrderState.REJECTED,
     OrderState.FAILED}
)


class PositionState(StrEnum):
    FLAT = "FLAT"
    ENTERING = "ENTERING"
    OPEN = "OPEN"
    EXITING = "EXITING"


class EntryMode(StrEnum):
    ALWAYS = "always"
    ADOPT = "adopt"
    NONE = "none"


class StopMode(StrEnum):
    """How a position's stop trails (DESIGN.md §3, §3b): Ratchet moves it (``replace``),
    Binance trails it (``native``, ``trailingDelta``), or native where the symbol allows it
    (``auto``)."""

    REPLACE = "replace"
    NATIVE = "native"
    AUTO = "auto"


ENTRY_BOUGHT = "bought"
ENTRY_ADOPTED = "adopted"


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolFilters:
    """The exchangeInfo filters that shape every order of a symbol.

    A bound of 0 is "none", as Binance writes it (PRICE_FILTER maxPrice, LOT_SIZE maxQty).
    ``ask_multiplier_down``/``_up`` are PERCENT_PRICE_BY_SIDE's band for a SELL's limit price
    around the average price (None: no band). ``max_algo_orders`` is MAX_NUM_ALGO_ORDERS (stop
    orders count); the trailing-delta bounds are TRAILING_DELTA's, in basis points.
    """

    symbol: str
    base_asset: str
    quote_asset: str
    tick: Decimal
    step: Decimal
    min_notional: Decimal
    min_price: Decimal = Decimal(0)
    max_price: Decimal = Decimal(0)
    min_qty: Decimal = Decimal(0)
    max_qty: Decimal = Decimal(0)
    ask_multiplier_down: Decimal | None = None
    ask_multiplier_up: Decimal | None = None
    max_algo_orders: int = 5
    min_trailing_delta: int = 10
    max_trailing_delta: int = 2000


@dataclass(frozen=True, slots=True, kw_only=True)
class PairSettings:
    """The DESIGN.md §3 per-pair settings, with their defaults."""

    symbol: str
    trail_pct: Decimal = Decimal("3")
    min_move_pct: Decimal = Decimal("0.2")
    limit_offset_pct: Decimal = Decimal("0.5")
    activation_pct: Decimal = Decimal("0")
    quote_per_trade: Decimal = Decimal("100")
    stop_fill_timeout_s: Decimal = Decimal("60")
    fee_pct: Decimal = Decimal("0.1")
    # Held coins the venue keeps refusing a stop for (core.refusals, OTHER) leave at market
    # after this many seconds unprotected; 0: they wait under the alert instead.
    unprotected_exit_s: Decimal = Decimal("300")
    entry: EntryMode = EntryMode.ALWAYS
    # entry = "adopt": the free base balance left alone, and how often the balances are read.
    keep_qty: Decimal = Decimal("0")
    adopt_scan_s: Decimal = Decimal("60")
    stop_mode: StopMode = StopMode.REPLACE
    # Paper mode and replay: the assets (else split off the symbol by a known quote suffix)
    # and the filters. Binance mode reads all of these from exchangeInfo instead.
    base: str | None = None
    quote: str | None = None
    tick: Decimal = Decimal("0.01")
    step: Decimal = Decimal("0.00001")
    min_notional: Decimal = Decimal("5")
    min_trailing_delta: int = 10  # TRAILING_DELTA, basis points (paper mode and replay)
    max_trailing_delta: int = 2000


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """One position of one symbol. Persisted as JSON in ``positions.value``.

    A pair halted for entries keeps ``halted`` and ``halt_reason`` on its position (``ratchet
    status`` shows them); a halt never stops the protection of held coins. ``sold_outside`` is
    what the account lost of the position outside Ratchet (the venue refused its stop for want
    of coins and the balance showed them gone); ``qty`` is what is left. ``entry_kind`` is ``"bought"`` (an entry buy) or ``"adopted"`` (coins already
    held, §3b). ``trailing_delta`` is set while the stop is a native trailing one (§3b): then
    ``stop`` is Ratchet's estimate of its trigger level, ``floor_tick(highest × (1 −
    trail_pct/100))``, and ``limit`` the order's fixed limit.
    ``stop_order_id`` is the client order id of the live stop. ``triggered_at`` is the timestamp
    (epoch seconds) of the price that triggered the stop while it rests unfilled. ``seq`` is the
    last order sequence number used for this position's client order ids.
    """

    position_id: str
    symbol: str
    state: PositionState
    qty: Decimal = Decimal(0)
    entry_price: Decimal = Decimal(0)
    entry_time: str | None = None
    entry_fee: Decimal = Decimal(0)
    highest: Decimal = Decimal(0)
    stop: Decimal | None = None
    limit: Decimal | None = None
    stop_order_id: str | None = None
    triggered_at: Decimal | None = None
    seq: int = 0
    stop_moves: int = 0
    exit_price: Decimal | None = None
    exit_time: str | None = None
    exit_reason: str | None = None
    pnl: Decimal | None = None
    halted: bool = False
    halt_reason: str | None = None
    quote_asset: str | None = None  # what entry, exit, fees and P&L are priced in
    entry_kind: str = ENTRY_BOUGHT
    trailing_delta: int | None = None  # basis points: the stop is native (§3b)
    sold_outside: Decimal = Decimal(0)  # coins of the position sold outside Ratchet

    @property
    def adopted(self) -> bool:
        return self.entry_kind == ENTRY_ADOPTED

    def replace(self, **changes: Any) -> Position:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return _to_json(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Position:
        return _from_json(cls, data)


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """One order row. ``client_order_id`` is its primary key; rows are never deleted.
    ``trailing_delta`` (basis points) marks a native trailing stop: no ``stop_price``."""

    client_order_id: str
    position_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    state: OrderState
    stop_price: Decimal | None = None
    limit_price: Decimal | None = None
    exchange_order_id: str | None = None
    executed_qty: Decimal = Decimal(0)
    avg_price: Decimal | None = None
    reason: str | None = None
    replaces: str | None = None
    trailing_delta: int | None = None

    def replace(self, **changes: Any) -> Order:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return _to_json(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Order:
        return _from_json(cls, data)


@dataclass(frozen=True, slots=True, kw_only=True)
class Fill:
    """One execution. Keyed by (symbol, exchange_trade_id): recording it twice is harmless.

    ``pnl`` is set on the fill that closes a position.
    """

    symbol: str
    exchange_trade_id: str
    client_order_id: str
    position_id: str
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str
    ts: str
    pnl: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Execution:
    """One venue trade of one of our orders. ``fee_value`` is the fee in the quote asset when
    the venue adapter could value a fee charged in a third asset (BNB) at that moment."""

    trade_id: str
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str
    ts: Decimal  # epoch seconds
    time: str = ""  # the timestamp as the price source gave it (replay), else ISO 8601
    fee_value: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderReport:
    """The venue's view of one order, after a request or an execution event."""

    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    state: OrderState
    qty: Decimal
    executed_qty: Decimal = Decimal(0)
    stop_price: Decimal | None = None
    limit_price: Decimal | None = None
    exchange_order_id: str = ""
    executions: tuple[Execution, ...] = ()
    triggered: bool = False
    triggered_ts: Decimal | None = None
    reject_reason: str | None = None
    trailing_delta: int | None = None  # basis points; None: not a trailing stop

    @property
    def avg_price(self) -> Decimal | None:
        if not self.executions:
            return None
        qty = sum((e.qty for e in self.executions), Decimal(0))
        return sum((e.price * e.qty for e in self.executions), Decimal(0)) / qty


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplaceReport:
    """Both halves of a cancelReplace. A half that failed has its report ``None`` and an error.

    On a Binance 409 one half succeeded and the other did not; both are read from the response.
    """

    canceled: OrderReport | None
    new: OrderReport | None
    cancel_error: str | None = None
    new_error: str | None = None
    cancel_error_code: int | None = None
    new_error_code: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Balance:
    asset: str
    free: Decimal
    locked: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick:
    """Conflated market data: the last price, and the highest and lowest since the last
    delivery. ``ts`` is epoch seconds as a Decimal; ``time`` is the timestamp as given."""

    symbol: str
    price: Decimal
    high: Decimal
    low: Decimal
    ts: Decimal
    time: str = ""
    count: int = 1
    received_ns: int = field(default=0, compare=False)


# --- JSON helpers: Decimals as strings, enums as their values -------------------------------

_ENUMS = (Side, OrderType, OrderState, PositionState, EntryMode, StopMode)


def _to_json(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, StrEnum):
            value = value.value
        out[f.name] = value
    return out


def _from_json(cls: type, data: dict[str, Any]) -> Any:
    parsers = _parsers(cls)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        if name not in parsers:
            continue  # tolerate fields written by a newer minor version
        parse = parsers[name]
        kwargs[name] = value if value is None or parse is None else parse(value)
    return cls(**kwargs)


@functools.cache
def _parsers(cls: type) -> dict[str, Any]:
    """Per field: how to turn its JSON value back into the field's type (None: as is)."""
    return {f.name: _parser(str(f.type)) for f in dataclasses.fields(cls)}


def _parser(type_name: str) -> Any:
    if type_name.startswith("Decimal"):
        return Decimal
    for enum in _ENUMS:
        if type_name.startswith(enum.__name__):
            return enum
    return None
