"""The Book's filters and native trailing stops (issue 10 rows 9 and 8), as Binance enforces
them; ``test_book_rules`` has the other rows."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from core.types import OrderState, Side
from exchange.book_rules import VenueRules
from tests.exchange.test_book import holding, open_book
from tests.exchange.test_book_rules import WOULD_TRIGGER, rejection

# --- filters (row 9) ---------------------------------------------------------------------------

def test_limits_beyond_tick_and_step_are_enforced(tmp_path):
    book = open_book(tmp_path / "b.db", rules=VenueRules(max_price=D("1000"), max_qty=D("2")),
                     balances={"USDT": D("100000")})
    holding(book, qty="1", price="100")

    too_many = rejection(book.market_order, "BTCUSDT", Side.BUY, D("2.00001"), "buy-2")
    limit_too_high = rejection(book.place_stop_limit, "BTCUSDT", D("0.01"), D("97"),
                               D("1000.01"), "stop-1")
    stop_too_high = rejection(book.place_stop_limit, "BTCUSDT", D("0.01"), D("1000.01"),
                              D("96"), "stop-1")
    stop_qty_too_high = rejection(book.place_stop_limit, "BTCUSDT", D("2.00001"), D("97"),
                                  D("96"), "stop-1")

    assert too_many == (-1013, "Filter failure: LOT_SIZE")
    assert limit_too_high == (-1013, "Filter failure: PRICE_FILTER")
    assert stop_too_high == (-1013, "Filter failure: PRICE_FILTER")
    assert stop_qty_too_high == (-1013, "Filter failure: LOT_SIZE")
    book.close()


@pytest.mark.parametrize(
    ("limit", "ok"),
    [
        pytest.param("20", True, id="at-0.2-of-average"),
        pytest.param("19.99", False, id="below-0.2-of-average"),
    ],
)
def test_percent_price_by_side_compares_the_limit_with_the_average_price(book, limit, ok):
    book.on_price("BTCUSDT", D("90"), D(0))
    book.on_price("BTCUSDT", D("110"), D(60))  # average of the last 5 minutes: 100
    book.market_order("BTCUSDT", Side.BUY, D("1"), "buy-1")

    if ok:
        assert book.place_stop_limit("BTCUSDT", D("1"), D("30"), D(limit), "stop-1")
    else:
        assert rejection(book.place_stop_limit, "BTCUSDT", D("1"), D("30"), D(limit),
                         "stop-1") == (-1013, "Filter failure: PERCENT_PRICE_BY_SIDE")
    assert book.average_price("BTCUSDT") == D("100")


def test_the_average_price_forgets_prices_older_than_its_window(book):
    book.on_price("BTCUSDT", D("90"), D(0))
    book.on_price("BTCUSDT", D("110"), D(300))

    assert book.average_price("BTCUSDT") == D("110")


# --- native trailing stops (row 8) -------------------------------------------------------------

def test_a_trailing_stop_without_a_stop_price_follows_section_3b(book):
    holding(book, price="100")
    placed = book.place_stop_limit("BTCUSDT", D("0.01"), None, D("95"), "trail-1",
                                   trailing_delta=300)

    book.on_price("BTCUSDT", D("102"), D(1))  # tracking starts: peak 102
    book.on_price("BTCUSDT", D("110"), D(2))  # peak 110, trigger at 106.7
    quiet = book.on_price("BTCUSDT", D("106.71"), D(3))
    [filled] = book.on_price("BTCUSDT", D("106.7"), D(4))

    assert (placed.trailing_delta, placed.stop_price, placed.trailing_ts) == (300, None, None)
    assert quiet == []
    assert (filled.state, filled.triggered_ts, filled.peak, filled.trailing_ts) == (
        OrderState.FILLED, D(4), D(110), D(1))
    assert filled.executions[0].price == D("106.7")


def test_a_trailing_stops_peak_outlives_a_restart(tmp_path):
    path = tmp_path / "book.db"
    book = open_book(path)
    holding(book, price="100")
    book.place_stop_limit("BTCUSDT", D("0.01"), None, D("95"), "trail-1", trailing_delta=300)
    book.on_price("BTCUSDT", D("100"), D(1))
    book.on_price("BTCUSDT", D("120"), D(2))
    book.close()

    reopened = open_book(path)
    [stop] = reopened.open_orders()
    untouched = reopened.on_price("BTCUSDT", D("116.41"), D(3))
    [triggered] = reopened.on_price("BTCUSDT", D("116.4"), D(4))

    assert (stop.peak, stop.trailing_ts) == (D(120), D(1))
    assert untouched == []
    assert triggered.state is OrderState.FILLED
    reopened.close()


def test_a_trailing_stop_that_gaps_below_its_limit_rests_then_fills_at_the_limit(book):
    holding(book, price="100")
    book.place_stop_limit("BTCUSDT", D("0.01"), None, D("95"), "trail-1", trailing_delta=300)
    book.on_price("BTCUSDT", D("100"), D(1))

    [triggered] = book.on_price("BTCUSDT", D("90"), D(2))
    [filled] = book.on_price("BTCUSDT", D("96"), D(3))

    assert (triggered.state, triggered.triggered, triggered.executions) == (
        OrderState.NEW, True, ())
    assert filled.executions[0].price == D("95")


@pytest.mark.parametrize(
    ("delta", "take_profit", "ok"),
    [
        pytest.param(9, False, False, id="below-min"),
        pytest.param(10, False, True, id="min"),
        pytest.param(2000, False, True, id="max"),
        pytest.param(2001, False, False, id="above-max"),
        pytest.param(2001, True, False, id="take-profit-above-max"),
    ],
)
def test_trailing_delta_must_lie_inside_the_trailing_delta_filter(book, delta, take_profit, ok):
    holding(book, price="100")

    def place():
        return book.place_stop_limit("BTCUSDT", D("0.01"), None, D("95"), "trail-1",
                                     trailing_delta=delta, take_profit=take_profit)

    if ok:
        assert place().trailing_delta == delta
    else:
        assert rejection(place) == (-1013, "Filter failure: TRAILING_DELTA")


def test_a_stop_limit_needs_a_stop_price_or_a_trailing_delta(book):
    holding(book, price="100")

    assert rejection(book.place_stop_limit, "BTCUSDT", D("0.01"), None, D("95"), "s") == (
        -1102, "Param 'stopPrice' or 'trailingDelta' must be sent, but both were empty/null!")


def test_a_trailing_take_profit_starts_tracking_at_its_stop_price(book):
    holding(book, price="100")
    book.place_stop_limit("BTCUSDT", D("0.01"), D("110"), D("100"), "tp-1",
                          trailing_delta=500, take_profit=True)

    book.on_price("BTCUSDT", D("105"), D(1))  # below the activation: nothing
    book.on_price("BTCUSDT", D("110"), D(2))  # tracking, peak 110
    book.on_price("BTCUSDT", D("120"), D(3))  # peak 120, trigger at 114
    [filled] = book.on_price("BTCUSDT", D("114"), D(4))

    assert (filled.take_profit, filled.trailing_ts, filled.peak) == (True, D(2), D(120))
    assert filled.executions[0].price == D("114")


def test_a_trailing_take_profit_whose_stop_price_is_already_met_is_refused(book):
    holding(book, price="100")

    assert rejection(book.place_stop_limit, "BTCUSDT", D("0.01"), D("100"), D("99"), "tp",
                     trailing_delta=500, take_profit=True) == (-2010, WOULD_TRIGGER)


def test_a_replace_may_turn_a_stop_into_a_trailing_stop(book):
    holding(book, price="100")
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-1")

    report = book.cancel_replace("BTCUSDT", "stop-1", D("0.01"), None, D("95"), "trail-1",
                                 trailing_delta=250)

    assert (report.new.trailing_delta, report.new.stop_price) == (250, None)

