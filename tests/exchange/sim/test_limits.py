"""Rate limits: headers, 429 with Retry-After, 418 after repeated violations, forced bans."""

from __future__ import annotations

import pytest
from binance.exceptions import BinanceAPIException

from tests.exchange.sim.conftest import buy_btc, control, make_client


def start_of_window(sim, window_ms: int) -> int:
    """Shift the sim clock to just after the start of a fixed window, so none ends mid-test."""
    now = sim.clock.now_ms()
    shift = window_ms - now % window_ms + 100
    control(sim.url, "clock", {"shift_ms": shift})
    return shift


def test_every_response_reports_used_weight(client):
    client.get_exchange_info()
    first = int(client.response.headers["X-MBX-USED-WEIGHT-1M"])
    client.get_open_orders()
    second = int(client.response.headers["X-MBX-USED-WEIGHT-1M"])

    assert second - first == 80  # openOrders for all symbols


def test_order_responses_report_order_counts(client):
    buy_btc(client)

    headers = client.response.headers

    assert (headers["X-MBX-ORDER-COUNT-10S"], headers["X-MBX-ORDER-COUNT-1D"]) == ("1", "1")


def test_too_much_weight_is_429_then_418_after_repeated_violations(start_sim):
    sim = start_sim(weight_1m=100)
    start_of_window(sim, 60_000)
    client = make_client(sim.url)
    for _ in range(5):
        client.get_exchange_info()  # weight 20 each: 100, the limit

    answers = []
    for _ in range(5):
        with pytest.raises(BinanceAPIException) as err:
            client.get_exchange_info()
        answers.append((err.value.status_code, err.value.code,
                        int(err.value.response.headers["Retry-After"])))

    assert [a[:2] for a in answers] == [(429, -1003)] * 3 + [(418, -1003)] * 2
    assert all(0 < a[2] <= 60 for a in answers[:3])
    assert all(60 < a[2] <= 120 for a in answers[3:])


def test_too_many_orders_in_10_seconds_is_429_1015(start_sim):
    sim = start_sim(orders_10s=3)
    shift = start_of_window(sim, 10_000)
    client = make_client(sim.url)
    client.timestamp_offset = shift
    for i in range(3):
        buy_btc(client, client_id=f"b{i}")

    with pytest.raises(BinanceAPIException) as err:
        buy_btc(client, client_id="b3")

    assert (err.value.status_code, err.value.code) == (429, -1015)
    assert "Retry-After" in err.value.response.headers


def test_forced_418_refuses_everything_until_retry_after(sim, client):
    control(sim.url, "force", {"kind": "418", "retry_after_s": 2})

    refused = []
    for _ in range(2):
        with pytest.raises(BinanceAPIException) as err:
            client.get_symbol_ticker(symbol="BTCUSDT")
        refused.append((err.value.status_code, err.value.response.headers["Retry-After"]))
    control(sim.url, "clock", {"shift_ms": 2_100})
    after = client.get_symbol_ticker(symbol="BTCUSDT")

    assert [status for status, _ in refused] == [418, 418]
    assert all(int(retry) <= 2 for _, retry in refused)
    assert after["symbol"] == "BTCUSDT"


def test_forced_429_carries_retry_after(sim, client):
    control(sim.url, "force", {"kind": "429", "retry_after_s": 7})

    with pytest.raises(BinanceAPIException) as err:
        client.get_open_orders()

    assert (err.value.status_code, err.value.response.headers["Retry-After"]) == (429, "7")
    assert client.get_open_orders() == []
