"""The ``/api/v3`` endpoints: Binance parameters in, Binance bodies out, the venue between.

Each handler takes the merged query/form parameters and returns the JSON body, or raises
``SimError``. ``core.errors`` from the Book become Binance error bodies here.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.errors import OrderRejected, UnknownOrder, VenueError
from core.types import Side
from exchange.book import BookOrder
from exchange.sim import wire
from exchange.sim.guard import RateLimiter, SimError, mandatory
from exchange.sim.venue import SimVenue

_DECIMAL = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_CLIENT_ID = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")

Params = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """How one endpoint is guarded: its weight, whether it is signed, whether it places an
    order (ORDERS limits) or changes one (fault injection)."""

    handler: Callable[[Params], Any]
    weight: Callable[[Params], int]
    signed: bool = False
    places_order: bool = False
    order_write: bool = False
    read_faults: bool = False


def venue_error(exc: VenueError) -> SimError:
    """A ``core.errors`` error from the Book as Binance's answer."""
    return SimError(exc.http_status or 400, exc.code or -1000, str(exc))


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


def _required(params: Params, name: str) -> str:
    value = params.get(name)
    if not value:
        raise mandatory(name)
    return value


def _order_id(params: Params, name: str = "orderId") -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise SimError(400, -1100, f"Illegal characters found in parameter '{name}'; "
                                   "legal range is '^[0-9]{1,20}$'.")
    return int(raw)


