"""Binance JSON shapes built from the Book's records: the only place the sim spells them.

Decimals go out as strings with 8 decimals, as Binance sends them; times are epoch ms ints.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.types import OrderState, OrderType, SymbolFilters
from exchange.book import BookOrder, BookTrade
from exchange.book_rules import VenueRules
from exchange.sim.tickers import DEPTH_LEVEL_QTY, PRINT_QTY, DayStats

ZERO8 = "0.00000000"
ORDER_LIST_ID = -1
STP_MODE = "EXPIRE_MAKER"
EXPIRY_REASON = "EXCHANGE_CANCELED"  # user-data-stream.md: "The order was canceled by Binance."


def fmt(value: Decimal | None) -> str:
    """A Decimal as Binance writes it: 8 decimals."""
    return ZERO8 if value is None else f"{value:.8f}"


def ms(ts: Decimal) -> int:
    return int(ts * 1000)


def order_type(order: BookOrder) -> str:
    """The venue's type name: the Book keeps a take-profit apart in ``take_profit``."""
    return "TAKE_PROFIT_LIMIT" if order.take_profit else order.type.value


def _trailing(order: BookOrder) -> dict[str, Any]:
    """``trailingDelta`` and ``trailingTime`` (-1 until it tracks): trailing stops only."""
    if order.trailing_delta is None:
        return {}
    tracking = -1 if order.trailing_ts is None else ms(order.trailing_ts)
    return {"trailingDelta": order.trailing_delta, "trailingTime": tracking}


def _working_time(order: BookOrder) -> int:
    if order.type is OrderType.STOP_LOSS_LIMIT:
        return ms(order.triggered_ts) if order.triggered_ts is not None else -1
    return ms(order.created_ts)


def _is_working(order: BookOrder) -> bool:
    return order.type is not OrderType.STOP_LOSS_LIMIT or order.triggered


def order_json(order: BookOrder) -> dict[str, Any]:
    """GET order / openOrders / allOrders: the keys of the real recordings, in their order."""
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": ORDER_LIST_ID,
        "clientOrderId": order.client_order_id,
        "price": fmt(order.limit_price),
        "origQty": fmt(order.qty),
        "executedQty": fmt(order.executed_qty),
        "cummulativeQuoteQty": fmt(order.quote_qty),
        "status": order.state.value,
        "timeInForce": "GTC",
        "type": order_type(order),
        "side": order.side.value,
        "stopPrice": fmt(order.stop_price),
        **_trailing(order),
        "icebergQty": ZERO8,
        "time": ms(order.created_ts),
        "updateTime": ms(order.updated_ts),
        "isWorking": _is_working(order),
        "workingTime": _working_time(order),
        "origQuoteOrderQty": ZERO8,
        "selfTradePreventionMode": STP_MODE,
        **_expiry(order, "expiryReason"),
    }


def order_ack(order: BookOrder, transact_ms: int) -> dict[str, Any]:
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": ORDER_LIST_ID,
        "clientOrderId": order.client_order_id,
        "transactTime": transact_ms,
    }


def _order_state(order: BookOrder) -> dict[str, Any]:
    """The order fields every order body carries, in Binance's key order."""
    body = {
        "price": fmt(order.limit_price),
        "origQty": fmt(order.qty),
        "executedQty": fmt(order.executed_qty),
        "origQuoteOrderQty": ZERO8,
        "cummulativeQuoteQty": fmt(order.quote_qty),
        "status": order.state.value,
        "timeInForce": "GTC",
        "type": order_type(order),
        "side": order.side.value,
    }
    if order.type is OrderType.STOP_LOSS_LIMIT:  # conditional: stop orders only
        body["stopPrice"] = fmt(order.stop_price)
        body.update(_trailing(order))
    return body


def order_result(order: BookOrder, transact_ms: int) -> dict[str, Any]:
    body = order_ack(order, transact_ms)
    body.update(_order_state(order))
    body["workingTime"] = _working_time(order)
    body["selfTradePreventionMode"] = STP_MODE
    return body


def order_full(order: BookOrder, trades: list[BookTrade], transact_ms: int) -> dict[str, Any]:
    body = order_result(order, transact_ms)
    stp = body.pop("selfTradePreventionMode")
    body["fills"] = [
        {
            "price": fmt(t.price), "qty": fmt(t.qty), "commission": fmt(t.commission),
            "commissionAsset": t.commission_asset, "tradeId": t.trade_id,
        }
        for t in trades
    ]
    body["selfTradePreventionMode"] = stp
    return body


def cancel_json(order: BookOrder, cancel_client_id: str, transact_ms: int) -> dict[str, Any]:
    """DELETE order and the cancel half of cancelReplace."""
    body: dict[str, Any] = {
        "symbol": order.symbol,
        "origClientOrderId": order.client_order_id,
        "orderId": order.order_id,
        "orderListId": ORDER_LIST_ID,
        "clientOrderId": cancel_client_id,
        "transactTime": transact_ms,
        **_order_state(order),
    }
    body["selfTradePreventionMode"] = STP_MODE
    return body


