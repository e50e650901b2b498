"""Symbol status: a market in BREAK, HALT or CANCEL_ONLY refuses new orders, may expire its open
orders, has no trades until it trades again, and stays so across a restart."""

from __future__ import annotations

import asyncio
import json

import pytest
from binance.exceptions import BinanceAPIException
from websockets.sync.client import connect

from tests.exchange.sim.conftest import (
    NET_QTY,
    buy_btc,
    control,
    make_client,
    place_stop,
    public,
    signed,
)
from tests.exchange.sim.test_ws import _user_events

CLOSED = (400, -1013, "Market is closed.")


def error_of(call, *args, **kw) -> tuple[int, int, str]:
    with pytest.raises(BinanceAPIException) as err:
        call(*args, **kw)
    return err.value.status_code, err.value.code, err.value.message


def at_price(sim, price: str, symbol: str = "BTCUSDT") -> dict:
    return control(sim.url, "price", {"symbol": symbol, "price": price})


def test_break_with_expire_orders_expires_the_open_stop_and_closes_the_market(sim, client):
    at_price(sim, "50000")
    buy_btc(client)
    place_stop(client)

    def actions():
        control(sim.url, "status", {"symbol": "BTCUSDT", "status": "BREAK",
                                    "expire_orders": True})

    expired, balances = asyncio.run(_user_events(sim, actions, 2, kind=None))
    order = client.get_order(symbol="BTCUSDT", origClientOrderId="stop-1")
    refused = error_of(buy_btc, client, client_id="buy-2")
    info = client.get_exchange_info()

    assert (expired["e"], expired["c"], expired["x"], expired["X"], expired["eR"]) == (
        "executionReport", "stop-1", "EXPIRED", "EXPIRED", "EXCHANGE_CANCELED")
    assert balances["e"] == "outboundAccountPosition"
    assert {b["a"]: b["l"] for b in balances["B"]}["BTC"] == "0.00000000"
    assert (order["status"], order["expiryReason"]) == ("EXPIRED", "EXCHANGE_CANCELED")
    assert refused == CLOSED
    assert {s["symbol"]: s["status"] for s in info["symbols"]} == {
        "BTCUSDT": "BREAK", "ETHUSDT": "TRADING", "SOLUSDT": "TRADING"}
    assert control(sim.url, "info")["status"]["BTCUSDT"] == "BREAK"


def test_symbol_status_filters_exchange_info_and_tickers(sim):
    at_price(sim, "50000")
    control(sim.url, "status", {"symbol": "BTCUSDT", "status": "HALT"})

    _, halted, _ = public(sim.url, "exchangeInfo", symbolStatus="HALT")
    _, trading, _ = public(sim.url, "ticker/price", symbolStatus="TRADING")
    mismatch = public(sim.url, "ticker/price", symbol="BTCUSDT", symbolStatus="TRADING")

    assert [s["symbol"] for s in halted["symbols"]] == ["BTCUSDT"]
    assert [t["symbol"] for t in trading] == ["ETHUSDT", "SOLUSDT"]
    assert (mismatch[0], mismatch[1]) == (400, {
        "code": -1220, "msg": "The symbol's status does not match the requested symbolStatus."})


def test_a_closed_market_holds_its_prices_back_then_trades_the_last_one(sim, client):
    at_price(sim, "50000")
    buy_btc(client)
    place_stop(client)  # stop 48000, limit 47900
    control(sim.url, "status", {"symbol": "BTCUSDT", "status": "HALT"})
    url = f"ws://127.0.0.1:{sim.port}/stream?streams=btcusdt@trade/ethusdt@trade"

    with connect(url) as ws:
        held = [at_price(sim, "47000")["traded"], at_price(sim, "47950")["traded"]]
        at_price(sim, "3001", "ETHUSDT")  # a marker: frames arrive in order
        first = json.loads(ws.recv(timeout=5))["stream"]
        during = (client.get_symbol_ticker(symbol="BTCUSDT")["price"],
                  client.get_order(symbol="BTCUSDT", origClientOrderId="stop-1")["status"])
        control(sim.url, "status", {"symbol": "BTCUSDT", "status": "TRADING"})
        resumed = json.loads(ws.recv(timeout=5))["data"]

    order = client.get_order(symbol="BTCUSDT", origClientOrderId="stop-1")
    assert held == [False, False]
    assert first == "ethusdt@trade"  # nothing of BTCUSDT went out
    assert during == ("50000.00000000", "NEW")
    assert (resumed["s"], resumed["p"]) == ("BTCUSDT", "47950.00000000")  # the last held
    assert (order["status"], order["price"]) == ("FILLED", "47900.00000000")
    assert control(sim.url, "info")["held_prices"] == {}


def test_cancel_only_takes_cancels_and_halt_refuses_them(sim, client):
    at_price(sim, "50000")
    buy_btc(client, qty="0.02")
    place_stop(client, client_id="stop-1")
    place_stop(client, client_id="stop-2")

    control(sim.url, "status", {"symbol": "BTCUSDT", "status": "CANCEL_ONLY"})
    canceled = client.cancel_order(symbol="BTCUSDT", origClientOrderId="stop-1")
    new = error_of(place_stop, client, client_id="stop-3")
    control(sim.url, "status", {"symbol": "BTCUSDT", "status": "HALT"})
    refused = error_of(client.cancel_order, symbol="BTCUSDT", origClientOrderId="stop-2")

    assert canceled["status"] == "CANCELED"
    assert new == CLOSED
    assert refused == (400, -2011, "Market is closed.")
    assert [o["clientOrderId"] for o in client.get_open_orders()] == ["stop-2"]


def test_a_replace_on_a_closed_market_is_refused_before_its_cancel(sim, client):
    at_price(sim, "50000")
    buy_btc(client)
    place_stop(client)
    control(sim.url, "status", {"symbol": "BTCUSDT", "status": "BREAK"})

    status, body, _ = signed(
        sim.url, "POST", "order/cancelReplace", symbol="BTCUSDT", side="SELL",
        type="STOP_LOSS_LIMIT", timeInForce="GTC", quantity=NET_QTY, price="48900",
        stopPrice="49000", cancelReplaceMode="STOP_ON_FAILURE",
        cancelOrigClientOrderId="stop-1", newClientOrderId="stop-2")

    assert (status, body) == (400, {"code": -1013, "msg": "Market is closed."})
    assert [o["clientOrderId"] for o in client.get_open_orders()] == ["stop-1"]


def test_the_status_survives_a_restart(start_sim, tmp_path):
    state = tmp_path / "kept.db"
    first = start_sim(state=state)
    control(first.url, "status", {"symbol": "ETHUSDT", "status": "BREAK"})
    first.stop()

    second = start_sim(state=state)
    info = make_client(second.url).get_symbol_info("ETHUSDT")
    refused = error_of(make_client(second.url).create_order, symbol="ETHUSDT", side="BUY",
                       type="MARKET", quantity="0.01")

    assert info["status"] == "BREAK"
    assert refused == CLOSED
