"""Issue 10's table, rows 8 to 10 (``test_binance_rules`` has 1 to 7): the sim answers as
Binance does, over HTTP through python-binance or raw signed requests."""

from __future__ import annotations

import asyncio

import pytest

from tests.exchange.sim.conftest import (
    NET_QTY,
    buy_btc,
    control,
    make_client,
    place_stop,
    public,
)
from tests.exchange.sim.test_binance_rules import at_price, error_of
from tests.exchange.sim.test_limits import start_of_window
from tests.exchange.sim.test_ws import _user_events

# --- 8. trailingDelta: a native trailing stop (DESIGN.md §3b) ---------------------------------

def place_trailing(client, delta: str = "300", client_id: str = "trail-1", **extra) -> dict:
    return client.create_order(
        symbol="BTCUSDT", side="SELL", type="STOP_LOSS_LIMIT", timeInForce="GTC",
        quantity=NET_QTY, price="48000", trailingDelta=delta, newClientOrderId=client_id,
        newOrderRespType="RESULT", **extra)


def test_8_a_trailing_stop_without_stop_price_tracks_from_the_next_price(client, sim):
    at_price(sim, "50000")
    buy_btc(client)

    placed = place_trailing(client)
    before = client.get_order(symbol="BTCUSDT", origClientOrderId="trail-1")
    at_price(sim, "51000")  # tracking starts: peak 51000
    at_price(sim, "52000")  # peak 52000: triggers at or below 50440
    tracking = client.get_order(symbol="BTCUSDT", origClientOrderId="trail-1")
    at_price(sim, "50440.01")
    untouched = client.get_order(symbol="BTCUSDT", origClientOrderId="trail-1")
    at_price(sim, "50440")
    filled = client.get_order(symbol="BTCUSDT", origClientOrderId="trail-1")
    [trade] = client.get_my_trades(symbol="BTCUSDT", orderId=placed["orderId"])

    assert (placed["trailingDelta"], placed["trailingTime"], placed["stopPrice"]) == (
        300, -1, "0.00000000")
    assert (before["trailingDelta"], before["trailingTime"]) == (300, -1)
    assert tracking["trailingTime"] > 0 and tracking["status"] == "NEW"
    assert (untouched["status"], untouched["isWorking"]) == ("NEW", False)
    assert (filled["status"], filled["isWorking"]) == ("FILLED", True)
    assert trade["price"] == "50440.00000000"


def test_8_execution_reports_of_a_trailing_stop_carry_d_and_capital_d(sim):
    def actions():
        at_price(sim, "50000")
        control(sim.url, "order", {"symbol": "BTCUSDT", "type": "MARKET", "side": "BUY",
                                   "quantity": "0.01", "newClientOrderId": "buy-1"})
        control(sim.url, "order", {"symbol": "BTCUSDT", "quantity": NET_QTY, "price": "48000",
                                   "trailingDelta": 500, "newClientOrderId": "trail-1"})
        at_price(sim, "50000")
        at_price(sim, "47500")  # 5 % below the peak: triggers, below the limit: rests

    _, _, placed, triggered = asyncio.run(_user_events(sim, actions, 4))

    assert (placed["c"], placed["x"], placed["d"], placed["D"]) == ("trail-1", "NEW", 500, -1)
    assert (triggered["c"], triggered["w"], triggered["d"]) == ("trail-1", True, 500)
    assert triggered["D"] > 0


@pytest.mark.parametrize("delta", [pytest.param("9", id="below-10"),
                                   pytest.param("2001", id="above-2000")])
def test_8_a_trailing_delta_outside_the_filter_is_1013(client, sim, delta):
    at_price(sim, "50000")
    buy_btc(client)

    assert error_of(place_trailing, client, delta=delta) == (
        400, -1013, "Filter failure: TRAILING_DELTA")


