"""Bans, rate limits, clock skew and half-failed replaces, through real HTTP to the sim."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from core.errors import RetryableVenueError, StatusUnknown, VenueBanned
from core.types import OrderState, Side
from tests.exchange.binance.simproc import cid

D = Decimal
class Recorder:
    """A metrics object as the engine passes one: records what the adapter reports."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.bans: list[bool] = []
        self.requests: list[str] = []
        self.weights: list[int] = []

    def exchange_request(self, endpoint: str, seconds: float) -> None:
        self.requests.append(endpoint)

    def exchange_error(self, code: str) -> None:
        self.errors.append(code)

    def unreadable_event(self) -> None:
        self.errors.append("unreadable")

    def missed_events(self, n: int) -> None:
        pass

    def user_stream_stale(self, stale: bool) -> None:
        pass

    def weight_used(self, n: int) -> None:
        self.weights.append(n)

    def banned(self, on: bool) -> None:
        self.bans.append(on)


def test_forced_418_stops_all_sending_until_retry_after(sim):
    metrics = Recorder()
    ex = sim.exchange(metrics=metrics)
    sim.force("418", retry_after_s=1)
    sim.reset_requests()

    with pytest.raises(VenueBanned) as first:
        ex.last_price("BTCUSDT")
    with pytest.raises(VenueBanned):
        ex.market_order(symbol="BTCUSDT", side=Side.BUY, qty=D("0.001"),
                        client_order_id=cid("banned"))
    sent_while_banned = sim.requests()
    banned_flag = ex.banned
    time.sleep(first.value.retry_after_s)
    price = ex.last_price("BTCUSDT")

    assert first.value.retry_after_s == 1 and banned_flag
    assert sent_while_banned == {"GET /api/v3/ticker/price": 1}  # only the one that was banned
    assert metrics.bans == [True, False] and "-1003" in metrics.errors
    assert price == D("50000") and not ex.banned


def test_forced_429_backs_off_for_retry_after_without_sending(sim):
    ex = sim.exchange()
    sim.force("429", retry_after_s=1)
    sim.reset_requests()

    with pytest.raises(RetryableVenueError) as first:
        ex.last_price("BTCUSDT")
    with pytest.raises(RetryableVenueError):
        ex.last_price("BTCUSDT")

    assert first.value.retry_after_s == 1
    assert sim.requests() == {"GET /api/v3/ticker/price": 1}


def test_forced_1021_resyncs_the_clock_and_then_succeeds(sim):
    metrics = Recorder()
    ex = sim.exchange(metrics=metrics)
    sim.force("-1021")
    sim.reset_requests()

    balances = ex.balances()

    assert balances["USDT"].free > 0
    assert sim.requests() == {"GET /api/v3/account": 2, "GET /api/v3/time": 1}
    assert metrics.errors == ["-1021"]


def test_a_shifted_venue_clock_is_followed_by_the_adapter(sim):
    ex = sim.exchange()
    sim.control("POST", "/sim/clock", {"shift_ms": 120_000})
    try:
        balances = ex.balances()
        offset = ex.client.timestamp_offset
    finally:
        sim.control("POST", "/sim/clock", {"shift_ms": 0})

    assert balances["USDT"].free > 0
    assert 110_000 < offset < 130_000


def test_a_timeout_is_a_status_unknown(sim):
    ex = sim.exchange(timeout_s="0.2")
    sim.force("timeout")

    with pytest.raises(StatusUnknown):
        ex.last_price("BTCUSDT")


def place_old_stop(sim) -> str:
    old = cid("old")
    sim.control("POST", "/sim/balance", {"asset": "BTC", "free": "1"})
    sim.control("POST", "/sim/order", {
        "symbol": "BTCUSDT", "side": "SELL", "type": "STOP_LOSS_LIMIT", "quantity": "0.001",
        "price": "44000", "stopPrice": "45000", "newClientOrderId": old})
    return old


def test_cancel_replace_409_reads_both_halves(sim):
    ex = sim.exchange()
    old, new = place_old_stop(sim), cid("new")
    sim.force("409")

    report = ex.cancel_replace(symbol="BTCUSDT", cancel_client_order_id=old, qty=D("0.001"),
                               stop_price=D("45100"), limit_price=D("44100"),
                               new_client_order_id=new)

    assert report.canceled is not None and report.canceled.client_order_id == old
    assert report.canceled.state is OrderState.CANCELED
    assert (report.new, report.new_error_code) == (None, -2010)


def test_cancel_replace_2022_reads_the_refused_cancel(sim):
    ex = sim.exchange()
    old, new = place_old_stop(sim), cid("new")
    sim.force("-2022")

    report = ex.cancel_replace(symbol="BTCUSDT", cancel_client_order_id=old, qty=D("0.001"),
                               stop_price=D("45100"), limit_price=D("44100"),
                               new_client_order_id=new)

    assert (report.canceled, report.new, report.cancel_error_code) == (None, None, -2011)
    assert ex.get_order(symbol="BTCUSDT", client_order_id=old).state is OrderState.NEW
    ex.cancel(symbol="BTCUSDT", client_order_id=old)
