"""Order updates over the user-data socket, REST polling when it is down, and market data."""

from __future__ import annotations

import queue
import time
from decimal import Decimal

import pytest

from core.types import OrderState, Side
from exchange.base import OrderReport
from exchange.binance import BinanceMarketData
from tests.exchange.binance.driver import received
from tests.exchange.binance.simproc import Sim, cid

D = Decimal
@pytest.fixture
def ex(sim):
    ex = sim.exchange(symbols=("BTCUSDT", "ETHUSDT"))
    yield ex
    ex.close()


def open_position_with_stop(ex, *, symbol="ETHUSDT", qty="0.05", stop="2900", limit="2890"):
    bought = ex.market_order(symbol=symbol, side=Side.BUY, qty=D(qty),
                             client_order_id=cid("buy"))
    stop_id = cid("stop")
    ex.place_stop_limit(symbol=symbol, qty=received(ex, bought), stop_price=D(stop),
                        limit_price=D(limit), client_order_id=stop_id)
    return stop_id


def wait_for(reports: queue.Queue, client_order_id: str, state: OrderState) -> OrderReport:
    while True:
        report = reports.get(timeout=5)
        if report.client_order_id == client_order_id and report.state is state:
            return report


def test_fill_of_a_resting_stop_arrives_on_the_user_stream(sim, ex):
    reports: queue.Queue[OrderReport] = queue.Queue()
    ex.set_listener(reports.put)
    ex.start_user_stream()
    assert ex.wait_user_stream(5)
    stop_id = open_position_with_stop(ex)

    sim.price("ETHUSDT", "2895")
    filled = wait_for(reports, stop_id, OrderState.FILLED)
    sim.price("ETHUSDT", "3000")

    (fill,) = filled.executions
    assert (fill.price, fill.fee_asset) == (D("2895"), "USDT")
    assert filled.executed_qty == D("0.04995")  # 0.05 bought, its 0.1 % fee paid in ETH


def test_cancel_from_outside_arrives_on_the_user_stream(sim, ex):
    reports: queue.Queue[OrderReport] = queue.Queue()
    ex.set_listener(reports.put)
    ex.start_user_stream()
    assert ex.wait_user_stream(5)
    stop_id = open_position_with_stop(ex)

    sim.control("POST", "/sim/cancel", {"symbol": "ETHUSDT", "origClientOrderId": stop_id})
    canceled = wait_for(reports, stop_id, OrderState.CANCELED)

    assert canceled.executions == ()


def test_polling_without_the_stream_lists_once_and_queries_only_what_left_the_book(sim, ex):
    reports: list[OrderReport] = []
    ex.set_listener(reports.append)
    kept = open_position_with_stop(ex, stop="2800", limit="2790")
    filled = open_position_with_stop(ex)
    sim.price("ETHUSDT", "2895")
    sim.price("ETHUSDT", "3000")
    sim.reset_requests()

    returned = ex.poll_orders(force=True)

    assert [r.client_order_id for r in returned] == [filled]
    assert reports == returned and returned[0].state is OrderState.FILLED
    assert returned[0].executions[0].price == D("2895")
    assert kept not in {r.client_order_id for r in returned}
    assert sim.requests() == {"GET /api/v3/openOrders": 1, "GET /api/v3/order": 1,
                              "GET /api/v3/myTrades": 1}
    ex.cancel(symbol="ETHUSDT", client_order_id=kept)


def test_polling_is_not_due_while_the_stream_is_up(ex):
    ex.start_user_stream()
    assert ex.wait_user_stream(5)
    ex.poll_orders(force=True)  # the catch-up after (re)connecting

    assert ex.poll_orders() == [] and not ex.poll_due()


def test_trades_of_several_symbols_arrive_from_one_combined_stream(sim):
    trades: queue.Queue = queue.Queue()
    feed = BinanceMarketData(["BTCUSDT", "ETHUSDT"], stream_url=f"ws://127.0.0.1:{sim.port}/",
                             on_trade=lambda *trade: trades.put(trade))
    feed.start()
    try:
        assert feed.wait_connected(5)
        sim.price("BTCUSDT", "50123.45")
        sim.price("ETHUSDT", "3001.5")
        got = [trades.get(timeout=5), trades.get(timeout=5)]
    finally:
        feed.stop()
        sim.price("BTCUSDT", "50000")
        sim.price("ETHUSDT", "3000")

    assert [(s, p) for s, p, _ in got] == [("BTCUSDT", D("50123.45")), ("ETHUSDT", D("3001.5"))]
    assert all(isinstance(ts, Decimal) and ts > 0 for _, _, ts in got)


def test_a_lost_user_stream_makes_polling_due(tmp_path):
    own = Sim(tmp_path)
    shift = [0.0]
    ex = own.exchange(clock=lambda: time.time() + shift[0])
    try:
        ex.start_user_stream()
        assert ex.wait_user_stream(5)
        ex.poll_orders(force=True)  # the catch-up after connecting
        shift[0] += 20  # past the 5 s cadence of polling, inside the 30 s audit period
        due_while_up = ex.poll_due()
        shift[0] += 11
        audit_due = ex.poll_due()  # the audit runs whatever the stream says
        own.stop()
        deadline = time.monotonic() + 10
        while ex.user_stream_up and time.monotonic() < deadline:
            time.sleep(0.05)
        due_when_down = ex.poll_due()
    finally:
        ex.close()
        own.stop()

    assert not due_while_up and audit_due
    assert not ex.user_stream_up and due_when_down


def test_balance_updates_arrive_on_the_user_stream(sim, ex):
    balances: queue.Queue = queue.Queue()
    ex.set_balance_listener(balances.put)
    ex.start_user_stream()
    assert ex.wait_user_stream(5)

    sim.control("POST", "/sim/balance", {"asset": "SOL", "free": "12.5"})
    while True:
        update = balances.get(timeout=5)
        if any(b.asset == "SOL" for b in update):
            break

    (sol,) = [b for b in update if b.asset == "SOL"]
    assert (sol.free, sol.locked) == (D("12.5"), D(0))


def test_a_stop_placed_sends_its_locked_base_on_the_user_stream(sim, ex):
    balances: queue.Queue = queue.Queue()
    ex.set_balance_listener(balances.put)
    ex.start_user_stream()
    assert ex.wait_user_stream(5)
    stop_id = open_position_with_stop(ex, symbol="ETHUSDT")
    while True:
        update = {b.asset: b for b in balances.get(timeout=5)}
        if "ETH" in update and update["ETH"].locked > 0:
            break

    assert set(update) >= {"ETH", "USDT"}
    assert update["ETH"].locked >= D("0.04995")
    ex.cancel(symbol="ETHUSDT", client_order_id=stop_id)
