"""Keys, signatures and the clock, answered with Binance's codes."""

from __future__ import annotations

import json
import time

import pytest
import requests
from binance.exceptions import BinanceAPIException
from websockets.sync.client import connect

from exchange.sim.guard import hmac_hex
from tests.exchange.sim.conftest import KEY, SECRET, control, make_client


def test_wrong_secret_is_invalid_signature_1022(sim):
    client = make_client(sim.url, secret="not-the-secret")

    with pytest.raises(BinanceAPIException) as err:
        client.get_account()

    assert (err.value.status_code, err.value.code, err.value.message) == (
        400, -1022, "Signature for this request is not valid.")


def test_unknown_key_is_2015(sim):
    client = make_client(sim.url, key="someone-else")

    with pytest.raises(BinanceAPIException) as err:
        client.get_open_orders()

    assert (err.value.status_code, err.value.code) == (401, -2015)


def test_missing_key_is_2014(sim):
    query = f"timestamp={int(time.time() * 1000)}"
    url = f"{sim.url}/api/v3/account?{query}&signature={hmac_hex(SECRET, query)}"

    response = requests.get(url, timeout=5)

    assert (response.status_code, response.json()["code"]) == (401, -2014)


def test_public_endpoints_need_no_key(sim):
    client = make_client(sim.url, key="", secret="")

    assert client.get_symbol_ticker(symbol="BTCUSDT")["symbol"] == "BTCUSDT"


def test_clock_outside_recv_window_is_1021_until_the_client_resyncs(sim, client):
    control(sim.url, "clock", {"shift_ms": 30_000})

    with pytest.raises(BinanceAPIException) as err:
        client.get_account()
    client.timestamp_offset = client.get_server_time()["serverTime"] - int(time.time() * 1000)
    account = client.get_account()

    assert (err.value.status_code, err.value.code) == (400, -1021)
    assert account["canTrade"] is True


def test_timestamp_ahead_of_the_server_is_1021(sim, client):
    client.timestamp_offset = 5_000

    with pytest.raises(BinanceAPIException) as err:
        client.get_account()

    assert err.value.code == -1021


def test_forced_1021_answers_the_next_request_only(sim, client):
    control(sim.url, "force", {"kind": "-1021"})

    with pytest.raises(BinanceAPIException) as err:
        client.get_open_orders()
    after = client.get_open_orders()

    assert err.value.code == -1021
    assert after == []


def _ws_subscribe(port: int, secret: str) -> dict:
    params = {"apiKey": KEY, "timestamp": int(time.time() * 1000)}
    payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    params["signature"] = hmac_hex(secret, payload)
    with connect(f"ws://127.0.0.1:{port}/ws-api/v3") as ws:
        ws.send(json.dumps({"id": "1", "method": "userDataStream.subscribe.signature",
                            "params": params}))
        return json.loads(ws.recv(timeout=5))


def test_user_data_subscription_checks_the_signature(sim):
    good = _ws_subscribe(sim.port, SECRET)
    bad = _ws_subscribe(sim.port, "wrong")

    assert (good["status"], good["result"]) == (200, {"subscriptionId": 0})
    assert (bad["status"], bad["error"]["code"]) == (400, -1022)
