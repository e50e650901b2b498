"""Fault injection: failed order requests may or may not have applied, as on the real venue."""

from __future__ import annotations

import pytest
import requests
from binance.exceptions import BinanceAPIException

from tests.exchange.sim.conftest import NET_QTY, buy_btc, control, make_client, place_stop


def kind_of(exc: Exception) -> str:
    if isinstance(exc, requests.exceptions.Timeout):
        return "timeout"
    assert isinstance(exc, BinanceAPIException)
    return {(500, -1000): "500", (503, -1007): "-1007", (409, -2021): "409",
            (400, -2022): "-2022"}[(exc.status_code, exc.code)]


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


def replace_stop(client, old: str, new: str):
    return client.cancel_replace_order(
        symbol="BTCUSDT", side="SELL", type="STOP_LOSS_LIMIT", timeInForce="GTC",
        quantity="0.01", price="48900", stopPrice="49000", cancelReplaceMode="STOP_ON_FAILURE",
        cancelOrigClientOrderId=old, newClientOrderId=new)


def statuses(sim) -> dict[str, str]:
    return {o["clientOrderId"]: o["status"] for o in control(sim.url, "orders")}


def test_random_replace_faults_include_both_partial_failures(start_sim):
    sim = start_sim(fail_rate=1.0, timeout_s=0.3, seed=3)
    client = make_client(sim.url, timeout=0.2)
    control(sim.url, "order", {"symbol": "BTCUSDT", "type": "MARKET", "side": "BUY",
                               "quantity": "0.5", "newClientOrderId": "buy"})

    seen: dict[str, tuple[str, dict]] = {}
    for i in range(40):
        control(sim.url, "order", {"symbol": "BTCUSDT", "quantity": "0.01",
                                   "stopPrice": "48000", "price": "47900",
                                   "newClientOrderId": f"old{i}"})
        try:
            replace_stop(client, f"old{i}", f"new{i}")
        except BinanceAPIException as exc:
            if kind_of(exc) in ("409", "-2022"):
                seen.setdefault(kind_of(exc), (f"{i}", exc.response.json()["data"]))
        except requests.exceptions.Timeout:
            pass
        for client_id, status in statuses(sim).items():  # room for the next stop
            if status == "NEW":
                control(sim.url, "cancel", {"symbol": "BTCUSDT", "origClientOrderId": client_id})
        if len(seen) == 2:
            break

    assert set(seen) == {"409", "-2022"}
    partial_i, partial = seen["409"]
    failed_i, failed = seen["-2022"]
    assert (partial["cancelResult"], partial["newOrderResult"]) == ("SUCCESS", "FAILURE")
    assert partial["cancelResponse"]["origClientOrderId"] == f"old{partial_i}"
    assert partial["newOrderResponse"] == {"code": -2010,
                                           "msg": "Stop price would trigger immediately."}
    assert failed == {"cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
                      "cancelResponse": {"code": -2011, "msg": "Unknown order sent."},
                      "newOrderResponse": None}
    assert f"new{partial_i}" not in statuses(sim) and f"new{failed_i}" not in statuses(sim)


def test_forced_409_cancels_the_old_stop_and_refuses_the_new_one(sim, client):
    buy_btc(client)
    place_stop(client)
    control(sim.url, "force", {"kind": "409"})

    with pytest.raises(BinanceAPIException) as err:
        replace_stop(client, "stop-1", "stop-2")

    data = err.value.response.json()["data"]
    assert (err.value.status_code, err.value.code, err.value.message) == (
        409, -2021, "Order cancel-replace partially failed.")
    assert (data["cancelResult"], data["newOrderResult"]) == ("SUCCESS", "FAILURE")
    assert data["cancelResponse"]["status"] == "CANCELED"
    assert data["newOrderResponse"] == {"code": -2010, "msg": "Stop price would trigger immediately."}
    assert statuses(sim) == {"buy-1": "FILLED", "stop-1": "CANCELED"}


def test_forced_2022_refuses_the_cancel_and_places_nothing(sim, client):
    buy_btc(client)
    place_stop(client)
    control(sim.url, "force", {"kind": "-2022"})

    with pytest.raises(BinanceAPIException) as err:
        replace_stop(client, "stop-1", "stop-2")
    then = client.cancel_replace_order(
        symbol="BTCUSDT", side="SELL", type="STOP_LOSS_LIMIT", timeInForce="GTC",
        quantity=NET_QTY, price="48900", stopPrice="49000", cancelReplaceMode="STOP_ON_FAILURE",
        cancelOrigClientOrderId="stop-1", newClientOrderId="stop-3")

    assert (err.value.status_code, err.value.code, err.value.message) == (
        400, -2022, "Order cancel-replace failed.")
    assert err.value.response.json()["data"] == {
        "cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
        "cancelResponse": {"code": -2011, "msg": "Unknown order sent."},
        "newOrderResponse": None}
    assert then["newOrderResult"] == "SUCCESS"  # forced once: the next one goes through
    assert statuses(sim) == {"buy-1": "FILLED", "stop-1": "CANCELED", "stop-3": "NEW"}


def test_read_faults_are_plain_500s_and_public_endpoints_never_fail(start_sim):
    sim = start_sim(fail_rate=1.0)
    client = make_client(sim.url)

    with pytest.raises(BinanceAPIException) as err:
        client.get_open_orders()
    ticker = client.get_symbol_ticker(symbol="BTCUSDT")

    assert (err.value.status_code, err.value.code) == (500, -1000)
    assert ticker["symbol"] == "BTCUSDT"


def test_a_forced_403_is_the_wafs_html_page_and_nothing_is_applied(sim, client):
    control(sim.url, "force", {"kind": "403"})

    with pytest.raises(BinanceAPIException) as err:
        buy_btc(client)
    then = buy_btc(client, client_id="buy-2")

    assert (err.value.status_code, err.value.code) == (403, 0)  # no JSON: code 0
    assert err.value.message.startswith("Invalid JSON error message from Binance: <html>")
    assert "<title>403 Forbidden</title>" in err.value.response.text
    assert err.value.response.headers["Content-Type"] == "text/html"
    assert "X-MBX-USED-WEIGHT-1M" not in err.value.response.headers
    assert then["status"] == "FILLED"  # forced once
    assert statuses(sim) == {"buy-2": "FILLED"}