def trade_json(trade: BookTrade) -> dict[str, Any]:
    """One row of GET myTrades."""
    return {
        "symbol": trade.symbol,
        "id": trade.trade_id,
        "orderId": trade.order_id,
        "orderListId": ORDER_LIST_ID,
        "price": fmt(trade.price),
        "qty": fmt(trade.qty),
        "quoteQty": fmt(trade.quote_qty),
        "commission": fmt(trade.commission),
        "commissionAsset": trade.commission_asset,
        "time": ms(trade.ts),
        "isBuyer": trade.side.value == "BUY",
        "isMaker": trade.is_maker,
        "isBestMatch": True,
    }


def execution_report(
    order: BookOrder, event_ms: int, *, execution: str, trade: BookTrade | None = None
) -> dict[str, Any]:
    """A user-data ``executionReport``, keys as in the recorded fixture."""
    return {
        "e": "executionReport",
        "E": event_ms,
        "s": order.symbol,
        "c": order.client_order_id,
        "S": order.side.value,
        "o": order_type(order),
        "f": "GTC",
        "q": fmt(order.qty),
        "p": fmt(order.limit_price),
        "P": fmt(order.stop_price),
        **_trailing_event(order),
        "F": ZERO8,
        "g": ORDER_LIST_ID,
        "C": order.client_order_id if order.state is OrderState.CANCELED else "",
        "x": execution,
        "X": order.state.value,
        "r": "NONE",
        "i": order.order_id,
        "l": fmt(trade.qty if trade else None),
        "z": fmt(order.executed_qty),
        "L": fmt(trade.price if trade else None),
        "n": fmt(trade.commission if trade else None),
        "N": trade.commission_asset if trade else None,
        "T": ms(trade.ts) if trade else event_ms,
        "t": trade.trade_id if trade else -1,
        "I": event_ms,
        "w": _is_working(order) and order.state.is_open,
        "m": trade.is_maker if trade else False,
        "M": trade is not None,
        "O": ms(order.created_ts),
        "Z": fmt(order.quote_qty),
        "Y": fmt(trade.quote_qty if trade else None),
        "Q": ZERO8,
        "W": _working_time(order),
        "V": STP_MODE,
        **_expiry(order, "eR"),
    }


def _expiry(order: BookOrder, key: str) -> dict[str, Any]:
    """An expired order's reason (``eR`` in an executionReport, ``expiryReason`` in an order
    body): the sim's orders expire only when the exchange closes them (a symbol's
    ``expire_orders``)."""
    return {key: EXPIRY_REASON} if order.state is OrderState.EXPIRED else {}


def _trailing_event(order: BookOrder) -> dict[str, Any]:
    """An executionReport's ``d`` (trailing delta) and ``D`` (trailing time): trailing only."""
    trailing = _trailing(order)
    return {"d": trailing["trailingDelta"], "D": trailing["trailingTime"]} if trailing else {}


def symbol_json(f: SymbolFilters, rules: VenueRules, status: str = "TRADING") -> dict[str, Any]:
    """One ``exchangeInfo.symbols[]`` entry, with the modern filter set."""
    return {
        "symbol": f.symbol,
        "status": status,
        "baseAsset": f.base_asset,
        "baseAssetPrecision": 8,
        "quoteAsset": f.quote_asset,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": fmt(f.tick),
             "maxPrice": fmt(rules.max_price), "tickSize": fmt(f.tick)},
            {"filterType": "LOT_SIZE", "minQty": fmt(f.step), "maxQty": fmt(rules.max_qty),
             "stepSize": fmt(f.step)},
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {"filterType": "MARKET_LOT_SIZE", "minQty": ZERO8, "maxQty": fmt(rules.max_qty),
             "stepSize": ZERO8},
            {"filterType": "TRAILING_DELTA",
             "minTrailingAboveDelta": rules.min_trailing_above_delta,
             "maxTrailingAboveDelta": rules.max_trailing_above_delta,
             "minTrailingBelowDelta": rules.min_trailing_below_delta,
             "maxTrailingBelowDelta": rules.max_trailing_below_delta},
            {"filterType": "PERCENT_PRICE_BY_SIDE",
             "bidMultiplierUp": str(rules.bid_multiplier_up),
             "bidMultiplierDown": str(rules.bid_multiplier_down),
             "askMultiplierUp": str(rules.ask_multiplier_up),
             "askMultiplierDown": str(rules.ask_multiplier_down),
             "avgPriceMins": rules.avg_price_mins},
            {"filterType": "NOTIONAL", "minNotional": fmt(f.min_notional),
             "applyMinToMarket": True, "maxNotional": fmt(rules.max_notional),
             "applyMaxToMarket": False, "avgPriceMins": rules.avg_price_mins},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": rules.max_num_orders},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": rules.max_num_algo_orders},
        ],
        "permissions": ["SPOT"],
        "defaultSelfTradePreventionMode": STP_MODE,
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def exchange_info(
    symbols: list[tuple[SymbolFilters, str]], rules: VenueRules,
    rate_limits: list[dict[str, Any]], server_ms: int,
) -> dict[str, Any]:
    """``symbols``: each symbol's filters and trading status."""
    return {
        "timezone": "UTC",
        "serverTime": server_ms,
        "rateLimits": rate_limits,
        "exchangeFilters": [],
        "symbols": [symbol_json(f, rules, status) for f, status in symbols],
    }


