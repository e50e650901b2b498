"""A symbol's trading status in the Book: a closed market refuses new orders before anything
else, takes cancels in CANCEL_ONLY only, can expire its open orders, and stays closed across a
restart (schema version 2)."""

from __future__ import annotations

import sqlite3
from decimal import Decimal as D

import pytest

from core.errors import OrderRejected
from core.types import OrderState, Side
from tests.exchange.test_book import holding, open_book

CLOSED = (-1013, "Market is closed.")


def refusal(call, *args, **kw) -> tuple[int, str]:
    with pytest.raises(OrderRejected) as err:
        call(*args, **kw)
    return err.value.code, str(err.value)


@pytest.mark.parametrize("status", ["BREAK", "HALT", "CANCEL_ONLY", "END_OF_DAY"])
def test_a_market_that_is_not_trading_refuses_every_new_order(book, status):
    holding(book, qty="0.02", price="100")
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-1")
    book.set_status("BTCUSDT", status)

    refused = [
        refusal(book.market_order, "BTCUSDT", Side.BUY, D("0.01"), "buy-2"),
        refusal(book.place_stop_limit, "BTCUSDT", D("0.01"), D("98"), D("97.5"), "stop-2"),
        refusal(book.place_limit, "BTCUSDT", Side.BUY, D("0.01"), D("90"), "web_1"),
        refusal(book.cancel_replace, "BTCUSDT", "stop-1", D("0.01"), D("98"), D("97.5"),
                "stop-3"),
        # before the filters: this one breaks PRICE_FILTER too
        refusal(book.place_stop_limit, "BTCUSDT", D("0.01"), D("97.001"), D("96.5"), "stop-4"),
    ]

    assert refused == [CLOSED] * 5
    assert [o.client_order_id for o in book.open_orders()] == ["stop-1"]  # nothing canceled


def test_cancel_only_takes_cancels_and_halt_or_break_refuse_them(book):
    holding(book, qty="0.02", price="100")
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-1")
    book.place_stop_limit("BTCUSDT", D("0.01"), D("96"), D("95.5"), "stop-2")

    book.set_status("BTCUSDT", "CANCEL_ONLY")
    canceled = book.cancel("BTCUSDT", "stop-1")
    refused = {}
    for status in ("HALT", "BREAK", "END_OF_DAY"):
        book.set_status("BTCUSDT", status)
        refused[status] = refusal(book.cancel, "BTCUSDT", "stop-2")

    assert canceled.state is OrderState.CANCELED
    assert set(refused.values()) == {(-2011, "Market is closed.")}
    assert [o.client_order_id for o in book.open_orders()] == ["stop-2"]


def test_expire_orders_closes_every_open_order_of_the_symbol_and_gives_back_its_lock(book):
    holding(book, qty="0.02", price="100")
    book.on_price("ETHUSDT", D("10"), D(0))
    book.place_stop_limit("BTCUSDT", D("0.01"), D("97"), D("96.5"), "stop-1")
    book.place_limit("BTCUSDT", Side.BUY, D("0.1"), D("90"), "web_1")
    book.place_limit("ETHUSDT", Side.BUY, D("1"), D("9"), "web_eth")

    expired = book.set_status("BTCUSDT", "BREAK", expire_orders=True)
    later = book.on_price("BTCUSDT", D("80"), D(1))

    assert [(o.client_order_id, o.state) for o in expired] == [
        ("stop-1", OrderState.EXPIRED), ("web_1", OrderState.EXPIRED)]
    assert [o.client_order_id for o in book.open_orders()] == ["web_eth"]
    assert book.balances()["BTC"].locked == D(0)
    assert book.balances()["USDT"].locked == D("9")  # the ETH order's lock only
    assert later == []


def test_the_status_outlives_a_restart_and_trading_again_clears_it(tmp_path):
    path = tmp_path / "book.db"
    book = open_book(path)
    book.set_status("BTCUSDT", "HALT")
    book.set_status("ETHUSDT", "BREAK")
    book.set_status("ETHUSDT", "TRADING")
    book.close()

    reopened = open_book(path)

    assert reopened.statuses() == {"BTCUSDT": "HALT", "ETHUSDT": "TRADING"}
    assert reopened.status("BTCUSDT") == "HALT"
    reopened.close()
    rows = sqlite3.connect(path).execute("SELECT * FROM symbol_status").fetchall()
    assert rows == [("BTCUSDT", "HALT")]


def test_a_version_1_file_is_migrated_to_version_2(tmp_path):
    path = tmp_path / "v1.db"
    book = open_book(path)
    holding(book)
    book.close()
    conn = sqlite3.connect(path)
    conn.executescript("DROP TABLE symbol_status; PRAGMA user_version=1;")
    conn.close()

    book = open_book(path)
    book.set_status("BTCUSDT", "BREAK")
    orders = [o.client_order_id for o in book.all_orders()]
    book.close()
    version = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]
    reopened = open_book(path)

    assert version == 2
    assert orders == ["buy-1"]
    assert reopened.statuses()["BTCUSDT"] == "BREAK"
    reopened.close()


def test_an_unknown_status_is_refused(book):
    with pytest.raises(ValueError, match="AUCTION_MATCH"):
        book.set_status("BTCUSDT", "AUCTION_MATCH")

    assert book.status("BTCUSDT") == "TRADING"
