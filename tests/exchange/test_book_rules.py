"""The Book's Binance rules: fees, refusals, filters, algo orders, client ids, trailing stops."""

from __future__ import annotations

import sqlite3
from decimal import Decimal as D

import pytest

from core.errors import OrderRejected
from core.types import OrderState, Side, SymbolFilters
from exchange.book import Book
from exchange.book_fees import FeeMode
from exchange.book_rules import LIVE_RULES, WOULD_TRIGGER_DOCS, WOULD_TRIGGER_LIVE
from tests.exchange.test_book import BTC, holding, open_book

BNB = SymbolFilters(symbol="BNBUSDT", base_asset="BNB", quote_asset="USDT", tick=D("0.01"),
                    step=D("0.001"), min_notional=D("5"))
WOULD_TRIGGER = "Order would trigger immediately."


def binance_book(path, **kw) -> Book:
    """A book with Binance's fees, rounded like the sim's (8 decimals)."""
    kw.setdefault("balances", {"USDT": D("10000")})
    return Book(path, fee_pct=D("0.1"), filters={"BTCUSDT": BTC, "BNBUSDT": BNB},
                fee_places=8, **kw)


def rejection(call, *args, **kw) -> tuple[int, str]:
    with pytest.raises(OrderRejected) as err:
        call(*args, **kw)
    return err.value.code, str(err.value)


# --- fees (row 1) ------------------------------------------------------------------------------

def test_by_default_a_buy_pays_in_the_base_asset_and_a_sell_in_the_quote_asset(tmp_path):
    book = binance_book(tmp_path / "b.db")
    book.on_price("BTCUSDT", D("50000"), D(0))

    buy = book.market_order("BTCUSDT", Side.BUY, D("0.002"), "buy-1")
    sell = book.market_order("BTCUSDT", Side.SELL, D("0.00199"), "sell-1")

    assert book.fees.mode is FeeMode.RECEIVED
    assert (buy.executions[0].fee, buy.executions[0].fee_asset) == (D("0.000002"), "BTC")
    assert (sell.executions[0].fee, sell.executions[0].fee_asset) == (D("0.0995"), "USDT")
    balances = book.balances()
    assert balances["BTC"].free == D("0.001998") - D("0.00199")
    assert balances["USDT"].free == D("10000") - D("100") + D("99.5") - D("0.0995")
    assert [(t.commission, t.commission_asset) for t in book.trades()] == [
        (D("0.000002"), "BTC"), (D("0.0995"), "USDT")]
    book.close()


def test_a_stop_for_the_full_bought_quantity_is_refused_when_the_fee_was_in_base(tmp_path):
    book = binance_book(tmp_path / "b.db")
    book.on_price("BTCUSDT", D("50000"), D(0))
    book.market_order("BTCUSDT", Side.BUY, D("0.002"), "buy-1")

    code, message = rejection(book.place_stop_limit, "BTCUSDT", D("0.002"), D("48000"),
                              D("47900"), "stop-1")

    assert (code, message) == (-2010, "Account has insufficient balance for requested action.")
    assert book.place_stop_limit("BTCUSDT", D("0.00199"), D("48000"), D("47900"), "stop-2")
    book.close()


def test_bnb_pays_the_fee_at_the_bnb_price_of_the_moment(tmp_path):
    book = binance_book(tmp_path / "b.db", fee_asset="BNB",
                        balances={"USDT": D("10000"), "BNB": D("1")})
    book.on_price("BNBUSDT", D("400"), D(0))
    book.on_price("BTCUSDT", D("50000"), D(0))
    buy = book.market_order("BTCUSDT", Side.BUY, D("0.002"), "buy-1")  # fee worth 0.1 USDT
    book.on_price("BNBUSDT", D("300"), D(1))
    book.place_stop_limit("BTCUSDT", D("0.002"), D("49000"), D("48000"), "stop-1")
    [sold] = book.on_price("BTCUSDT", D("49000"), D(2))  # fee worth 0.098 USDT

    assert (buy.executions[0].fee, buy.executions[0].fee_asset) == (D("0.00025"), "BNB")
    assert (sold.executions[0].fee, sold.executions[0].fee_asset) == (D("0.00032666"), "BNB")
    balances = book.balances()
    assert balances["BNB"].free == D("1") - D("0.00025") - D("0.00032666")
    assert balances["BTC"].total == 0
    assert balances["USDT"].free == D("10000") - D("100") + D("98")
    book.close()