def test_8_a_take_profit_limit_trails_too(client, sim):
    at_price(sim, "50000")
    buy_btc(client)

    placed = client.create_order(
        symbol="BTCUSDT", side="SELL", type="TAKE_PROFIT_LIMIT", timeInForce="GTC",
        quantity=NET_QTY, price="50000", stopPrice="51000", trailingDelta="200",
        newOrderRespType="RESULT")
    at_price(sim, "51000")  # reaches the stop price: tracking starts
    at_price(sim, "52000")
    at_price(sim, "50960")  # 2 % below 52000
    order = client.get_order(symbol="BTCUSDT", orderId=placed["orderId"])

    assert (placed["type"], placed["trailingDelta"]) == ("TAKE_PROFIT_LIMIT", 200)
    assert (order["type"], order["status"]) == ("TAKE_PROFIT_LIMIT", "FILLED")


def test_8_the_peak_outlives_a_sim_restart(start_sim, tmp_path):
    state = tmp_path / "restart.db"
    first = start_sim(state=state)
    client = make_client(first.url)
    at_price(first, "50000")
    buy_btc(client)
    place_trailing(client, delta="1000")
    at_price(first, "50000")
    at_price(first, "60000")  # peak 60000: triggers at or below 54000
    first.stop()

    second = start_sim(state=state)
    at_price(second, "54000.01")
    untouched = make_client(second.url).get_order(symbol="BTCUSDT", origClientOrderId="trail-1")
    at_price(second, "54000")
    filled = make_client(second.url).get_order(symbol="BTCUSDT", origClientOrderId="trail-1")

    assert untouched["status"] == "NEW"
    assert filled["status"] == "FILLED"


# --- 9. PERCENT_PRICE_BY_SIDE, maxPrice, maxQty ------------------------------------------------

@pytest.mark.parametrize(
    ("qty", "stop", "limit", "message"),
    [
        pytest.param(NET_QTY, "48000", "9999.99", "Filter failure: PERCENT_PRICE_BY_SIDE",
                     id="limit-below-0.2-of-average"),
        pytest.param(NET_QTY, "48000", "1000000.01", "Filter failure: PRICE_FILTER",
                     id="limit-above-max-price"),
        pytest.param("9000.00001", "48000", "47900", "Filter failure: LOT_SIZE",
                     id="qty-above-max-qty"),
    ],
)
def test_9_limits_beyond_tick_and_step_are_1013(client, sim, qty, stop, limit, message):
    at_price(sim, "50000")
    buy_btc(client)

    assert error_of(place_stop, client, qty=qty, stop=stop, limit=limit) == (
        400, -1013, message)


def test_9_a_market_order_above_max_qty_is_1013(client, sim):
    assert error_of(buy_btc, client, qty="9000.00001") == (
        400, -1013, "Filter failure: LOT_SIZE")


def test_9_exchange_info_lists_the_enforced_limits(client):
    symbol = client.get_exchange_info()["symbols"][0]
    filters = {f["filterType"]: f for f in symbol["filters"]}

    assert filters["PRICE_FILTER"]["maxPrice"] == "1000000.00000000"
    assert filters["LOT_SIZE"]["maxQty"] == "9000.00000000"
    assert {k: filters["PERCENT_PRICE_BY_SIDE"][k] for k in (
        "askMultiplierUp", "askMultiplierDown", "avgPriceMins")} == {
        "askMultiplierUp": "5", "askMultiplierDown": "0.2", "avgPriceMins": 5}
    assert (filters["TRAILING_DELTA"]["minTrailingBelowDelta"],
            filters["TRAILING_DELTA"]["maxTrailingBelowDelta"]) == (10, 2000)


# --- 10. ticker/24hr, depth, allOrders ---------------------------------------------------------

