"""Request parameters as Binance reads them: which each endpoint takes, and how each parses.

- A parameter an endpoint does not take: 400 -1104 "Not all sent parameters were read; read
  'N' parameter(s) but was sent 'M'." (``check_known``).
- A parameter the order's type does not take (``price`` on MARKET, ``stopPrice`` on LIMIT...):
  400 -1106 "Parameter 'NAME' sent when not required." (``not_required``); ``timeInForce`` on
  MARKET is -1114, as on Binance.
- **sim**: a parameter Binance takes but the sim cannot honour (iceberg, pegged orders, cancel
  restrictions): 400 -1020 "This operation is not supported." rather than a silent difference.

Signed endpoints also read ``timestamp``, ``recvWindow`` and ``signature``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from decimal import Decimal

from core.types import Side
from exchange.sim.guard import SimError, mandatory

Params = Mapping[str, str]

SIGNED = frozenset({"timestamp", "recvWindow", "signature"})
_ORDER_COMMON = frozenset({
    "symbol", "side", "type", "timeInForce", "quantity", "quoteOrderQty", "price",
    "newClientOrderId", "strategyId", "strategyType", "stopPrice", "trailingDelta",
    "icebergQty", "newOrderRespType", "selfTradePreventionMode", "pegPriceType",
    "pegOffsetValue", "pegOffsetType",
})
# What each route takes (the official REST docs' parameter tables).
TAKES: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "ping"): frozenset(),
    ("GET", "time"): frozenset(),
    ("GET", "exchangeInfo"): frozenset(
        {"symbol", "symbols", "permissions", "showPermissionSets", "symbolStatus"}),
    ("GET", "ticker/price"): frozenset({"symbol", "symbols", "symbolStatus"}),
    ("GET", "ticker/24hr"): frozenset({"symbol", "symbols", "type", "symbolStatus"}),
    ("GET", "depth"): frozenset({"symbol", "limit", "symbolStatus"}),
    ("GET", "account"): frozenset({"omitZeroBalances"}),
    ("POST", "order"): _ORDER_COMMON,
    ("GET", "order"): frozenset({"symbol", "orderId", "origClientOrderId"}),
    ("DELETE", "order"): frozenset(
        {"symbol", "orderId", "origClientOrderId", "newClientOrderId", "cancelRestrictions"}),
    ("GET", "openOrders"): frozenset({"symbol"}),
    ("GET", "allOrders"): frozenset({"symbol", "orderId", "startTime", "endTime", "limit"}),
    ("POST", "order/cancelReplace"): _ORDER_COMMON | {
        "cancelReplaceMode", "cancelNewClientOrderId", "cancelOrigClientOrderId",
        "cancelOrderId", "cancelRestrictions", "orderRateLimitExceededMode"},
    ("GET", "myTrades"): frozenset(
        {"symbol", "orderId", "startTime", "endTime", "fromId", "limit"}),
}
UNSUPPORTED = frozenset(
    {"icebergQty", "pegPriceType", "pegOffsetValue", "pegOffsetType", "cancelRestrictions"})

_DECIMAL = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_INTEGER = re.compile(r"^[0-9]{1,20}$")
_CLIENT_ID = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")


def check_known(route: tuple[str, str], params: Params, *, signed: bool) -> None:
    """-1104 for a parameter the route does not read; -1020 (**sim**) for one it cannot honour."""
    takes = TAKES.get(route)
    if takes is None:
        return  # a route without a table (an addition of another module) reads what it reads
    read = takes | SIGNED if signed else takes
    unread = [name for name in params if name not in read]
    if unread:
        raise SimError(400, -1104, "Not all sent parameters were read; read "
                                   f"'{len(params) - len(unread)}' parameter(s) but was sent "
                                   f"'{len(params)}'.")
    if any(name in UNSUPPORTED for name in params):
        raise SimError(400, -1020, "This operation is not supported.")


def not_required(params: Params, *names: str) -> None:
    """-1106 for the first of ``names`` that was sent (-1114 for ``timeInForce``)."""
    for name in names:
        if params.get(name) not in (None, ""):
            if name == "timeInForce":
                raise SimError(400, -1114, "TimeInForce parameter sent when not required.")
            raise SimError(400, -1106, f"Parameter '{name}' sent when not required.")


def required(params: Params, name: str) -> str:
    value = params.get(name)
    if not value:
        raise mandatory(name)
    return value


def decimal_param(params: Params, name: str, *, required: bool = True) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise mandatory(name)
        return None
    if not _DECIMAL.match(raw):
        raise SimError(400, -1100, (
            f"Illegal characters found in parameter '{name}'; legal range is "
            "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'."))
    return Decimal(raw)


def int_param(params: Params, name: str) -> int | None:
    """An optional LONG/INT parameter; ``None`` when absent or empty."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not _INTEGER.match(raw):
        raise SimError(400, -1100, f"Illegal characters found in parameter '{name}'; "
                                   "legal range is '^[0-9]{1,20}$'.")
    return int(raw)


def side_param(params: Params) -> Side:
    raw = required(params, "side")
    try:
        return Side(raw)
    except ValueError:
        raise SimError(400, -1117, "Invalid side.") from None


def client_id(raw: str | None, name: str = "newClientOrderId") -> str:
    """A client order id as sent, or a fresh one like Binance's when none was."""
    if raw is None or raw == "":
        return secrets.token_urlsafe(16).replace("-", "x").replace("_", "y")[:22]
    if not _CLIENT_ID.match(raw):
        raise SimError(400, -1100, f"Illegal characters found in parameter '{name}'; legal "
                                   "range is '^[a-zA-Z0-9-_]{1,36}$'.")
    return raw


def order_ref(params: Params, client_name: str, id_name: str) -> tuple[str | None, int | None]:
    client, order_id = params.get(client_name) or None, int_param(params, id_name)
    if client is None and order_id is None:
        raise SimError(400, -1102, f"Param '{client_name}' or '{id_name}' must be sent, but "
                                   "both were empty/null!")
    return client, order_id


def limit_param(params: Params, default: int, maximum: int) -> int:
    """``limit``: ``default`` when absent, at most ``maximum`` (Binance caps, not refuses)."""
    value = int_param(params, "limit")
    if value is None:
        return default
    if value < 1:
        raise SimError(400, -1100, "Illegal characters found in parameter 'limit'; legal "
                                   "range is '^[0-9]{1,20}$'.")
    return min(value, maximum)
