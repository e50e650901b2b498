"""The Book: the §3 fill model, order rules, balances, fees and durability."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from decimal import Decimal as D

import pytest

from core.errors import OrderRejected, UnknownOrder
from core.types import OrderState, OrderType, Side, SymbolFilters
from exchange.book import Book
from exchange.book_fees import FeeMode
from tests.conftest import REPO

BTC = SymbolFilters(
    symbol="BTCUSDT", base_asset="BTC", quote_asset="USDT", tick=D("0.01"), step=D("0.00001"),
    min_notional=D("0.5"),
)
ETH = SymbolFilters(
    symbol="ETHUSDT", base_asset="ETH", quote_asset="USDT", tick=D("0.01"), step=D("0.0001"),
    min_notional=D("5"),
)


def open_book(path, **kw) -> Book:
    """A book whose fees are in the quote asset unless ``fee_mode`` says otherwise, so a bought
    quantity can be sold in full (the Binance fee rules have their own tests)."""
    kw.setdefault("balances", {"USDT": D("10000")})
    kw.setdefault("fee_mode", FeeMode.QUOTE)
    return Book(path, fee_pct=D("0.1"), filters={"BTCUSDT": BTC, "ETHUSDT": ETH}, **kw)


def holding(book: Book, qty="0.01", price="100") -> None:
    """Buy ``qty`` BTC at ``price`` so a stop can be placed."""
    book.on_price("BTCUSDT", D(price), D(0), "t0")
    book.market_order("BTCUSDT", Side.BUY, D(qty), "buy-1")


def test_stop_fills_at_trigger_price_when_it_is_at_or_above_limit(book):
    holding(book)
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-1")

    untouched = book.on_price("BTCUSDT", D("97.01"), D(1))
    reports = book.on_price("BTCUSDT", D("96.8"), D(2), "t2")

    assert untouched == []
    [report] = reports
    assert report.state is OrderState.FILLED
    assert report.triggered and report.triggered_ts == D(2)
    [execution] = report.executions
    assert (execution.price, execution.qty, execution.ts, execution.time) == (
        D("96.8"), D("0.01"), D(2), "t2")


def test_stop_below_limit_rests_then_fills_at_limit_on_a_later_price(book):
    holding(book)
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-1")

    [triggered] = book.on_price("BTCUSDT", D("96"), D(1))
    still_below = book.on_price("BTCUSDT", D("96.49"), D(2))
    [filled] = book.on_price("BTCUSDT", D("99"), D(3))

    assert (triggered.state, triggered.triggered, triggered.triggered_ts) == (
        OrderState.NEW, True, D(1))
    assert triggered.executions == ()
    assert still_below == []
    assert filled.state is OrderState.FILLED
    assert filled.executions[0].price == D("96.5")
    assert filled.triggered_ts == D(1)


def test_gap_through_the_limit_triggers_without_a_fill(book):
    holding(book)
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-1")

    [report] = book.on_price("BTCUSDT", D("90"), D(1))

    assert report.state is OrderState.NEW and report.triggered
    assert book.balances()["BTC"].locked == D("0.01")


def test_triggered_stop_stays_open_past_any_timeout_because_the_engine_handles_it(book):
    holding(book)
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-1")
    book.on_price("BTCUSDT", D("90"), D(1))

    later = book.on_price("BTCUSDT", D("91"), D(100_000))

    assert later == []
    assert book.get_order("BTCUSDT", "stop-1").state is OrderState.NEW


def test_market_order_fills_at_the_last_price_with_its_timestamp(book):
    book.on_price("BTCUSDT", D("100.5"), D(7), "2022-01-01T00:07:00Z")

    report = book.market_order("BTCUSDT", Side.BUY, D("0.1"), "buy-1")

    assert (report.type, report.state, report.executed_qty) == (
        OrderType.MARKET, OrderState.FILLED, D("0.1"))
    [execution] = report.executions
    assert (execution.price, execution.ts, execution.time) == (
        D("100.5"), D(7), "2022-01-01T00:07:00Z")


def test_quote_fee_mode_charges_the_quote_asset_on_both_sides(book):
    holding(book, qty="0.1", price="100")  # notional 10, fee 0.01
    book.place_stop_limit("BTCUSDT", D("0.1"), D("97"), D("96.5"), "stop-1")

    book.on_price("BTCUSDT", D("97"), D(1))  # notional 9.7, fee 0.0097

    balances = book.balances()
    assert balances["USDT"].free == D("10000") - D("10.01") + D("9.7") - D("0.0097")
    assert balances["BTC"].total == 0
    fees = [(t.commission, t.commission_asset) for t in book.trades("BTCUSDT")]
    assert fees == [(D("0.0100"), "USDT"), (D("0.00970"), "USDT")]


def test_fee_places_rounds_a_fee_down(tmp_path):
    book = open_book(tmp_path / "b.db", fee_places=8)
    book.on_price("BTCUSDT", D("33333.33"), D(0))

    report = book.market_order("BTCUSDT", Side.BUY, D("0.00033"), "buy-1")

    assert report.executions[0].fee == D("0.01099999")  # exactly 0.0109999989
    book.close()


def test_stop_locks_base_balance_and_cancel_unlocks_it(book):
    holding(book, qty="0.05")

    book.place_stop_limit("BTCUSDT", D("0.05"), D("97"), D("96.5"), "stop-1")
    locked = book.balances()["BTC"]
    book.cancel("BTCUSDT", "stop-1")
    unlocked = book.balances()["BTC"]

    assert (locked.free, locked.locked) == (0, D("0.05"))
    assert (unlocked.free, unlocked.locked) == (D("0.05"), 0)


def test_stop_larger_than_free_balance_is_rejected_as_insufficient(book):
    holding(book, qty="0.05")

    with pytest.raises(OrderRejected) as err:
        book.place_stop_limit("BTCUSDT", D("0.06"), D("97"), D("96.5"), "stop-1")

    assert err.value.code == -2010
    assert str(err.value) == "Account has insufficient balance for requested action."
    assert book.open_orders() == []


def test_market_buy_beyond_quote_balance_is_rejected(book):
    book.on_price("BTCUSDT", D("100"), D(0))

    with pytest.raises(OrderRejected) as err:
        book.market_order("BTCUSDT", Side.BUY, D("100"), "buy-1")

    assert err.value.code == -2010


@pytest.mark.parametrize(
    ("qty", "stop", "limit", "message"),
    [
        pytest.param("0.01", "97.001", "96.5", "Filter failure: PRICE_FILTER", id="stop-off-tick"),
        pytest.param("0.01", "97", "96.505", "Filter failure: PRICE_FILTER", id="limit-off-tick"),
        pytest.param("0.000015", "97", "96.5", "Filter failure: LOT_SIZE", id="qty-off-step"),
        pytest.param("0.00005", "97", "96.5", "Filter failure: NOTIONAL", id="below-notional"),
    ],
)
def test_orders_breaking_a_filter_are_rejected_with_1013(book, qty, stop, limit, message):
    holding(book)

    with pytest.raises(OrderRejected) as err:
        book.place_stop_limit("BTCUSDT", D(qty), D(stop), D(limit), "stop-1")

    assert (err.value.code, str(err.value)) == (-1013, message)


def test_duplicate_client_id_of_an_open_order_is_rejected(book):
    holding(book, qty="0.02")
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-1")

    with pytest.raises(OrderRejected) as err:
        book.place_stop_limit("BTCUSDT", D("0.01"), D("98"), D("97.5"), "stop-1")

    assert (err.value.code, str(err.value)) == (-2010, "Duplicate order sent.")
    assert len(book.open_orders()) == 1


def test_client_id_of_a_closed_order_is_accepted_again_and_then_names_the_new_order(book):
    holding(book)  # "buy-1", filled

    again = book.market_order("BTCUSDT", Side.BUY, D("0.01"), "buy-1")
    found = book.get_order("BTCUSDT", "buy-1")

    assert again.state is OrderState.FILLED
    assert found.order_id == again.order_id
    assert book.balances()["BTC"].free == D("0.02")


def test_cancel_of_an_unknown_or_closed_order_raises_2011(book):
    holding(book)
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-1")
    book.cancel("BTCUSDT", "stop-1")

    for client_id in ("stop-1", "never-sent", "buy-1"):
        with pytest.raises(UnknownOrder) as err:
            book.cancel("BTCUSDT", client_id)
        assert (err.value.code, str(err.value)) == (-2011, "Unknown order sent.")


def test_get_order_of_an_order_never_seen_raises_2013(book):
    with pytest.raises(UnknownOrder) as err:
        book.get_order("BTCUSDT", "never-sent")

    assert err.value.code == -2013


def test_orders_are_found_by_order_id_or_client_id(book):
    holding(book)
    placed = book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-1")

    by_id = book.get_order("BTCUSDT", order_id=placed.order_id)

    assert by_id.client_order_id == "stop-1"
    assert int(placed.exchange_order_id) == placed.order_id


def test_cancel_replace_cancels_and_places_in_one_step(book):
    holding(book)
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-1")

    report = book.cancel_replace("BTCUSDT", "stop-1", D("0.01"), D("98"), D("97.5"), "stop-2")

    assert report.canceled.state is OrderState.CANCELED
    assert (report.new.state, report.new.stop_price) == (OrderState.NEW, D("98"))
    assert [o.client_order_id for o in book.open_orders()] == ["stop-2"]
    assert book.balances()["BTC"].locked == D("0.01")


def test_cancel_replace_whose_cancel_fails_places_nothing(book):
    holding(book)

    report = book.cancel_replace("BTCUSDT", "gone", D("0.01"), D("98"), D("97.5"), "stop-2")

    assert (report.canceled, report.new, report.cancel_error_code) == (None, None, -2011)
    assert book.open_orders() == []
    with pytest.raises(UnknownOrder):
        book.get_order("BTCUSDT", "stop-2")


def test_cancel_replace_whose_new_order_fails_keeps_the_cancel(book):
    holding(book)
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-1")

    report = book.cancel_replace("BTCUSDT", "stop-1", D("0.02"), D("98"), D("97.5"), "stop-2")

    assert report.canceled.state is OrderState.CANCELED
    assert (report.new, report.new_error_code) == (None, -2010)
    assert book.open_orders() == []
    assert book.balances()["BTC"].free == D("0.01")


def test_state_survives_reopening_the_file(tmp_path):
    path = tmp_path / "book.db"
    book = open_book(path)
    holding(book)
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-1")
    book.on_price("BTCUSDT", D("96"), D(5))  # triggered, resting
    book.close()

    reopened = open_book(path, balances={"USDT": D("1")})
    [stop] = reopened.open_orders()
    [filled] = reopened.on_price("BTCUSDT", D("96.5"), D(6))

    assert (stop.client_order_id, stop.triggered_ts) == ("stop-1", D(5))
    assert reopened.last_price("BTCUSDT") == D("96.5")
    assert filled.state is OrderState.FILLED
    assert reopened.balances()["USDT"].free > D("9990")  # seeded once, not re-seeded
    assert [t.trade_id for t in reopened.trades()] == [1, 2]
    reopened.close()


def test_an_order_and_its_last_price_survive_a_kill_9(tmp_path):
    path = tmp_path / "book.db"
    script = (
        "import os, signal, sys; from decimal import Decimal as D\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from core.types import Side\n"
        "from tests.exchange.test_book import open_book\n"
        "book = open_book(sys.argv[2])\n"
        "book.on_price('BTCUSDT', D('123.45'), D(1))\n"
        "book.market_order('BTCUSDT', Side.BUY, D('0.01'), 'buy-1')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(REPO), str(path)], timeout=60
    )

    reopened = open_book(path)

    assert done.returncode == -signal.SIGKILL
    assert reopened.last_price("BTCUSDT") == D("123.45")
    assert reopened.get_order("BTCUSDT", "buy-1").state is OrderState.FILLED
    reopened.close()


def test_open_orders_of_one_symbol_or_all(book):
    holding(book)
    book.on_price("ETHUSDT", D("10"), D(0))
    book.market_order("ETHUSDT", Side.BUY, D("1"), "eth-buy")
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-btc")
    book.place_stop_limit("ETHUSDT", D("1"), D("9.7"), D("9.65"), "stop-eth")

    assert [o.client_order_id for o in book.open_orders("ETHUSDT")] == ["stop-eth"]
    assert [o.client_order_id for o in book.open_orders()] == ["stop-btc", "stop-eth"]


def test_unknown_symbol_is_rejected_with_1121(book):
    with pytest.raises(OrderRejected) as err:
        book.on_price("XRPUSDT", D("1"), D(0))

    assert err.value.code == -1121


def test_several_threads_may_trade_on_one_book(book):
    book.on_price("BTCUSDT", D("100"), D(0))

    def buy(n: int) -> None:
        for i in range(20):
            book.market_order("BTCUSDT", Side.BUY, D("0.1"), f"t{n}-{i}")

    threads = [threading.Thread(target=buy, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert book.balances()["BTC"].free == D("8.0")
    assert len(book.trades("BTCUSDT")) == 80


def test_canceled_or_replaced_stops_never_fill(book):
    holding(book, qty="0.02")
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "gone")
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "old")
    book.cancel("BTCUSDT", "gone")
    book.cancel_replace("BTCUSDT", "old", D("0.01"), D("90"), D("89.5"), "new")

    untouched = book.on_price("BTCUSDT", D("95"), D(1))
    [filled] = book.on_price("BTCUSDT", D("89.9"), D(2))

    assert untouched == []
    assert (filled.client_order_id, filled.executions[0].price) == ("new", D("89.9"))
    assert book.balances()["BTC"].total == D("0.01")
