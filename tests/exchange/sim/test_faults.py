"""Fault injection: failed order requests may or may not have applied, as on the real venue."""

from __future__ import annotations

import pytest
import requests
from binance.exceptions import BinanceAPIException

from tests.exchange.sim.conftest import control, make_client


def kind_of(exc: Exception) -> str:
    if isinstance(exc, requests.exceptions.Timeout):
        return "timeout"
    assert isinstance(exc, BinanceAPIException)
    return {(500, -1000): "500", (503, -1007): "-1007", (409, -2021): "409"}[
        (exc.status_code, exc.code)]


def test_failed_orders_fail_every_way_and_some_were_applied(start_sim):
    sim = start_sim(fail_rate=1.0, timeout_s=0.4, seed=7)
    client = make_client(sim.url, timeout=0.2)

    kinds = []
    for i in range(24):
        with pytest.raises((BinanceAPIException, requests.exceptions.Timeout)) as err:
            client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET",
                                quantity="0.001", newClientOrderId=f"b{i}")
        kinds.append(kind_of(err.value))
    applied = {o["clientOrderId"] for o in control(sim.url, "orders")}

    assert set(kinds) == {"500", "-1007", "timeout"}
    assert 0 < len(applied) < 24
    assert applied <= {f"b{i}" for i in range(24)}


def test_injected_409_cancels_the_old_stop_and_reports_both_halves(start_sim):
    sim = start_sim(fail_rate=1.0, timeout_s=0.3, seed=3)
    client = make_client(sim.url, timeout=0.2)
    control(sim.url, "order", {"symbol": "BTCUSDT", "type": "MARKET", "side": "BUY",
                               "quantity": "0.5", "newClientOrderId": "buy"})

    for i in range(40):
        control(sim.url, "order", {"symbol": "BTCUSDT", "quantity": "0.01",
                                   "stopPrice": "48000", "price": "47900",
                                   "newClientOrderId": f"old{i}"})
        try:
            client.cancel_replace_order(
                symbol="BTCUSDT", side="SELL", type="STOP_LOSS_LIMIT", timeInForce="GTC",
                quantity="0.01", price="48900", stopPrice="49000",
                cancelReplaceMode="STOP_ON_FAILURE", cancelOrigClientOrderId=f"old{i}",
                newClientOrderId=f"new{i}")
        except BinanceAPIException as exc:
            if kind_of(exc) == "409":
                data = exc.response.json()["data"]
                break
        except requests.exceptions.Timeout:
            pass
    else:
        pytest.fail("no 409 in 40 injected faults")

    orders = {o["clientOrderId"]: o["status"] for o in control(sim.url, "orders")}
    assert (data["cancelResult"], data["newOrderResult"]) == ("SUCCESS", "FAILURE")
    assert data["cancelResponse"]["origClientOrderId"] == f"old{i}"
    assert data["newOrderResponse"]["code"] == -1008
    assert orders[f"old{i}"] == "CANCELED"
    assert f"new{i}" not in orders


def test_read_faults_are_plain_500s_and_public_endpoints_never_fail(start_sim):
    sim = start_sim(fail_rate=1.0)
    client = make_client(sim.url)

    with pytest.raises(BinanceAPIException) as err:
        client.get_open_orders()
    ticker = client.get_symbol_ticker(symbol="BTCUSDT")

    assert (err.value.status_code, err.value.code) == (500, -1000)
    assert ticker["symbol"] == "BTCUSDT"
