"""Another client's orders on the same account: client ids without Ratchet's prefix, LIMIT
orders resting on the book, placed over REST as another bot would or from outside."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from binance.exceptions import BinanceAPIException

from tests.exchange.sim.conftest import buy_btc, control, place_stop, signed
from tests.exchange.sim.test_ws import _user_events

WEB_ID = "web_5f1c2d9a0b7e4c3f8a6d1e2b9c0f7a3d"


def at_price(sim, price: str) -> None:
    control(sim.url, "price", {"symbol": "BTCUSDT", "price": price})


def balance(client, asset: str) -> tuple[str, str]:
    held = next(b for b in client.get_account()["balances"] if b["asset"] == asset)
    return held["free"], held["locked"]


def test_a_rest_buy_limit_rests_locking_quote_and_fills_at_its_price(sim, client):
    at_price(sim, "50000")

    placed = client.create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                 quantity="0.01", price="49000", newClientOrderId=WEB_ID)
    resting = client.get_open_orders(symbol="BTCUSDT")
    locked = balance(client, "USDT")
    at_price(sim, "49000.01")
    still = client.get_order(symbol="BTCUSDT", origClientOrderId=WEB_ID)["status"]
    at_price(sim, "48500")
    filled = client.get_order(symbol="BTCUSDT", origClientOrderId=WEB_ID)
    [trade] = client.get_my_trades(symbol="BTCUSDT")

    assert (placed["type"], placed["status"], placed["fills"]) == ("LIMIT", "NEW", [])  # FULL
    assert [(o["clientOrderId"], o["type"], o["price"]) for o in resting] == [
        (WEB_ID, "LIMIT", "49000.00000000")]
    assert locked == ("99510.00000000", "490.00000000")
    assert still == "NEW"
    assert (filled["status"], filled["cummulativeQuoteQty"]) == ("FILLED", "490.00000000")
    assert (trade["price"], trade["isMaker"]) == ("49000.00000000", True)
    assert balance(client, "USDT") == ("99510.00000000", "0.00000000")


def test_a_foreign_sell_limit_fills_when_the_price_rises_to_it_and_is_reported(sim):
    at_price(sim, "50000")

    def actions():
        control(sim.url, "order", {"symbol": "BTCUSDT", "type": "MARKET", "side": "BUY",
                                   "quantity": "0.02", "newClientOrderId": "and_buy"})
        control(sim.url, "order", {"symbol": "BTCUSDT", "type": "LIMIT", "side": "SELL",
                                   "quantity": "0.01", "price": "51000",
                                   "newClientOrderId": "and_sell"})
        at_price(sim, "50999.99")
        at_price(sim, "51200")

    events = asyncio.run(_user_events(sim, actions, 4))

    assert [(e["c"], e["o"], e["x"], e["X"]) for e in events] == [
        ("and_buy", "MARKET", "NEW", "NEW"), ("and_buy", "MARKET", "TRADE", "FILLED"),
        ("and_sell", "LIMIT", "NEW", "NEW"), ("and_sell", "LIMIT", "TRADE", "FILLED")]
    assert (events[-1]["L"], events[-1]["m"]) == ("51000.00000000", True)


def test_a_limit_crossing_the_price_fills_at_once_at_the_last_price(sim, client):
    at_price(sim, "50000")
    buy_btc(client, qty="0.02")

    sold = client.create_order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                               quantity="0.01", price="49000", newClientOrderId="x-AB12cd")

    assert sold["status"] == "FILLED"
    assert [f["price"] for f in sold["fills"]] == ["50000.00000000"]


@pytest.mark.parametrize(
    ("params", "answer"),
    [
        pytest.param({"price": "49000"}, (-1102, "Mandatory parameter 'timeInForce' was not "
                                                  "sent, was empty/null, or malformed."),
                     id="no-time-in-force"),
        pytest.param({"timeInForce": "GTC"}, (-1102, "Mandatory parameter 'price' was not "
                                                     "sent, was empty/null, or malformed."),
                     id="no-price"),
        pytest.param({"timeInForce": "IOC", "price": "49000"},
                     (-1020, "This operation is not supported."), id="ioc"),
        pytest.param({"timeInForce": "GTC", "price": "100"},
                     (-1013, "Filter failure: PERCENT_PRICE_BY_SIDE"), id="far-below"),
        pytest.param({"timeInForce": "GTC", "price": "49000", "quantity": "0.0001"},
                     (-1013, "Filter failure: NOTIONAL"), id="notional"),
    ],
)
def test_bad_limit_orders_are_refused_as_binance_does(sim, params, answer):
    at_price(sim, "50000")

    status, body, _ = signed(sim.url, "POST", "order", **{
        "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", **params})

    assert (status, body["code"], body["msg"]) == (400, *answer)


def test_foreign_limits_count_toward_max_num_orders_and_can_crowd_out_a_stop(sim, client):
    sim.book.rules = replace(sim.book.rules, max_num_orders=3)  # Binance's is 200
    at_price(sim, "50000")
    buy_btc(client)
    for i in range(3):
        control(sim.url, "order", {"symbol": "BTCUSDT", "type": "LIMIT", "side": "BUY",
                                   "quantity": "0.001", "price": f"{49000 + i}",
                                   "newClientOrderId": f"web_{i}"})

    with pytest.raises(BinanceAPIException) as err:
        place_stop(client)

    assert (err.value.status_code, err.value.code, err.value.message) == (
        400, -2010, "Filter failure: MAX_NUM_ORDERS")
