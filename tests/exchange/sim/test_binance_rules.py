"""Issue 10, one test (or a few) per row of its table: the sim answers as Binance does, with
Binance's HTTP status, error code and message, over HTTP through python-binance or raw signed
requests."""

from __future__ import annotations

import asyncio

import pytest
from binance.exceptions import BinanceAPIException

from tests.exchange.sim.conftest import (
    NET_QTY,
    D,
    buy_btc,
    control,
    make_client,
    place_stop,
    public,
    signed,
)
from tests.exchange.sim.test_limits import start_of_window
from tests.exchange.sim.test_ws import _user_events

WOULD_TRIGGER = "Order would trigger immediately."


def error_of(call, *args, **kw) -> tuple[int, int, str]:
    with pytest.raises(BinanceAPIException) as err:
        call(*args, **kw)
    return err.value.status_code, err.value.code, err.value.message


def at_price(sim, price: str, symbol: str = "BTCUSDT") -> None:
    control(sim.url, "price", {"symbol": symbol, "price": price})


# --- 1. commission: BUY in base, SELL in quote; BNB when asked ---------------------------------

def test_1_a_buy_pays_commission_in_the_base_asset_and_a_sell_in_the_quote_asset(client, sim):
    at_price(sim, "50000")

    buy = client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.002")
    sell = client.create_order(symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.00199")
    trades = client.get_my_trades(symbol="BTCUSDT")
    balances = {b["asset"]: b["free"] for b in client.get_account()["balances"]}

    assert [(f["commission"], f["commissionAsset"]) for f in buy["fills"]] == [
        ("0.00000200", "BTC")]
    assert [(f["commission"], f["commissionAsset"]) for f in sell["fills"]] == [
        ("0.09950000", "USDT")]
    assert [(t["commission"], t["commissionAsset"]) for t in trades] == [
        ("0.00000200", "BTC"), ("0.09950000", "USDT")]
    assert balances["BTC"] == "0.00000800"  # 0.001998 received, 0.00199 sold
    assert balances["USDT"] == "99999.40050000"  # - 100 + 99.5 - 0.0995


def test_1_the_execution_report_carries_the_real_commission(sim):
    def actions():
        control(sim.url, "order", {"symbol": "BTCUSDT", "type": "MARKET", "side": "BUY",
                                   "quantity": "0.01", "newClientOrderId": "buy-1"})

    _, trade = asyncio.run(_user_events(sim, actions, 2))

    assert (trade["x"], trade["n"], trade["N"]) == ("TRADE", "0.00001000", "BTC")


def test_1_with_fee_asset_bnb_the_fee_is_bnb_at_its_price_until_it_runs_out(start_sim):
    sim = start_sim(symbols=("BTCUSDT", "BNBUSDT"), fee_asset="BNB",
                    balances={"USDT": D("100000"), "BNB": D("0.0005")})
    client = make_client(sim.url)
    at_price(sim, "400", "BNBUSDT")
    at_price(sim, "50000")

    first = buy_btc(client, qty="0.002", client_id="b1")  # 0.1 USDT of fee = 0.00025 BNB
    at_price(sim, "200", "BNBUSDT")
    second = buy_btc(client, qty="0.002", client_id="b2")  # 0.0005 BNB now: only 0.00025 left
    third = buy_btc(client, qty="0.002", client_id="b3")

    fees = [(o["fills"][0]["commission"], o["fills"][0]["commissionAsset"])
            for o in (first, second, third)]
    assert fees == [("0.00025000", "BNB"), ("0.00000200", "BTC"), ("0.00000200", "BTC")]
    balances = {b["asset"]: b["free"] for b in client.get_account()["balances"]}
    assert (balances["BNB"], balances["BTC"]) == ("0.00025000", "0.00599600")


# --- 2. a stop the last price already meets ----------------------------------------------------

@pytest.mark.parametrize("stop", [pytest.param("50000", id="at-last-price"),
                                  pytest.param("50000.01", id="above-last-price")])
def test_2_a_stop_loss_limit_sell_at_or_above_the_last_price_is_refused(client, sim, stop):
    at_price(sim, "50000")
    buy_btc(client)

    answer = error_of(place_stop, client, stop=stop, limit="49000")

    assert answer == (400, -2010, WOULD_TRIGGER)
    assert client.get_open_orders(symbol="BTCUSDT") == []


# --- 3. cancelReplace whose new stop would trigger: 409, the cancel stands ---------------------

def test_3_a_replace_whose_new_stop_would_trigger_is_409_with_binances_body(client, sim):
    at_price(sim, "50000")
    buy_btc(client)
    place_stop(client)

    status, body, _ = signed(
        sim.url, "POST", "order/cancelReplace", symbol="BTCUSDT", side="SELL",
        type="STOP_LOSS_LIMIT", timeInForce="GTC", quantity=NET_QTY, price="49900",
        stopPrice="50000", cancelReplaceMode="STOP_ON_FAILURE",
        cancelOrigClientOrderId="stop-1", newClientOrderId="stop-2")

    assert status == 409
    assert (body["code"], body["msg"]) == (-2021, "Order cancel-replace partially failed.")
    data = body["data"]
    assert list(data) == ["cancelResult", "newOrderResult", "cancelResponse", "newOrderResponse"]
    assert (data["cancelResult"], data["newOrderResult"]) == ("SUCCESS", "FAILURE")
    assert list(data["cancelResponse"])[:6] == [
        "symbol", "origClientOrderId", "orderId", "orderListId", "clientOrderId",
        "transactTime"]
    assert (data["cancelResponse"]["origClientOrderId"], data["cancelResponse"]["status"]) == (
        "stop-1", "CANCELED")
    assert data["newOrderResponse"] == {"code": -2010, "msg": WOULD_TRIGGER}
    assert client.get_open_orders() == []


# --- 4. cancelReplace checks the new order's filters before the cancel ------------------------

@pytest.mark.parametrize(
    ("price", "stop", "message"),
    [
        pytest.param("47900", "48000.001", "Filter failure: PRICE_FILTER", id="price-filter"),
        pytest.param("9999.99", "48000", "Filter failure: PERCENT_PRICE_BY_SIDE",
                     id="percent-price"),
    ],
)
def test_4_a_replace_breaking_a_filter_is_400_1013_and_the_old_stop_stays(client, sim, price,
                                                                         stop, message):
    at_price(sim, "50000")
    buy_btc(client)
    place_stop(client)

    status, body, _ = signed(
        sim.url, "POST", "order/cancelReplace", symbol="BTCUSDT", side="SELL",
        type="STOP_LOSS_LIMIT", timeInForce="GTC", quantity=NET_QTY, price=price,
        stopPrice=stop, cancelReplaceMode="STOP_ON_FAILURE", cancelOrigClientOrderId="stop-1",
        newClientOrderId="stop-2")

    assert (status, body) == (400, {"code": -1013, "msg": message})
    [still] = client.get_open_orders(symbol="BTCUSDT")
    assert (still["clientOrderId"], still["status"]) == ("stop-1", "NEW")


# --- 5. MAX_NUM_ALGO_ORDERS ---------------------------------------------------------------------

def test_5_the_sixth_open_stop_of_a_symbol_is_refused(client, sim):
    at_price(sim, "50000")
    buy_btc(client, qty="0.1")
    for i in range(5):
        place_stop(client, client_id=f"stop-{i}", qty="0.01")

    answer = error_of(place_stop, client, client_id="stop-5", qty="0.01")
    limits = {f["filterType"]: f for f in
              client.get_exchange_info()["symbols"][0]["filters"]}

    assert answer == (400, -2010, "Filter failure: MAX_NUM_ALGO_ORDERS")
    assert limits["MAX_NUM_ALGO_ORDERS"]["maxNumAlgoOrders"] == 5
    assert len(client.get_open_orders(symbol="BTCUSDT")) == 5


# --- 6. client order ids: unique among open orders only ----------------------------------------

def test_6_the_id_of_an_open_order_is_refused_and_of_a_closed_one_accepted(client, sim):
    at_price(sim, "50000")
    buy_btc(client, qty="0.02")
    place_stop(client, client_id="stop-1")

    duplicate = error_of(place_stop, client, client_id="stop-1")
    client.cancel_order(symbol="BTCUSDT", origClientOrderId="stop-1")
    reused = place_stop(client, client_id="stop-1", stop="47000", limit="46900")
    queried = client.get_order(symbol="BTCUSDT", origClientOrderId="stop-1")

    assert duplicate == (400, -2010, "Duplicate order sent.")
    assert (queried["orderId"], queried["status"], queried["stopPrice"]) == (
        reused["orderId"], "NEW", "47000.00000000")


# --- 7. unknown parameters and parameters sent when not required -------------------------------

def test_7_an_unknown_parameter_is_1104_naming_the_counts(sim):
    status, body, _ = signed(sim.url, "POST", "order", symbol="BTCUSDT", side="BUY",
                             type="MARKET", quantity="0.01", quantty="0.01")

    # sent: the five above, timestamp, signature; read: all but the misspelled one
    assert (status, body) == (400, {"code": -1104, "msg": (
        "Not all sent parameters were read; read '6' parameter(s) but was sent '7'.")})
    assert control(sim.url, "orders") == []


def test_7_an_unknown_parameter_of_a_query_is_1104_too(sim):
    status, body, _ = signed(sim.url, "GET", "openOrders", symbol="BTCUSDT", side="BUY")

    assert (status, body["code"]) == (400, -1104)


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        pytest.param({"type": "MARKET", "price": "50000"}, -1106,
                     "Parameter 'price' sent when not required.", id="price-on-market"),
        pytest.param({"type": "MARKET", "stopPrice": "49000"}, -1106,
                     "Parameter 'stopPrice' sent when not required.", id="stop-on-market"),
        pytest.param({"type": "MARKET", "trailingDelta": "100"}, -1106,
                     "Parameter 'trailingDelta' sent when not required.",
                     id="trailing-on-market"),
        pytest.param({"type": "LIMIT", "timeInForce": "GTC", "price": "50000",
                      "stopPrice": "49000"}, -1106,
                     "Parameter 'stopPrice' sent when not required.", id="stop-on-limit"),
        pytest.param({"type": "MARKET", "timeInForce": "GTC"}, -1114,
                     "TimeInForce parameter sent when not required.", id="tif-on-market"),
    ],
)
def test_7_a_parameter_the_order_type_does_not_take_is_refused(sim, params, code, message):
    status, body, _ = signed(sim.url, "POST", "order", symbol="BTCUSDT", side="BUY",
                             quantity="0.01", **params)

    assert (status, body) == (400, {"code": code, "msg": message})


def test_7_what_python_binance_adds_is_read(client, sim):
    at_price(sim, "50000")

    order = client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET",
                                quantity="0.01", newOrderRespType="RESULT")
    status, body, _ = signed(sim.url, "GET", "openOrders", symbol="BTCUSDT",
                             recvWindow="10000")

    assert order["clientOrderId"].startswith("x-")  # python-binance's own newClientOrderId
    assert (order["status"], status, body) == ("FILLED", 200, [])


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