def account_json(
    balances: dict[str, tuple[Decimal, Decimal]], fee_rate: Decimal, server_ms: int
) -> dict[str, Any]:
    """GET account. ``fee_rate`` is a fraction (0.001 for 0.1 %)."""
    bps = int(fee_rate * 10000)
    return {
        "makerCommission": bps,
        "takerCommission": bps,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": fmt(fee_rate), "taker": fmt(fee_rate), "buyer": ZERO8, "seller": ZERO8,
        },
        "canTrade": True,
        "canWithdraw": False,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": server_ms,
        "accountType": "SPOT",
        "balances": [
            {"asset": asset, "free": fmt(free), "locked": fmt(locked)}
            for asset, (free, locked) in sorted(balances.items())
        ],
        "permissions": ["SPOT"],
        "uid": 354937868,
    }


def account_position(balances: list[tuple[str, Decimal, Decimal]], event_ms: int,
                     ) -> dict[str, Any]:
    """A user-data ``outboundAccountPosition``: the (asset, free, locked) an update changed."""
    return {
        "e": "outboundAccountPosition", "E": event_ms, "u": event_ms,
        "B": [{"a": asset, "f": fmt(free), "l": fmt(locked)} for asset, free, locked in balances],
    }


def trade_event(stream_kind: str, symbol: str, trade_id: int, price: Decimal, price_ms: int,
                event_ms: int, day: DayStats) -> dict[str, Any]:
    """The ``data`` of one market-data frame: trade, aggTrade or 24hrMiniTicker."""
    qty = fmt(PRINT_QTY)
    if stream_kind == "trade":
        return {"e": "trade", "E": event_ms, "s": symbol, "t": trade_id, "p": fmt(price),
                "q": qty, "T": price_ms, "m": False, "M": True}
    if stream_kind == "aggTrade":
        return {"e": "aggTrade", "E": event_ms, "s": symbol, "a": trade_id, "p": fmt(price),
                "q": qty, "f": trade_id, "l": trade_id, "T": price_ms, "m": False, "M": True}
    return {"e": "24hrMiniTicker", "E": event_ms, "s": symbol, "c": fmt(price),
            "o": fmt(day.open), "h": fmt(day.high), "l": fmt(day.low),
            "v": fmt(day.volume), "q": fmt(day.quote_volume)}


def ticker_24hr(symbol: str, day: DayStats, tick: Decimal, mini: bool) -> dict[str, Any]:
    """One ``GET ticker/24hr`` entry (FULL, or MINI's subset), keys in the docs' order."""
    full = {
        "symbol": symbol,
        "priceChange": fmt(day.change),
        "priceChangePercent": f"{day.change_pct:.3f}",
        "weightedAvgPrice": fmt(day.weighted_avg),
        "prevClosePrice": fmt(day.prev_close),
        "lastPrice": fmt(day.last),
        "lastQty": fmt(PRINT_QTY),
        "bidPrice": fmt(day.last),
        "bidQty": fmt(DEPTH_LEVEL_QTY),
        "askPrice": fmt(day.last + tick),
        "askQty": fmt(DEPTH_LEVEL_QTY),
        "openPrice": fmt(day.open),
        "highPrice": fmt(day.high),
        "lowPrice": fmt(day.low),
        "volume": fmt(day.volume),
        "quoteVolume": fmt(day.quote_volume),
        "openTime": day.open_ms,
        "closeTime": day.close_ms,
        "firstId": day.first_id,
        "lastId": day.last_id,
        "count": day.count,
    }
    if not mini:
        return full
    keep = ("symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume",
            "quoteVolume", "openTime", "closeTime", "firstId", "lastId", "count")
    return {key: full[key] for key in keep}


def depth(last_update_id: int, bids: list[Decimal], asks: list[Decimal]) -> dict[str, Any]:
    """``GET depth``: ``[price, qty]`` pairs, best first."""
    level = fmt(DEPTH_LEVEL_QTY)
    return {"lastUpdateId": last_update_id,
            "bids": [[fmt(p), level] for p in bids], "asks": [[fmt(p), level] for p in asks]}
