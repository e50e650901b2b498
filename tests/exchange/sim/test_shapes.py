"""The sim's responses have the keys and JSON types of the real recordings in tests/fixtures/binance."""

from __future__ import annotations

import asyncio
import json

from tests.conftest import FIXTURES
from tests.exchange.sim.conftest import NET_QTY, buy_btc, control, place_stop
from tests.exchange.sim.test_ws import _user_events

# Keys Binance sends only in some cases (documented as conditional in the API docs).
ICEBERG_ONLY = {"icebergQty"}  # POST order: only for iceberg orders
STOP_ONLY = {"stopPrice"}  # POST order: only when a stopPrice was sent


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


def shape(value):
    """Keys and JSON types, recursively; list elements by their first item."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def test_get_order_matches_the_recorded_filled_market_order(client):
    buy_btc(client)

    order = client.get_order(symbol="BTCUSDT", origClientOrderId="buy-1")

    assert list(order) == list(fixture("order_get_filled_market_LTCUSDT.json"))
    assert shape(order) == shape(fixture("order_get_filled_market_LTCUSDT.json"))


def test_open_orders_match_the_recorded_open_orders(client):
    buy_btc(client)
    place_stop(client)

    orders = client.get_open_orders(symbol="BTCUSDT")

    assert shape(orders) == shape(fixture("open_orders_LTCUSDT.json"))


def test_post_order_full_response_matches_the_recorded_one(client):
    order = buy_btc(client)

    recorded = fixture("order_post_new_limit_SOLUSDT.json")
    expected = {k: v for k, v in shape(recorded).items() if k not in ICEBERG_ONLY}
    assert {k: v for k, v in shape(order).items() if k != "fills"} == {
        k: v for k, v in expected.items() if k != "fills"}
    assert shape(order["fills"]) == [{"price": "str", "qty": "str", "commission": "str",
                                      "commissionAsset": "str", "tradeId": "int"}]


def test_post_stop_order_result_adds_only_stop_price(client):
    buy_btc(client)

    order = client.create_order(
        symbol="BTCUSDT", side="SELL", type="STOP_LOSS_LIMIT", timeInForce="GTC",
        quantity=NET_QTY, price="47900", stopPrice="48000", newOrderRespType="RESULT",
    )

    recorded = shape(fixture("order_post_new_limit_SOLUSDT.json"))
    expected = {k: v for k, v in recorded.items() if k not in ICEBERG_ONLY | {"fills"}}
    assert shape(order) == {**expected, "stopPrice": "str"}


def test_exchange_info_matches_the_recorded_envelope_and_modern_symbol(client):
    info = client.get_exchange_info()

    recorded = fixture("exchange_info_2021_BTCUSDT_ETHUSDT.json")
    modern = fixture("exchange_info_symbol_BTCUSDT_modern.json")
    symbol = info["symbols"][0]
    assert list(info) == list(recorded)
    assert shape(info["rateLimits"]) == shape(recorded["rateLimits"])
    assert {k: v for k, v in shape(symbol).items() if k != "filters"} == {
        k: v for k, v in shape(modern).items() if k != "filters"}
    ours = {f["filterType"]: shape(f) for f in symbol["filters"]}
    theirs = {f["filterType"]: shape(f) for f in modern["filters"]}
    assert ours == theirs


def test_execution_report_matches_the_recorded_trade_event(sim):
    def actions():
        control(sim.url, "order", {"symbol": "BTCUSDT", "type": "MARKET", "side": "BUY",
                                   "quantity": "0.01", "newClientOrderId": "buy-1"})

    new, trade = asyncio.run(_user_events(sim, actions, 2))

    recorded = fixture("execution_report_trade_filled_BTCUSD.json")["data"]
    assert list(trade) == list(recorded)
    assert shape(trade) == shape(recorded)
    assert {k: v for k, v in shape(new).items() if k != "N"} == {
        k: v for k, v in shape(recorded).items() if k != "N"}
    assert new["N"] is None  # no commission asset before a trade, as on Binance


def test_a_trailing_stops_bodies_add_trailing_delta_and_time_after_stop_price(client):
    buy_btc(client)

    placed = client.create_order(
        symbol="BTCUSDT", side="SELL", type="STOP_LOSS_LIMIT", timeInForce="GTC",
        quantity=NET_QTY, price="47900", trailingDelta="250", newOrderRespType="RESULT",
    )
    queried = client.get_order(symbol="BTCUSDT", orderId=placed["orderId"])
    canceled = client.cancel_order(symbol="BTCUSDT", orderId=placed["orderId"])

    recorded = shape(fixture("order_post_new_limit_SOLUSDT.json"))
    expected = {k: v for k, v in recorded.items() if k not in ICEBERG_ONLY | {"fills"}}
    assert shape(placed) == {**expected, "stopPrice": "str", "trailingDelta": "int",
                             "trailingTime": "int"}
    for body in (placed, queried, canceled):
        keys = list(body)
        assert keys[keys.index("stopPrice") + 1:keys.index("stopPrice") + 3] == [
            "trailingDelta", "trailingTime"]
        assert (body["trailingDelta"], body["trailingTime"]) == (250, -1)
    recorded_get = list(fixture("order_get_filled_market_LTCUSDT.json"))
    after_stop = recorded_get.index("stopPrice") + 1
    assert list(queried) == [*recorded_get[:after_stop], "trailingDelta", "trailingTime",
                             *recorded_get[after_stop:]]