def test_when_bnb_runs_out_the_normal_asset_pays(tmp_path):
    book = binance_book(tmp_path / "b.db", fee_asset="BNB",
                        balances={"USDT": D("10000"), "BNB": D("0.0002")})
    book.on_price("BNBUSDT", D("400"), D(0))
    book.on_price("BTCUSDT", D("50000"), D(0))

    first = book.market_order("BTCUSDT", Side.BUY, D("0.001"), "buy-1")  # 0.000125 BNB
    second = book.market_order("BTCUSDT", Side.BUY, D("0.001"), "buy-2")  # 0.000075 BNB left

    assert first.executions[0].fee_asset == "BNB"
    assert (second.executions[0].fee, second.executions[0].fee_asset) == (D("0.000001"), "BTC")
    assert book.balances()["BNB"].free == D("0.000075")
    book.close()


def test_without_a_bnb_price_the_normal_asset_pays(tmp_path):
    book = binance_book(tmp_path / "b.db", fee_asset="BNB",
                        balances={"USDT": D("10000"), "BNB": D("1")})
    book.on_price("BTCUSDT", D("50000"), D(0))

    buy = book.market_order("BTCUSDT", Side.BUY, D("0.002"), "buy-1")

    assert buy.executions[0].fee_asset == "BTC"
    book.close()


# --- stops that would trigger immediately (row 2, 3) -------------------------------------------

@pytest.mark.parametrize("stop", [pytest.param("100", id="at-last-price"),
                                  pytest.param("100.01", id="above-last-price")])
def test_a_stop_the_last_price_already_meets_is_refused(book, stop):
    holding(book, price="100")

    code, message = rejection(book.place_stop_limit, "BTCUSDT", D("0.01"), D(stop), D("99"),
                              "stop-1")

    assert (code, message) == (-2010, WOULD_TRIGGER)
    assert book.open_orders() == []
    assert book.balances()["BTC"].free == D("0.01")


def test_a_replace_whose_new_stop_would_trigger_cancels_the_old_one_only(book):
    holding(book, price="100")
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-1")

    report = book.cancel_replace("BTCUSDT", "stop-1", D("0.01"), D("100"), D("99"), "stop-2")

    assert report.canceled.state is OrderState.CANCELED
    assert (report.new, report.new_error_code, report.new_error) == (None, -2010, WOULD_TRIGGER)
    assert book.open_orders() == []
    assert book.balances()["BTC"].free == D("0.01")


def test_the_live_rules_word_a_stop_that_would_trigger_as_the_live_venue_does(tmp_path):
    book = open_book(tmp_path / "live.db", rules=LIVE_RULES)
    holding(book, price="100")
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-1")

    refused = rejection(book.place_stop_limit, "BTCUSDT", D("0.01"), D("100"), D("99"), "stop-2")
    report = book.cancel_replace("BTCUSDT", "stop-1", D("0.01"), D("100"), D("99"), "stop-3")

    assert refused == (-2010, "Stop price would trigger immediately.")
    assert (report.new_error_code, report.new_error) == (-2010, WOULD_TRIGGER_LIVE)
    assert WOULD_TRIGGER_DOCS == WOULD_TRIGGER  # the default rules keep errors.md's words
    book.close()


# --- cancelReplace checks filters before the cancel (row 4) ------------------------------------

@pytest.mark.parametrize(
    ("qty", "stop", "limit", "message"),
    [
        pytest.param("0.01", "98.001", "97.5", "Filter failure: PRICE_FILTER", id="price"),
        pytest.param("0.000015", "98", "97.5", "Filter failure: LOT_SIZE", id="lot-size"),
        pytest.param("0.001", "98", "97.5", "Filter failure: NOTIONAL", id="notional"),
        pytest.param("0.01", "98", "19.99", "Filter failure: PERCENT_PRICE_BY_SIDE",
                     id="percent-price"),
    ],
)
def test_a_replace_breaking_a_filter_is_refused_before_its_cancel(book, qty, stop, limit,
                                                                  message):
    holding(book, price="100")
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-1")

    code, text = rejection(book.cancel_replace, "BTCUSDT", "stop-1", D(qty), D(stop), D(limit),
                           "stop-2")

    assert (code, text) == (-1013, message)
    assert [(o.client_order_id, o.state) for o in book.open_orders()] == [
        ("stop-1", OrderState.NEW)]
    assert book.balances()["BTC"].locked == D("0.01")


# --- MAX_NUM_ALGO_ORDERS (row 5) ---------------------------------------------------------------

def test_the_sixth_open_stop_of_a_symbol_is_refused(book):
    holding(book, qty="0.06", price="100")
    for i in range(5):
        book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), f"stop-{i}")

    code, message = rejection(book.place_stop_limit, "BTCUSDT", D("0.01"), D("97"), D("96.5"),
                              "stop-5")
    book.cancel("BTCUSDT", "stop-0")
    after_cancel = book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-5")

    assert (code, message) == (-2010, "Filter failure: MAX_NUM_ALGO_ORDERS")
    assert after_cancel.state is OrderState.NEW
    assert len(book.open_orders("BTCUSDT")) == 5


