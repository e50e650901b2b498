"""Binance enum strings ⇄ Ratchet's enums, as explicit two-way tables.

Every Binance string Ratchet reads or sends is here. A forward table (Binance → Ratchet) may
merge several Binance values into one of ours; each such merge says what is lost. The reverse
table (Ratchet → Binance) is what we send, or what a sim reports, for one of our values.
"""

from __future__ import annotations

from core.types import OrderState, OrderType, Side

# --- order status ---------------------------------------------------------------------------

ORDER_STATUS: dict[str, OrderState] = {
    "NEW": OrderState.NEW,
    "PARTIALLY_FILLED": OrderState.PARTIALLY_FILLED,
    "FILLED": OrderState.FILLED,
    "CANCELED": OrderState.CANCELED,
    # Loses information: a cancel is in progress, but the order can still fill until it is
    # CANCELED, so we keep treating it as open (Binance documents the status as unused).
    "PENDING_CANCEL": OrderState.NEW,
    "REJECTED": OrderState.REJECTED,
    "EXPIRED": OrderState.EXPIRED,
    # Loses information: expired by self-trade prevention rather than by time in force. For a
    # stop it means the same thing to us: the order is gone and the position is unprotected.
    "EXPIRED_IN_MATCH": OrderState.EXPIRED,
}

# PENDING_NEW (our write-ahead intent) and FAILED (an intent that never reached the venue) are
# local states: Binance never reports them, so they have no entry here.
ORDER_STATUS_TO_BINANCE: dict[OrderState, str] = {
    OrderState.NEW: "NEW",
    OrderState.PARTIALLY_FILLED: "PARTIALLY_FILLED",
    OrderState.FILLED: "FILLED",
    OrderState.CANCELED: "CANCELED",
    OrderState.REJECTED: "REJECTED",
    OrderState.EXPIRED: "EXPIRED",
}

LOSSY_STATUSES = frozenset({"PENDING_CANCEL", "EXPIRED_IN_MATCH"})

# --- order type -----------------------------------------------------------------------------

ORDER_TYPE: dict[str, OrderType] = {
    "MARKET": OrderType.MARKET,
    "LIMIT": OrderType.LIMIT,
    # Loses information: a post-only limit. Ratchet never sends one; it can only be an order
    # someone else placed on the account, which we see but never manage.
    "LIMIT_MAKER": OrderType.LIMIT,
    "STOP_LOSS_LIMIT": OrderType.STOP_LOSS_LIMIT,
}
# STOP_LOSS, TAKE_PROFIT and TAKE_PROFIT_LIMIT have no Ratchet type: such orders belong to
# someone else, and ``open_orders`` leaves them out (see ``exchange.BinanceExchange``).

ORDER_TYPE_TO_BINANCE: dict[OrderType, str] = {
    OrderType.MARKET: "MARKET",
    OrderType.LIMIT: "LIMIT",
    OrderType.STOP_LOSS_LIMIT: "STOP_LOSS_LIMIT",
}

LOSSY_TYPES = frozenset({"LIMIT_MAKER"})

# --- side -----------------------------------------------------------------------------------

SIDE: dict[str, Side] = {"BUY": Side.BUY, "SELL": Side.SELL}
SIDE_TO_BINANCE: dict[Side, str] = {Side.BUY: "BUY", Side.SELL: "SELL"}

# --- strings we only send -------------------------------------------------------------------

TIME_IN_FORCE_GTC = "GTC"
RESPONSE_TYPE_FULL = "FULL"
CANCEL_REPLACE_STOP_ON_FAILURE = "STOP_ON_FAILURE"

# cancelReplace halves: "SUCCESS", "FAILURE" or "NOT_ATTEMPTED".
HALF_SUCCESS = "SUCCESS"

# User-data event types and executionReport execution types (field ``x``).
EVENT_EXECUTION_REPORT = "executionReport"
EVENT_ACCOUNT_POSITION = "outboundAccountPosition"  # the balances an account update changed
EXECUTION_TRADE = "TRADE"


class UnmappedEnum(ValueError):
    """A Binance enum string with no Ratchet equivalent."""


def order_state(status: str) -> OrderState:
    try:
        return ORDER_STATUS[status]
    except KeyError:
        raise UnmappedEnum(f"unknown Binance order status {status!r}") from None


def order_type(kind: str) -> OrderType:
    try:
        return ORDER_TYPE[kind]
    except KeyError:
        raise UnmappedEnum(f"unmanaged Binance order type {kind!r}") from None


def side(value: str) -> Side:
    try:
        return SIDE[value]
    except KeyError:
        raise UnmappedEnum(f"unknown Binance side {value!r}") from None