def test_10_ticker_24hr_reports_the_days_prints(sim):
    for price in ("51000", "49000", "50500"):  # after the start price 50000
        at_price(sim, price)
    start_of_window(sim, 60_000)  # the weights below fall in one minute

    status, one, headers = public(sim.url, "ticker/24hr", symbol="BTCUSDT")
    _, mini, _ = public(sim.url, "ticker/24hr", symbol="BTCUSDT", type="MINI")
    _, every, every_headers = public(sim.url, "ticker/24hr")

    assert status == 200
    assert list(one) == [
        "symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "prevClosePrice",
        "lastPrice", "lastQty", "bidPrice", "bidQty", "askPrice", "askQty", "openPrice",
        "highPrice", "lowPrice", "volume", "quoteVolume", "openTime", "closeTime", "firstId",
        "lastId", "count"]
    assert (one["openPrice"], one["highPrice"], one["lowPrice"], one["lastPrice"]) == (
        "50000.00000000", "51000.00000000", "49000.00000000", "50500.00000000")
    assert (one["priceChange"], one["priceChangePercent"], one["count"]) == (
        "500.00000000", "1.000", 4)
    assert (one["volume"], one["quoteVolume"], one["weightedAvgPrice"]) == (
        "0.04000000", "2005.00000000", "50125.00000000")
    assert one["closeTime"] - one["openTime"] == 86_400_000
    assert one["lastId"] - one["firstId"] >= 3
    assert set(mini) == {"symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume",
                         "quoteVolume", "openTime", "closeTime", "firstId", "lastId", "count"}
    assert {t["symbol"] for t in every} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    used = int(every_headers["X-MBX-USED-WEIGHT-1M"]) - int(headers["X-MBX-USED-WEIGHT-1M"])
    assert used == 2 + 80  # the MINI one (2) and the one for every symbol (80)


def test_10_depth_is_a_book_around_the_last_price_weighted_by_limit(sim):
    at_price(sim, "50000")
    start_of_window(sim, 60_000)

    status, book, headers = public(sim.url, "depth", symbol="BTCUSDT", limit="3")
    _, big, big_headers = public(sim.url, "depth", symbol="BTCUSDT", limit="1000")

    assert status == 200
    assert list(book) == ["lastUpdateId", "bids", "asks"]
    assert book["bids"] == [["50000.00000000", "1.00000000"], ["49999.99000000", "1.00000000"],
                            ["49999.98000000", "1.00000000"]]
    assert [level[0] for level in book["asks"]] == [
        "50000.01000000", "50000.02000000", "50000.03000000"]
    assert len(big["bids"]) == len(big["asks"]) == 1000
    used = int(big_headers["X-MBX-USED-WEIGHT-1M"]) - int(headers["X-MBX-USED-WEIGHT-1M"])
    assert used == 50


def test_10_all_orders_lists_every_order_of_a_symbol(client, sim):
    at_price(sim, "50000")
    buy_btc(client)
    place_stop(client)
    client.cancel_order(symbol="BTCUSDT", origClientOrderId="stop-1")
    start_of_window(sim, 60_000)
    client.timestamp_offset = sim.clock.shift_ms

    every = client.get_all_orders(symbol="BTCUSDT")
    weight = int(client.response.headers["X-MBX-USED-WEIGHT-1M"])
    later = client.get_all_orders(symbol="BTCUSDT", orderId=every[1]["orderId"])
    latest = client.get_all_orders(symbol="BTCUSDT", limit=1)
    weight_after = int(client.response.headers["X-MBX-USED-WEIGHT-1M"])
    too_long = error_of(client.get_all_orders, symbol="BTCUSDT", startTime=0,
                        endTime=86_400_001)

    assert [(o["clientOrderId"], o["status"]) for o in every] == [
        ("buy-1", "FILLED"), ("stop-1", "CANCELED")]
    assert list(every[1]) == list(client.get_order(symbol="BTCUSDT", origClientOrderId="stop-1"))
    assert [o["clientOrderId"] for o in later] == ["stop-1"]
    assert [o["clientOrderId"] for o in latest] == ["stop-1"]
    assert weight_after - weight == 40  # two more calls of weight 20
    assert too_long == (400, -1127, "More than 24 hours between startTime and endTime.")
