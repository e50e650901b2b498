"""Every REST endpoint the engine calls, through python-binance's Client."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from binance.exceptions import BinanceAPIException

from tests.exchange.sim.conftest import NET_QTY, buy_btc, control, make_client, place_stop


def test_ping_and_time(client, sim):
    assert client.ping() == {}
    assert abs(client.get_server_time()["serverTime"] - sim.clock.now_ms()) < 5_000


def test_exchange_info_lists_filters_and_rate_limits(client):
    info = client.get_exchange_info()

    symbols = {s["symbol"]: s for s in info["symbols"]}
    filters = {f["filterType"]: f for f in symbols["BTCUSDT"]["filters"]}
    limits = {(r["rateLimitType"], r["interval"]): r["limit"] for r in info["rateLimits"]}
    assert set(symbols) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    assert (D(filters["PRICE_FILTER"]["tickSize"]), D(filters["LOT_SIZE"]["stepSize"]),
            D(filters["NOTIONAL"]["minNotional"])) == (D("0.01"), D("0.00001"), D("5"))
    assert limits[("REQUEST_WEIGHT", "MINUTE")] == 6000
    assert limits[("ORDERS", "SECOND")] == 100


def test_ticker_price_of_one_symbol_and_all(client, sim):
    control(sim.url, "price", {"symbol": "ETHUSDT", "price": "3100.5"})

    one = client.get_symbol_ticker(symbol="ETHUSDT")
    every = client.get_symbol_ticker()

    assert one == {"symbol": "ETHUSDT", "price": "3100.50000000"}
    assert {t["symbol"] for t in every} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}


def test_account_shows_free_and_locked_balances(client):
    buy_btc(client, qty="0.02")
    place_stop(client, qty="0.01")

    balances = {b["asset"]: b for b in client.get_account()["balances"]}

    # 0.02 bought, 0.1 % of it paid in BTC: 0.01998 arrived; 0.01 of it locked by the stop
    assert (D(balances["BTC"]["free"]), D(balances["BTC"]["locked"])) == (
        D("0.00998"), D("0.01"))
    assert D(balances["USDT"]["free"]) == D("100000") - D("1000")


def test_market_order_fills_at_the_last_price_with_full_response(client, sim):
    control(sim.url, "price", {"symbol": "BTCUSDT", "price": "50000"})

    order = buy_btc(client)

    assert (order["status"], order["executedQty"], order["cummulativeQuoteQty"]) == (
        "FILLED", "0.01000000", "500.00000000")
    [fill] = order["fills"]
    assert (fill["price"], fill["commission"], fill["commissionAsset"]) == (
        "50000.00000000", "0.00001000", "BTC")


def test_stop_order_is_acknowledged_then_found_by_client_id_or_order_id(client):
    buy_btc(client)
    ack = place_stop(client)

    by_client_id = client.get_order(symbol="BTCUSDT", origClientOrderId="stop-1")
    by_order_id = client.get_order(symbol="BTCUSDT", orderId=ack["orderId"])

    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    assert by_client_id == by_order_id
    assert (by_client_id["status"], by_client_id["type"], by_client_id["stopPrice"]) == (
        "NEW", "STOP_LOSS_LIMIT", "48000.00000000")
    assert by_client_id["isWorking"] is False


def test_stop_triggers_and_fills_on_a_price_from_the_path(client, sim):
    buy_btc(client)
    place_stop(client)

    control(sim.url, "price", {"symbol": "BTCUSDT", "price": "47950"})
    order = client.get_order(symbol="BTCUSDT", origClientOrderId="stop-1")
    trades = client.get_my_trades(symbol="BTCUSDT", orderId=order["orderId"])

    assert (order["status"], order["isWorking"]) == ("FILLED", True)
    assert [t["price"] for t in trades] == ["47950.00000000"]


def test_cancel_and_cancel_of_a_closed_order(client):
    buy_btc(client)
    place_stop(client)

    canceled = client.cancel_order(symbol="BTCUSDT", origClientOrderId="stop-1")
    with pytest.raises(BinanceAPIException) as err:
        client.cancel_order(symbol="BTCUSDT", origClientOrderId="stop-1")

    assert (canceled["status"], canceled["origClientOrderId"]) == ("CANCELED", "stop-1")
    assert (err.value.status_code, err.value.code, err.value.message) == (
        400, -2011, "Unknown order sent.")


def test_get_order_never_sent_is_2013(client):
    with pytest.raises(BinanceAPIException) as err:
        client.get_order(symbol="BTCUSDT", origClientOrderId="never")

    assert (err.value.code, err.value.message) == (-2013, "Order does not exist.")


def test_open_orders_of_one_symbol_or_all(client, sim):
    control(sim.url, "balance", {"asset": "ETH", "free": "1"})
    buy_btc(client)
    place_stop(client)
    client.create_order(symbol="ETHUSDT", side="SELL", type="STOP_LOSS_LIMIT",
                        timeInForce="GTC", quantity="1", price="2000", stopPrice="2100",
                        newClientOrderId="eth-stop")

    btc = client.get_open_orders(symbol="BTCUSDT")
    every = client.get_open_orders()

    assert [o["clientOrderId"] for o in btc] == ["stop-1"]
    assert [o["clientOrderId"] for o in every] == ["stop-1", "eth-stop"]


def replace(client, cancel_id="stop-1", new_id="stop-2", qty=NET_QTY):
    return client.cancel_replace_order(
        symbol="BTCUSDT", side="SELL", type="STOP_LOSS_LIMIT", timeInForce="GTC",
        quantity=qty, price="48900", stopPrice="49000", cancelReplaceMode="STOP_ON_FAILURE",
        cancelOrigClientOrderId=cancel_id, newClientOrderId=new_id,
    )


def test_cancel_replace_moves_the_stop(client):
    buy_btc(client)
    place_stop(client)

    result = replace(client)

    assert (result["cancelResult"], result["newOrderResult"]) == ("SUCCESS", "SUCCESS")
    assert result["cancelResponse"]["status"] == "CANCELED"
    assert result["newOrderResponse"]["clientOrderId"] == "stop-2"
    assert [o["clientOrderId"] for o in client.get_open_orders()] == ["stop-2"]


def test_cancel_replace_whose_cancel_fails_is_400_2022_and_places_nothing(client):
    buy_btc(client)

    with pytest.raises(BinanceAPIException) as err:
        replace(client, cancel_id="gone")

    data = err.value.response.json()["data"]
    assert (err.value.status_code, err.value.code) == (400, -2022)
    assert (data["cancelResult"], data["newOrderResult"]) == ("FAILURE", "NOT_ATTEMPTED")
    assert data["cancelResponse"] == {"code": -2011, "msg": "Unknown order sent."}
    assert data["newOrderResponse"] is None
    assert client.get_open_orders() == []


def test_cancel_replace_whose_new_order_fails_is_409_with_both_halves(client):
    buy_btc(client)
    place_stop(client)

    with pytest.raises(BinanceAPIException) as err:
        replace(client, qty="0.02")  # more than the account holds

    data = err.value.response.json()["data"]
    assert (err.value.status_code, err.value.code) == (409, -2021)
    assert (data["cancelResult"], data["newOrderResult"]) == ("SUCCESS", "FAILURE")
    assert data["cancelResponse"]["origClientOrderId"] == "stop-1"
    assert data["newOrderResponse"]["code"] == -2010


def test_my_trades_lists_fills_in_order(client):
    buy_btc(client, client_id="b1")
    buy_btc(client, client_id="b2")

    trades = client.get_my_trades(symbol="BTCUSDT")
    later = client.get_my_trades(symbol="BTCUSDT", fromId=trades[1]["id"])

    assert [t["isBuyer"] for t in trades] == [True, True]
    assert [t["id"] for t in later] == [trades[1]["id"]]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        pytest.param({"quantity": "0.000001"}, -1013, id="lot-size"),
        pytest.param({"quantity": "0.00001"}, -1013, id="notional"),
        pytest.param({"quantity": "1e-5"}, -1100, id="malformed-number"),
        pytest.param({"quantity": "10"}, -2010, id="insufficient-balance"),
        pytest.param({"quantity": "0.01", "symbol": "XRPUSDT"}, -1121, id="unknown-symbol"),
        pytest.param({"quantity": "0.01", "type": "STOP_LOSS"}, -1116, id="unsupported-type"),
    ],
)
def test_bad_orders_are_rejected_with_binance_codes(client, params, code):
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", **params}

    with pytest.raises(BinanceAPIException) as err:
        client.create_order(**order)

    assert (err.value.status_code, err.value.code) == (400, code)


def test_the_client_order_id_of_a_filled_order_is_accepted_again(client):
    first = buy_btc(client, client_id="same")

    again = buy_btc(client, client_id="same")
    found = client.get_order(symbol="BTCUSDT", origClientOrderId="same")

    assert again["orderId"] != first["orderId"]
    assert found["orderId"] == again["orderId"]


def test_missing_order_reference_is_1102(client):
    with pytest.raises(BinanceAPIException) as err:
        client.get_order(symbol="BTCUSDT")

    assert err.value.code == -1102


def test_orders_placed_and_canceled_from_outside_are_seen_by_the_client(client, sim):
    buy_btc(client)
    control(sim.url, "order", {"symbol": "BTCUSDT", "quantity": NET_QTY, "stopPrice": "48000",
                               "price": "47900", "newClientOrderId": "rt-orphan"})
    control(sim.url, "cancel", {"symbol": "BTCUSDT", "origClientOrderId": "rt-orphan"})

    order = client.get_order(symbol="BTCUSDT", origClientOrderId="rt-orphan")
    every = control(sim.url, "orders")

    assert order["status"] == "CANCELED"
    assert [o["clientOrderId"] for o in every] == ["buy-1", "rt-orphan"]


def test_request_counts_per_endpoint(client, sim):
    control(sim.url, "requests/reset", {})
    client.get_open_orders()
    client.get_open_orders()
    client.get_account()

    counts = control(sim.url, "requests")["counts"]

    assert counts == {"GET /api/v3/openOrders": 2, "GET /api/v3/account": 1}


def test_without_a_price_path_the_only_prices_are_those_sent_in(start_sim):
    sim = start_sim(price_path=False, symbols=("BTCUSDT", "ETHUSDT"))
    sim.venue.on_price("BTCUSDT", D("41000.5"), D("1641000000"), "")

    prices = {t["symbol"]: t["price"] for t in make_client(sim.url).get_all_tickers()}

    assert prices == {"BTCUSDT": "41000.50000000"}
    assert sim.book.last_price("ETHUSDT") is None
