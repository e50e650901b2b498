"""Late landing: an order request answered 5xx ("execution status unknown") reaches the book
seconds later, inside its recvWindow, as the live venue's can."""

from __future__ import annotations

import asyncio
import time

import pytest
from binance.exceptions import BinanceAPIException

from tests.exchange.sim.conftest import (
    NET_QTY,
    buy_btc,
    control,
    make_client,
    place_stop,
    wait_until,
)
from tests.exchange.sim.test_faults import statuses
from tests.exchange.sim.test_ws import _user_events

ANSWERS = {(503, -1007), (500, -1000), (500, -1006)}


def answer_of(call, *args, **kw) -> tuple[int, int, str]:
    with pytest.raises(BinanceAPIException) as err:
        call(*args, **kw)
    return err.value.status_code, err.value.code, err.value.message


def order_or_code(client, client_id: str):
    try:
        return client.get_order(symbol="BTCUSDT", origClientOrderId=client_id)
    except BinanceAPIException as exc:
        return exc.code


def landed(sim, client_id: str) -> str | None:
    return statuses(sim).get(client_id)


def test_a_late_market_order_is_unknown_until_it_lands_then_fills_at_the_price_of_then(sim):
    client = make_client(sim.url)
    control(sim.url, "price", {"symbol": "BTCUSDT", "price": "50000"})
    seen: dict[str, object] = {}

    def actions():
        control(sim.url, "force", {"kind": "late", "delay_s": 1.0})
        seen["answer"] = answer_of(buy_btc, client, client_id="late-buy")
        seen["before"] = order_or_code(client, "late-buy")
        seen["open_before"] = client.get_open_orders(symbol="BTCUSDT")
        control(sim.url, "price", {"symbol": "BTCUSDT", "price": "50100"})
        wait_until(lambda: landed(sim, "late-buy"), what="the late order to land")

    events = asyncio.run(_user_events(sim, actions, 2))
    order = client.get_order(symbol="BTCUSDT", origClientOrderId="late-buy")
    [fill] = client.get_my_trades(symbol="BTCUSDT")

    assert seen["answer"] == (503, -1007, "Timeout waiting for response from backend server. "
                                          "Send status unknown; execution status unknown.")
    assert seen["before"] == -2013
    assert seen["open_before"] == []
    assert [(e["c"], e["x"], e["X"]) for e in events] == [
        ("late-buy", "NEW", "NEW"), ("late-buy", "TRADE", "FILLED")]
    assert (order["status"], fill["price"]) == ("FILLED", "50100.00000000")  # the price of then
    assert control(sim.url, "info")["late"] == {"pending": 0, "landed": 1, "refused": 0,
                                                "expired": 0}


def test_a_late_stop_lands_open_and_locks_its_base(sim, client):
    control(sim.url, "price", {"symbol": "BTCUSDT", "price": "50000"})
    buy_btc(client)
    control(sim.url, "force", {"kind": "late", "delay_s": 0.5, "answer": "500"})

    answer = answer_of(place_stop, client, client_id="late-stop")
    before = order_or_code(client, "late-stop")
    wait_until(lambda: client.get_open_orders(symbol="BTCUSDT"), what="the late stop")
    btc = next(b for b in client.get_account()["balances"] if b["asset"] == "BTC")

    assert answer == (500, -1000, "An unknown error occurred while processing the request.")
    assert before == -2013
    assert [o["clientOrderId"] for o in client.get_open_orders(symbol="BTCUSDT")] == [
        "late-stop"]
    assert (btc["free"], btc["locked"]) == ("0.00000000", f"{NET_QTY}000")


def test_a_late_cancel_replace_lands_whole(sim, client):
    control(sim.url, "price", {"symbol": "BTCUSDT", "price": "50000"})
    buy_btc(client)
    place_stop(client, client_id="old")
    control(sim.url, "force", {"kind": "late", "delay_s": 0.5, "answer": "-1006"})

    answer = answer_of(client.cancel_replace_order, symbol="BTCUSDT", side="SELL",
                       type="STOP_LOSS_LIMIT", timeInForce="GTC", quantity=NET_QTY,
                       price="48900", stopPrice="49000", cancelReplaceMode="STOP_ON_FAILURE",
                       cancelOrigClientOrderId="old", newClientOrderId="new")
    before = statuses(sim)
    wait_until(lambda: landed(sim, "new"), what="the late replace")

    assert answer == (500, -1006, "An unexpected response was received from the message bus. "
                                  "Execution status unknown.")
    assert before == {"buy-1": "FILLED", "old": "NEW"}  # nothing done yet
    assert statuses(sim) == {"buy-1": "FILLED", "old": "CANCELED", "new": "NEW"}


def test_random_late_orders_answer_5xx_and_land_one_to_four_seconds_later(start_sim):
    sim = start_sim(late_rate=1.0, seed=11)
    client = make_client(sim.url)
    control(sim.url, "price", {"symbol": "BTCUSDT", "price": "50000"})

    answers, sent = set(), {}
    for i in range(6):
        sent[f"b{i}"] = time.time() * 1000
        status, code, _ = answer_of(client.create_order, symbol="BTCUSDT", side="BUY",
                                    type="MARKET", quantity="0.001", newClientOrderId=f"b{i}")
        answers.add((status, code))
    wait_until(lambda: control(sim.url, "info")["late"]["landed"] == 6, timeout=10,
               what="six late orders")
    delays = {o["clientOrderId"]: o["time"] - sent[o["clientOrderId"]]
              for o in control(sim.url, "orders")}

    assert answers <= ANSWERS and len(answers) > 1
    assert set(delays) == set(sent)
    assert all(900 <= d <= 4500 for d in delays.values()), delays


def test_a_late_order_lands_inside_a_short_recv_window(start_sim):
    sim = start_sim(late_rate=1.0, seed=5)
    client = make_client(sim.url)
    client.REQUEST_RECVWINDOW = 1500  # leaves 1.25 s to land in
    control(sim.url, "price", {"symbol": "BTCUSDT", "price": "50000"})

    sent = time.time() * 1000
    answer_of(buy_btc, client)
    wait_until(lambda: landed(sim, "buy-1"), what="the late order")
    [order] = control(sim.url, "orders")

    assert order["time"] - sent <= 1500


def test_a_late_order_past_its_recv_window_never_lands(sim, client):
    control(sim.url, "price", {"symbol": "BTCUSDT", "price": "50000"})
    client.REQUEST_RECVWINDOW = 500
    control(sim.url, "force", {"kind": "late", "delay_s": 0.8})

    answer_of(buy_btc, client)
    info = wait_until(lambda: (i := control(sim.url, "info"))["late"]["pending"] == 0 and i,
                      what="the late order's turn")

    assert info["late"] == {"pending": 0, "landed": 0, "refused": 0, "expired": 1}
    assert control(sim.url, "orders") == []
