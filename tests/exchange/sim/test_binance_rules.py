"""Issue 10, one test (or a few) per row of its table: the sim answers as Binance does, with
Binance's HTTP status, error code and message, over HTTP through python-binance or raw signed
requests."""

from __future__ import annotations

import asyncio

import pytest
from binance.exceptions import BinanceAPIException

from exchange.book_rules import WOULD_TRIGGER_LIVE
from tests.exchange.sim.conftest import (
    NET_QTY,
    D,
    buy_btc,
    control,
    make_client,
    place_stop,
    signed,
)
from tests.exchange.sim.test_ws import _user_events

WOULD_TRIGGER = WOULD_TRIGGER_LIVE  # the live venue's words, not errors.md's


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
