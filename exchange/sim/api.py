"""The ``/api/v3`` endpoints: Binance parameters in, Binance bodies out, the venue between.

Each handler takes the merged query/form parameters and returns the JSON body, or raises
``SimError``. ``core.errors`` from the Book become Binance error bodies here. Which parameters
an endpoint reads, and how they parse, is ``exchange.sim.params``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.errors import OrderRejected, UnknownOrder, VenueError
from core.money import floor_step
from core.types import Side
from exchange.book import BookOrder
from exchange.book_status import SYMBOL_STATUSES
from exchange.sim import tickers, wire
from exchange.sim.guard import RateLimiter, SimError
from exchange.sim.params import (
    client_id,
    decimal_param,
    int_param,
    limit_param,
    not_required,
    order_ref,
    required,
    side_param,
)
from exchange.sim.venue import SimVenue

Params = Mapping[str, str]
STOP_LIMIT_TYPES = ("STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
RESPONSE_TYPES = ("ACK", "RESULT", "FULL")
CANCEL_REPLACE_FAILED = "Order cancel-replace failed."
CANCEL_REPLACE_PARTIAL = "Order cancel-replace partially failed."
NOT_SUPPORTED = SimError(400, -1020, "This operation is not supported.")  # **sim**


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


def symbols_param(params: Params) -> list[str] | None:
    """``symbols=["A","B"]`` (JSON), or ``None`` when absent."""
    raw = params.get("symbols")
    if not raw:
        return None
    try:
        names = json.loads(raw)
    except ValueError:
        names = None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise SimError(400, -1100, "Illegal characters found in parameter 'symbols'; legal "
                                   "range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\")"
                                   "{0,}){0,1}\\]$'.")
    return names


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
            ("GET", "allOrders"): Endpoint(self.all_orders, lambda p: 20, signed=True,
                                           read_faults=True),
            ("GET", "ticker/24hr"): Endpoint(self.ticker_24hr, self._ticker_weight),
            ("GET", "depth"): Endpoint(
                self.depth, lambda p: tickers.depth_weight(limit_param(p, 100, 5000))),
        }

    def _now(self) -> int:
        return self.venue.clock.now_ms()

    # --- market data ---------------------------------------------------------------------

    def _symbols(self, params: Params) -> list[str]:
        """``symbol`` or ``symbols`` (not both: -1128), each listed (-1121); else all. With
        ``symbolStatus``, only those of that status (one ``symbol`` of another: -1220)."""
        one, many = params.get("symbol"), symbols_param(params)
        if one and many is not None:
            raise SimError(400, -1128, "Combination of optional parameters invalid.")
        names = [one] if one else many if many is not None else self.book.symbols()
        names = [self._symbol(name) for name in names]
        wanted = params.get("symbolStatus") or None
        if wanted is None:
            return names
        if wanted not in SYMBOL_STATUSES:
            raise SimError(400, -1100, "Illegal characters found in parameter 'symbolStatus'; "
                                       f"legal range is '{', '.join(SYMBOL_STATUSES)}'.")
        matching = [name for name in names if self.book.status(name) == wanted]
        if one and not matching:
            raise SimError(400, -1220, "The symbol's status does not match the requested "
                                       "symbolStatus.")
        return matching

    def exchange_info(self, params: Params) -> dict[str, Any]:
        symbols = [(self.book.filters(s), self.book.status(s)) for s in self._symbols(params)]
        return wire.exchange_info(symbols, self.book.rules, self.limiter.rate_limits(),
                                  self._now())

    def ticker_price(self, params: Params) -> Any:
        prices = self.book.last_prices()
        rows = [{"symbol": s, "price": wire.fmt(prices[s])}
                for s in sorted(self._symbols(params)) if s in prices]
        return rows[0] if params.get("symbol") and rows else rows

    def _ticker_weight(self, params: Params) -> int:
        if params.get("symbol"):
            return 2
        many = symbols_param(params)
        return tickers.ticker_weight(None if many is None else len(many))

    def ticker_24hr(self, params: Params) -> Any:
        kind = params.get("type") or "FULL"
        if kind not in ("FULL", "MINI"):
            raise SimError(400, -1139, "Invalid ticker type.")
        rows = []
        for symbol in self._symbols(params):
            day = self.venue.day_stats(symbol)
            if day is not None:
                rows.append(wire.ticker_24hr(symbol, day, self.book.filters(symbol).tick,
                                             mini=kind == "MINI"))
        return rows[0] if params.get("symbol") and rows else rows

    def depth(self, params: Params) -> dict[str, Any]:
        symbol = self._symbol(required(params, "symbol"))
        self._symbols(params)  # symbolStatus
        last, day = self.book.last_price(symbol), self.venue.day_stats(symbol)
        if last is None or day is None:
            return wire.depth(0, [], [])
        bids, asks = tickers.book_levels(last, self.book.filters(symbol).tick,
                                         limit_param(params, 100, 5000))
        return wire.depth(day.last_id, bids, asks)

    # --- account -------------------------------------------------------------------------

    def account(self, params: Params) -> dict[str, Any]:
        omit_zero = params.get("omitZeroBalances") == "true"
        balances = {a: (b.free, b.locked) for a, b in self.book.balances().items()
                    if not omit_zero or b.free or b.locked}
        return wire.account_json(balances, self.fee_pct / 100, self._now())

    def my_trades(self, params: Params) -> list[dict[str, Any]]:
        """From ``fromId`` or ``startTime`` on (the first ``limit``), else the latest."""
        symbol = self._symbol(required(params, "symbol"))
        limit = limit_param(params, 500, 1000)
        start, end = self._time_range(params)
        from_id = int_param(params, "fromId")
        trades = [t for t in self.book.trades(symbol, order_id=int_param(params, "orderId"),
                                              from_id=from_id)
                  if (start is None or t.ts >= start) and (end is None or t.ts <= end)]
        trades = trades[:limit] if from_id is not None or start is not None else trades[-limit:]
        return [wire.trade_json(t) for t in trades]

    def all_orders(self, params: Params) -> list[dict[str, Any]]:
        symbol = self._symbol(required(params, "symbol"))
        start, end = self._time_range(params)
        orders = self.book.all_orders(
            symbol, from_order_id=int_param(params, "orderId"), start_ts=start, end_ts=end,
            limit=limit_param(params, 500, 1000))
        return [wire.order_json(o) for o in orders]

    @staticmethod
    def _time_range(params: Params) -> tuple[Decimal | None, Decimal | None]:
        """``startTime``/``endTime`` (ms) as epoch seconds; at most 24 hours apart (-1127)."""
        start, end = int_param(params, "startTime"), int_param(params, "endTime")
        if start is not None and end is not None and end - start > tickers.DAY_MS:
            raise SimError(400, -1127, "More than 24 hours between startTime and endTime.")
        return (None if start is None else Decimal(start) / 1000,
                None if end is None else Decimal(end) / 1000)

    # --- orders --------------------------------------------------------------------------

    def new_order(self, params: Params) -> dict[str, Any]:
        symbol = self._symbol(required(params, "symbol"))
        side = side_param(params)
        order_type = required(params, "type")
        new_id = client_id(params.get("newClientOrderId"))
        try:
            if order_type == "MARKET":
                order = self._market(symbol, side, params, new_id)
            elif order_type == "LIMIT":
                order = self._limit(symbol, side, params, new_id)
            elif order_type in STOP_LIMIT_TYPES:
                order = self.venue.stop_limit(symbol, client_id=new_id,
                                              **self._stop_limit(side, order_type, params))
            else:
                if order_type == "LIMIT_MAKER":  # what Binance would say first
                    not_required(params, "stopPrice", "trailingDelta")
                # **sim**: LIMIT_MAKER, STOP_LOSS and TAKE_PROFIT are not offered
                raise SimError(400, -1116, "Invalid orderType.")
        except VenueError as exc:
            raise venue_error(exc) from None
        return self._new_order_body(order, self._resp_type(params, order_type))

    def _market(self, symbol: str, side: Side, params: Params, new_id: str) -> BookOrder:
        not_required(params, "timeInForce", "price", "stopPrice", "trailingDelta")
        qty = decimal_param(params, "quantity", required=False)
        quote = decimal_param(params, "quoteOrderQty", required=False)
        if qty is None and quote is None:
            raise SimError(400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but "
                                       "both were empty/null!")
        if qty is None:  # as much base as ``quote`` buys (or a sale brings) at the last price
            last = self.book.last_price(symbol)
            if not last:
                raise SimError(400, -2010, f"No price for {symbol} yet.")
            qty = floor_step(quote / last, self.book.filters(symbol).step)
        else:
            not_required(params, "quoteOrderQty")
        return self.venue.market(symbol, side, qty, new_id)

    def _limit(self, symbol: str, side: Side, params: Params, new_id: str) -> BookOrder:
        """A LIMIT order (GTC): what another client on the account places."""
        not_required(params, "stopPrice", "trailingDelta")
        _good_till_canceled(params)
        not_required(params, "quoteOrderQty")
        qty, price = decimal_param(params, "quantity"), decimal_param(params, "price")
        return self.venue.limit(symbol, side, qty, price, new_id)

    def _stop_limit(self, side: Side, order_type: str, params: Params) -> dict[str, Any]:
        """The venue's arguments of a STOP_LOSS_LIMIT / TAKE_PROFIT_LIMIT."""
        _good_till_canceled(params)
        not_required(params, "quoteOrderQty")
        qty, limit = decimal_param(params, "quantity"), decimal_param(params, "price")
        stop = decimal_param(params, "stopPrice", required=False)
        trailing_delta = int_param(params, "trailingDelta")
        if stop is None and trailing_delta is None:
            raise SimError(400, -1102, "Param 'stopPrice' or 'trailingDelta' must be sent, but "
                                       "both were empty/null!")
        if side is not Side.SELL:  # **sim**
            raise SimError(400, -2010, "The sim supports SELL stop-limit orders only.")
        return {"qty": qty, "stop": stop, "limit": limit, "trailing_delta": trailing_delta,
                "take_profit": order_type == "TAKE_PROFIT_LIMIT"}

    @staticmethod
    def _resp_type(params: Params, order_type: str) -> str:
        """``newOrderRespType``: FULL by default for MARKET and LIMIT, ACK for the others."""
        value = params.get("newOrderRespType") or (
            "FULL" if order_type in ("MARKET", "LIMIT") else "ACK")
        if value not in RESPONSE_TYPES:
            raise SimError(400, -1130, "Data sent for parameter 'newOrderRespType' is not "
                                       "valid.")
        return value

    def _new_order_body(self, order: BookOrder, resp_type: str) -> dict[str, Any]:
        transact = self._now()
        if resp_type == "ACK":
            return wire.order_ack(order, transact)
        if resp_type == "RESULT":
            return wire.order_result(order, transact)
        return wire.order_full(order, self.venue.trades_of(order), transact)

    def get_order(self, params: Params) -> dict[str, Any]:
        symbol = self._symbol(required(params, "symbol"))
        client, order_id = order_ref(params, "origClientOrderId", "orderId")
        try:
            order = self.book.get_order(symbol, client, order_id=order_id)
        except VenueError as exc:
            raise venue_error(exc) from None
        return wire.order_json(order)

    def cancel_order(self, params: Params) -> dict[str, Any]:
        symbol = self._symbol(required(params, "symbol"))
        client, order_id = order_ref(params, "origClientOrderId", "orderId")
        cancel_id = client_id(params.get("newClientOrderId"))
        try:
            order = self.venue.cancel(symbol, client, order_id)
        except VenueError as exc:
            raise venue_error(exc) from None
        return wire.cancel_json(order, cancel_id, self._now())

    def open_orders(self, params: Params) -> list[dict[str, Any]]:
        symbol = params.get("symbol") or None
        if symbol:
            self._symbol(symbol)
        return [wire.order_json(o) for o in self.book.open_orders(symbol)]

    def cancel_replace(self, params: Params, *, fault: str | None = None) -> dict[str, Any]:
        """cancelReplace, STOP_ON_FAILURE. ``fault`` injects Binance's partial failures:
        ``"409"`` (the cancel applied, the new order refused) or ``"-2022"`` (the cancel
        refused as unknown, nothing placed, the old order left as it was)."""
        symbol = self._symbol(required(params, "symbol"))
        mode = required(params, "cancelReplaceMode")
        if mode not in ("STOP_ON_FAILURE", "ALLOW_FAILURE"):
            raise SimError(400, -1100, "Illegal characters found in parameter "
                                       "'cancelReplaceMode'; legal range is 'STOP_ON_FAILURE, "
                                       "ALLOW_FAILURE'.")
        if mode != "STOP_ON_FAILURE" or params.get("orderRateLimitExceededMode") not in (
                None, "", "DO_NOTHING"):
            raise NOT_SUPPORTED
        side, order_type = side_param(params), required(params, "type")
        if order_type not in STOP_LIMIT_TYPES:  # **sim**: it replaces with stop-limits only
            raise SimError(400, -1116, "Invalid orderType.")
        new_order = self._stop_limit(side, order_type, params)
        client, order_id = order_ref(params, "cancelOrigClientOrderId", "cancelOrderId")
        new_id = client_id(params.get("newClientOrderId"))
        cancel_id = client_id(params.get("cancelNewClientOrderId"), "cancelNewClientOrderId")
        resp_type = self._resp_type(params, order_type)
        if fault == "-2022":
            raise _replace_failed(UnknownOrder("Unknown order sent.", code=-2011))
        if fault == "409":
            return self._new_order_refused(symbol, client, order_id, cancel_id)
        try:
            report = self.venue.cancel_replace(symbol, client, order_id, new_client_id=new_id,
                                               **new_order)
        except OrderRejected as exc:  # a filter of the new order: nothing was done
            raise venue_error(exc) from None
        if report.canceled is None:
            raise _replace_failed(UnknownOrder(report.cancel_error or "",
                                               code=report.cancel_error_code))
        cancel_body = wire.cancel_json(report.canceled, cancel_id, self._now())
        if report.new is None:
            raise _replace_partial(cancel_body, report.new_error_code, report.new_error)
        return {
            "cancelResult": "SUCCESS", "newOrderResult": "SUCCESS",
            "cancelResponse": cancel_body,
            "newOrderResponse": self._new_order_body(report.new, resp_type),
        }

    def _new_order_refused(self, symbol: str, client: str | None, order_id: int | None,
                           cancel_id: str) -> dict[str, Any]:
        """The injected 409: the cancel is applied, the new order refused as if the price had
        moved through its stop meanwhile."""
        try:
            canceled = self.venue.cancel(symbol, client, order_id)
        except UnknownOrder as exc:
            raise _replace_failed(exc) from None
        raise _replace_partial(wire.cancel_json(canceled, cancel_id, self._now()), -2010,
                               self.book.rules.would_trigger_msg)

    # --- parameters ----------------------------------------------------------------------

    def _symbol(self, symbol: str) -> str:
        try:
            self.book.filters(symbol)
        except OrderRejected as exc:
            raise venue_error(exc) from None
        return symbol


def _good_till_canceled(params: Params) -> None:
    """``timeInForce``: required; GTC only (**sim**: IOC and FOK are -1020)."""
    time_in_force = required(params, "timeInForce")
    if time_in_force not in ("GTC", "IOC", "FOK"):
        raise SimError(400, -1115, "Invalid timeInForce.")
    if time_in_force != "GTC":
        raise NOT_SUPPORTED


def _replace_failed(cancel_error: UnknownOrder) -> SimError:
    """400 -2022: the cancel failed, so (STOP_ON_FAILURE) the new order was not attempted."""
    return SimError(400, -2022, CANCEL_REPLACE_FAILED, data={
        "cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
        "cancelResponse": {"code": cancel_error.code, "msg": str(cancel_error)},
        "newOrderResponse": None,
    })


def _replace_partial(cancel_body: dict[str, Any], code: int | None, msg: str | None) -> SimError:
    """409 -2021: the cancel succeeded and the new order was refused."""
    return SimError(409, -2021, CANCEL_REPLACE_PARTIAL, data={
        "cancelResult": "SUCCESS", "newOrderResult": "FAILURE",
        "cancelResponse": cancel_body,
        "newOrderResponse": {"code": code, "msg": msg},
    })