class Api:
    """Binance REST over a ``SimVenue``."""

    def __init__(self, venue: SimVenue, limiter: RateLimiter, fee_pct: Decimal) -> None:
        self.venue = venue
        self.book = venue.book
        self.limiter = limiter
        self.fee_pct = fee_pct
        one, free = (lambda p: 1), (lambda p: 0)
        self.routes: dict[tuple[str, str], Endpoint] = {
            ("GET", "ping"): Endpoint(lambda p: {}, one),
            ("GET", "time"): Endpoint(lambda p: {"serverTime": self._now()}, one),
            ("GET", "exchangeInfo"): Endpoint(self.exchange_info, lambda p: 20),
            ("GET", "ticker/price"): Endpoint(
                self.ticker_price, lambda p: 2 if p.get("symbol") else 4),
            ("GET", "account"): Endpoint(self.account, lambda p: 20, signed=True,
                                         read_faults=True),
            ("POST", "order"): Endpoint(self.new_order, free, signed=True, places_order=True,
                                        order_write=True),
            ("GET", "order"): Endpoint(self.get_order, lambda p: 4, signed=True,
                                       read_faults=True),
            ("DELETE", "order"): Endpoint(self.cancel_order, free, signed=True,
                                          order_write=True),
            ("GET", "openOrders"): Endpoint(
                self.open_orders, lambda p: 6 if p.get("symbol") else 80, signed=True,
                read_faults=True),
            ("POST", "order/cancelReplace"): Endpoint(
                self.cancel_replace, free, signed=True, places_order=True, order_write=True),
            ("GET", "myTrades"): Endpoint(
                self.my_trades, lambda p: 5 if p.get("orderId") else 20, signed=True,
                read_faults=True),
        }

    def _now(self) -> int:
        return self.venue.clock.now_ms()

    # --- market data ---------------------------------------------------------------------

    def exchange_info(self, params: Params) -> dict[str, Any]:
        symbols = [params["symbol"]] if params.get("symbol") else self.book.symbols()
        try:
            filters = [self.book.filters(s) for s in symbols]
        except VenueError as exc:
            raise venue_error(exc) from None
        return wire.exchange_info(filters, self.limiter.rate_limits(), self._now())

    def ticker_price(self, params: Params) -> Any:
        prices = self.book.last_prices()
        symbol = params.get("symbol")
        if symbol:
            if symbol not in prices:
                raise SimError(400, -1121, "Invalid symbol.")
            return {"symbol": symbol, "price": wire.fmt(prices[symbol])}
        return [{"symbol": s, "price": wire.fmt(p)} for s, p in sorted(prices.items())]

    # --- account -------------------------------------------------------------------------

    def account(self, params: Params) -> dict[str, Any]:
        balances = {a: (b.free, b.locked) for a, b in self.book.balances().items()}
        return wire.account_json(balances, self.fee_pct / 100, self._now())

    def my_trades(self, params: Params) -> list[dict[str, Any]]:
        symbol = _required(params, "symbol")
        self._symbol(symbol)
        limit = min(int(params.get("limit") or 500), 1000)
        trades = self.book.trades(
            symbol, order_id=_order_id(params), from_id=_order_id(params, "fromId"),
            limit=limit,
        )
        return [wire.trade_json(t) for t in trades]

    # --- orders --------------------------------------------------------------------------

    def new_order(self, params: Params) -> dict[str, Any]:
        symbol = self._symbol(_required(params, "symbol"))
        side = self._side(params)
        order_type = _required(params, "type")
        client_id = self._client_id(params.get("newClientOrderId"))
        qty = decimal_param(params, "quantity")
        resp_type = params.get("newOrderRespType") or ("FULL" if order_type == "MARKET"
                                                        else "ACK")
        try:
            if order_type == "MARKET":
                order = self.venue.market(symbol, side, qty, client_id)
            elif order_type == "STOP_LOSS_LIMIT":
                order = self._stop_limit(symbol, side, qty, params, client_id)
            else:
                raise SimError(400, -1116, "Invalid orderType.")
        except VenueError as exc:
            raise venue_error(exc) from None
        return self._new_order_body(order, resp_type)

    def _stop_limit(
        self, symbol: str, side: Side, qty: Decimal, params: Params, client_id: str
    ) -> BookOrder:
        stop, limit = decimal_param(params, "stopPrice"), decimal_param(params, "price")
        if params.get("timeInForce") != "GTC":
            raise mandatory("timeInForce")
        if side is not Side.SELL:
            raise SimError(400, -2010, "The sim supports STOP_LOSS_LIMIT SELL only.")
        return self.venue.stop_limit(symbol, qty, stop, limit, client_id)

    def _new_order_body(self, order: BookOrder, resp_type: str) -> dict[str, Any]:
        transact = self._now()
        if resp_type == "ACK":
            return wire.order_ack(order, transact)
        if resp_type == "RESULT":
            return wire.order_result(order, transact)
        return wire.order_full(order, self.venue.trades_of(order), transact)

    def get_order(self, params: Params) -> dict[str, Any]:
        symbol = self._symbol(_required(params, "symbol"))
        client_id, order_id = self._order_ref(params, "origClientOrderId", "orderId")
        try:
            order = self.book.get_order(symbol, client_id, order_id=order_id)
        except VenueError as exc:
            raise venue_error(exc) from None
        return wire.order_json(order)

    def cancel_order(self, params: Params) -> dict[str, Any]:
        symbol = self._symbol(_required(params, "symbol"))
        client_id, order_id = self._order_ref(params, "origClientOrderId", "orderId")
        cancel_id = self._client_id(params.get("newClientOrderId"))
        try:
            order = self.venue.cancel(symbol, client_id, order_id)
        except VenueError as exc:
            raise venue_error(exc) from None
        return wire.cancel_json(order, cancel_id, self._now())

    def open_orders(self, params: Params) -> list[dict[str, Any]]:
        symbol = params.get("symbol") or None
        if symbol:
            self._symbol(symbol)
        return [wire.order_json(o) for o in self.book.open_orders(symbol)]

    def cancel_replace(self, params: Params, *, fail_new: bool = False) -> dict[str, Any]:
        """cancelReplace, STOP_ON_FAILURE. ``fail_new`` injects a 409 (cancel applied only)."""
        symbol = self._symbol(_required(params, "symbol"))
        if _required(params, "cancelReplaceMode") != "STOP_ON_FAILURE":
            raise SimError(400, -1145, "The sim supports cancelReplaceMode STOP_ON_FAILURE.")
        if _required(params, "type") != "STOP_LOSS_LIMIT":
            raise SimError(400, -1116, "Invalid orderType.")
        if self._side(params) is not Side.SELL or params.get("timeInForce") != "GTC":
            raise SimError(400, -2010, "The sim replaces with STOP_LOSS_LIMIT SELL GTC only.")
        client_id, order_id = self._order_ref(params, "cancelOrigClientOrderId",
                                              "cancelOrderId")
        new_id = self._client_id(params.get("newClientOrderId"))
        qty, stop = decimal_param(params, "quantity"), decimal_param(params, "stopPrice")
        limit = decimal_param(params, "price")
        if fail_new:
            return self._partial_failure(symbol, client_id, order_id)
        report = self.venue.cancel_replace(symbol, client_id, order_id, qty, stop, limit, new_id)
        now = self._now()
        if report.canceled is None:
            raise SimError(400, -2022, "Order cancel-replace failed.", data={
                "cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
                "cancelResponse": {"code": report.cancel_error_code, "msg": report.cancel_error},
                "newOrderResponse": None,
            })
        cancel_body = wire.cancel_json(report.canceled, self._client_id(None), now)
        if report.new is None:
            raise SimError(409, -2021, "Order cancel-replace partially failed.", data={
                "cancelResult": "SUCCESS", "newOrderResult": "FAILURE",
                "cancelResponse": cancel_body,
                "newOrderResponse": {"code": report.new_error_code, "msg": report.new_error},
            })
        resp_type = params.get("newOrderRespType") or "ACK"
        return {
            "cancelResult": "SUCCESS", "newOrderResult": "SUCCESS",
            "cancelResponse": cancel_body,
            "newOrderResponse": self._new_order_body(report.new, resp_type),
        }

    def _partial_failure(self, symbol: str, client_id: str | None, order_id: int | None):
        try:
            canceled = self.venue.cancel(symbol, client_id, order_id)
        except UnknownOrder as exc:
            raise SimError(400, -2022, "Order cancel-replace failed.", data={
                "cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
                "cancelResponse": {"code": exc.code, "msg": str(exc)},
                "newOrderResponse": None,
            }) from None
        raise SimError(409, -2021, "Order cancel-replace partially failed.", data={
            "cancelResult": "SUCCESS", "newOrderResult": "FAILURE",
            "cancelResponse": wire.cancel_json(canceled, self._client_id(None), self._now()),
            "newOrderResponse": {"code": -1008, "msg": (
                "Server is currently overloaded with other requests. Please try again in a "
                "few minutes.")},
        })

    # --- parameters ----------------------------------------------------------------------

    def _symbol(self, symbol: str) -> str:
        try:
            self.book.filters(symbol)
        except OrderRejected as exc:
            raise venue_error(exc) from None
        return symbol

    @staticmethod
    def _side(params: Params) -> Side:
        raw = _required(params, "side")
        try:
            return Side(raw)
        except ValueError:
            raise SimError(400, -1117, "Invalid side.") from None

    @staticmethod
    def _client_id(raw: str | None) -> str:
        if raw is None or raw == "":
            return secrets.token_urlsafe(16).replace("-", "x").replace("_", "y")[:22]
        if not _CLIENT_ID.match(raw):
            raise SimError(400, -1100, "Illegal characters found in parameter "
                                       "'newClientOrderId'; legal range is "
                                       "'^[a-zA-Z0-9-_]{1,36}$'.")
        return raw

    @staticmethod
    def _order_ref(params: Params, client_name: str, id_name: str) -> tuple[str | None, int | None]:
        client_id, order_id = params.get(client_name) or None, _order_id(params, id_name)
        if client_id is None and order_id is None:
            raise SimError(400, -1102, f"Param '{client_name}' or '{id_name}' must be sent, "
                                       "but both were empty/null!")
        return client_id, order_id
