"""The Book's LIMIT orders (another client's, on the same account): they lock what they may
spend, rest at their price, fill there when a price reaches it, and obey the filters."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from core.errors import OrderRejected
from core.types import OrderState, OrderType, Side
from exchange.book_rules import VenueRules
from tests.exchange.test_book import holding, open_book


def balance(book, asset: str) -> tuple[D, D]:
    held = book.balances()[asset]
    return held.free, held.locked


def test_a_buy_limit_below_the_price_rests_locking_its_quote_then_fills_at_its_price(book):
    book.on_price("BTCUSDT", D("100"), D(0))

    placed = book.place_limit("BTCUSDT", Side.BUY, D("0.1"), D("95"), "web_5f1c")
    locked = balance(book, "USDT")
    above = book.on_price("BTCUSDT", D("95.01"), D(1))
    [filled] = book.on_price("BTCUSDT", D("94"), D(2), "t2")

    assert (placed.type, placed.state, placed.limit_price) == (
        OrderType.LIMIT, OrderState.NEW, D("95"))
    assert locked == (D("9990.5"), D("9.5"))
    assert above == []
    assert filled.state is OrderState.FILLED
    [execution] = filled.executions
    assert (execution.price, execution.qty, execution.ts) == (D("95"), D("0.1"), D(2))
    assert balance(book, "USDT") == (D("9990.5") - D("0.0095"), D(0))  # fee in quote (QUOTE mode)
    assert balance(book, "BTC") == (D("0.1"), D(0))
    assert book.trades()[-1].is_maker


def test_a_sell_limit_above_the_price_rests_locking_its_base_then_fills_at_its_price(book):
    holding(book, qty="0.02", price="100")

    book.place_limit("BTCUSDT", Side.SELL, D("0.02"), D("105"), "and_1")
    locked = balance(book, "BTC")
    [filled] = book.on_price("BTCUSDT", D("106"), D(3))

    assert locked == (D(0), D("0.02"))
    assert (filled.state, filled.executions[0].price) == (OrderState.FILLED, D("105"))
    assert balance(book, "BTC") == (D(0), D(0))


def test_a_limit_crossing_the_last_price_fills_at_once_at_that_price(book):
    book.on_price("BTCUSDT", D("100"), D(0))
    usdt_before = balance(book, "USDT")[0]

    order = book.place_limit("BTCUSDT", Side.BUY, D("0.1"), D("110"), "x-cross")

    assert order.state is OrderState.FILLED
    assert order.executions[0].price == D("100")  # the last price, not the limit
    # 11 locked at the limit, 10 paid at the last price, the fee in quote
    assert balance(book, "USDT") == (usdt_before - D("10") - D("0.01"), D(0))
    assert not book.trades()[-1].is_maker


def test_cancel_gives_back_what_a_limit_locked(book):
    book.on_price("BTCUSDT", D("100"), D(0))
    book.place_limit("BTCUSDT", Side.BUY, D("0.1"), D("95"), "web_1")

    canceled = book.cancel("BTCUSDT", "web_1")
    later = book.on_price("BTCUSDT", D("90"), D(1))

    assert canceled.state is OrderState.CANCELED
    assert balance(book, "USDT") == (D("10000"), D(0))
    assert later == []


def test_a_buy_limit_beyond_the_quote_balance_is_refused(book):
    book.on_price("BTCUSDT", D("100"), D(0))

    with pytest.raises(OrderRejected) as err:
        book.place_limit("BTCUSDT", Side.BUY, D("200"), D("99"), "web_1")

    assert (err.value.code, str(err.value)) == (
        -2010, "Account has insufficient balance for requested action.")
    assert book.open_orders() == []


@pytest.mark.parametrize(
    ("side", "qty", "price", "message"),
    [
        pytest.param(Side.BUY, "0.01", "95.001", "Filter failure: PRICE_FILTER", id="off-tick"),
        pytest.param(Side.BUY, "0.01", "19", "Filter failure: PERCENT_PRICE_BY_SIDE",
                     id="bid-too-low"),
        pytest.param(Side.SELL, "0.01", "501", "Filter failure: PERCENT_PRICE_BY_SIDE",
                     id="ask-too-high"),
        pytest.param(Side.BUY, "0.000015", "95", "Filter failure: LOT_SIZE", id="off-step"),
        pytest.param(Side.BUY, "0.001", "95", "Filter failure: NOTIONAL", id="below-notional"),
    ],
)
def test_limits_breaking_a_filter_are_refused_with_1013(book, side, qty, price, message):
    holding(book, qty="0.02", price="100")

    with pytest.raises(OrderRejected) as err:
        book.place_limit("BTCUSDT", side, D(qty), D(price), "web_1")

    assert (err.value.code, str(err.value)) == (-1013, message)


def test_limits_count_toward_max_num_orders_but_not_algo_orders(tmp_path):
    book = open_book(tmp_path / "b.db", rules=VenueRules(max_num_orders=3, max_num_algo_orders=1))
    holding(book, qty="0.03", price="100")
    book.place_limit("BTCUSDT", Side.BUY, D("0.01"), D("90"), "web_1")
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-1")
    book.place_limit("BTCUSDT", Side.SELL, D("0.01"), D("110"), "web_2")

    with pytest.raises(OrderRejected) as err:
        book.place_limit("BTCUSDT", Side.BUY, D("0.01"), D("91"), "web_3")

    assert (err.value.code, str(err.value)) == (-2010, "Filter failure: MAX_NUM_ORDERS")
    book.close()


def test_a_resting_limit_survives_reopening_the_file(tmp_path):
    path = tmp_path / "book.db"
    book = open_book(path)
    book.on_price("BTCUSDT", D("100"), D(0))
    book.place_limit("BTCUSDT", Side.BUY, D("0.1"), D("95"), "web_1")
    book.close()

    reopened = open_book(path)
    [filled] = reopened.on_price("BTCUSDT", D("95"), D(1))

    assert (filled.client_order_id, filled.state) == ("web_1", OrderState.FILLED)
    reopened.close()