def test_a_replace_with_five_stops_open_swaps_one_for_one(book):
    holding(book, qty="0.05", price="100")
    for i in range(5):
        book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), f"stop-{i}")

    report = book.cancel_replace("BTCUSDT", "stop-0", D("0.01"), D("98"), D("97.5"), "stop-5")

    assert report.new is not None and report.new.client_order_id == "stop-5"


def test_algo_orders_are_counted_per_symbol(book):
    holding(book, qty="0.05", price="100")
    book.on_price("ETHUSDT", D("10"), D(0))
    book.market_order("ETHUSDT", Side.BUY, D("1"), "eth-buy")
    for i in range(5):
        book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), f"stop-{i}")

    eth = book.place_stop_limit("ETHUSDT", D("1"), D("9.7"), D("9.65"), "eth-stop")

    assert eth.state is OrderState.NEW


# --- client ids: unique among open orders only (row 6) -----------------------------------------

def test_a_client_id_in_use_by_an_open_order_is_refused_but_free_once_it_closed(book):
    holding(book, qty="0.02", price="100")
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-1")

    code, message = rejection(book.market_order, "BTCUSDT", Side.SELL, D("0.01"), "stop-1")
    book.cancel("BTCUSDT", "stop-1")
    reused = book.place_stop_limit("BTCUSDT", D("0.01"), D("98"), D("97.5"), "stop-1")

    assert (code, message) == (-2010, "Duplicate order sent.")
    assert book.get_order("BTCUSDT", "stop-1").order_id == reused.order_id
    assert [o.state for o in book.all_orders("BTCUSDT")] == [
        OrderState.FILLED, OrderState.CANCELED, OrderState.NEW]


def test_a_replace_may_give_the_new_stop_the_old_stops_id(book):
    holding(book, price="100")
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-1")

    report = book.cancel_replace("BTCUSDT", "stop-1", D("0.01"), D("98"), D("97.5"), "stop-1")

    assert report.new.client_order_id == "stop-1"
    assert book.get_order("BTCUSDT", "stop-1").stop_price == D("98")


def test_a_version_0_file_is_migrated_and_keeps_its_orders(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE balances(asset TEXT PRIMARY KEY, free TEXT NOT NULL, locked TEXT NOT NULL);
        CREATE TABLE orders(order_id INTEGER PRIMARY KEY AUTOINCREMENT,
            client_order_id TEXT NOT NULL UNIQUE, symbol TEXT NOT NULL, side TEXT NOT NULL,
            type TEXT NOT NULL, qty TEXT NOT NULL, price TEXT, stop_price TEXT,
            status TEXT NOT NULL, executed_qty TEXT NOT NULL, quote_qty TEXT NOT NULL,
            triggered_ts TEXT, created_ts TEXT NOT NULL, updated_ts TEXT NOT NULL);
        CREATE TABLE trades(trade_id INTEGER PRIMARY KEY AUTOINCREMENT,
            order_id INTEGER NOT NULL REFERENCES orders(order_id), symbol TEXT NOT NULL,
            side TEXT NOT NULL, price TEXT NOT NULL, qty TEXT NOT NULL, quote_qty TEXT NOT NULL,
            commission TEXT NOT NULL, commission_asset TEXT NOT NULL, is_maker INTEGER NOT NULL,
            ts TEXT NOT NULL, time TEXT NOT NULL);
        CREATE TABLE prices(symbol TEXT PRIMARY KEY, price TEXT NOT NULL, ts TEXT NOT NULL,
            time TEXT NOT NULL);
        CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('seeded', '1');
        INSERT INTO balances VALUES ('USDT', '99', '0'), ('BTC', '0.01', '0');
        INSERT INTO orders VALUES (1, 'buy-1', 'BTCUSDT', 'BUY', 'MARKET', '0.01', NULL, NULL,
            'FILLED', '0.01', '1', NULL, '0', '0');
        INSERT INTO trades VALUES (1, 1, 'BTCUSDT', 'BUY', '100', '0.01', '1', '0.001', 'USDT',
            0, '0', 't0');
        INSERT INTO prices VALUES ('BTCUSDT', '100', '0', 't0');
    """)
    conn.close()

    book = open_book(path)
    again = book.market_order("BTCUSDT", Side.BUY, D("0.01"), "buy-1")

    assert [o.client_order_id for o in book.all_orders()] == ["buy-1", "buy-1"]
    assert again.order_id == 2
    assert [t.trade_id for t in book.trades()] == [1, 2]
    book.close()
