"""PaperExchange: the Exchange interface over a Book, with each pair's filters and fees."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from core.errors import OrderRejected, UnknownOrder, VenueError
from core.types import OrderState, PairSettings, Side
from exchange.base import OrderReport
from exchange.book_fees import FeeMode
from exchange.paper import PaperExchange

SETTINGS = {
    "BTCUSDT": PairSettings(symbol="BTCUSDT", fee_pct=D("0.1")),
    "ETHBTC": PairSettings(
        symbol="ETHBTC", fee_pct=D("0.2"), tick=D("0.00001"), step=D("0.001"),
        min_notional=D("0.0001"),
    ),
}


@pytest.fixture
def paper(tmp_path):
    exchange = PaperExchange(tmp_path / "paper.db", settings=SETTINGS)
    yield exchange
    exchange.close()


def test_filters_come_from_the_pair_settings(paper):
    filters = paper.symbol_filters("ETHBTC")

    assert (filters.base_asset, filters.quote_asset) == ("ETH", "BTC")
    assert (filters.tick, filters.step, filters.min_notional) == (
        D("0.00001"), D("0.001"), D("0.0001"))


def test_new_paper_account_starts_with_a_million_usdt(paper):
    assert paper.balances()["USDT"].free == D("1000000")


def test_entry_stop_and_stop_fill_through_the_interface(paper):
    paper.on_price("BTCUSDT", D("100"), D(0), "t0")
    buy = paper.market_order(symbol="BTCUSDT", side=Side.BUY, qty=D("1"), client_order_id="b1")
    stop = paper.place_stop_limit(
        symbol="BTCUSDT", qty=D("1"), stop_price=D("97"), limit_price=D("96.5"),
        client_order_id="s1",
    )

    [filled] = paper.on_price("BTCUSDT", D("96.9"), D(60), "t1")

    assert type(buy) is OrderReport and type(filled) is OrderReport
    assert (buy.avg_price, stop.state) == (D("100"), OrderState.NEW)
    assert (filled.client_order_id, filled.state, filled.avg_price) == (
        "s1", OrderState.FILLED, D("96.9"))
    assert filled.executions[0].time == "t1"
    assert paper.open_orders() == []


def test_each_pair_pays_its_own_fee(paper):
    paper.book.set_balance("BTC", D("1"))
    paper.on_price("ETHBTC", D("0.05"), D(0))

    report = paper.market_order(
        symbol="ETHBTC", side=Side.BUY, qty=D("2"), client_order_id="e1"
    )

    assert (report.executions[0].fee, report.executions[0].fee_asset) == (D("0.0002"), "BTC")


def test_order_off_the_step_grid_is_refused_with_1013(paper):
    paper.on_price("BTCUSDT", D("100"), D(0))

    with pytest.raises(OrderRejected) as err:
        paper.market_order(
            symbol="BTCUSDT", side=Side.BUY, qty=D("0.123456"), client_order_id="b1"
        )

    assert err.value.code == -1013


def test_cancel_replace_returns_plain_reports_of_both_halves(paper):
    paper.on_price("BTCUSDT", D("100"), D(0))
    paper.market_order(symbol="BTCUSDT", side=Side.BUY, qty=D("1"), client_order_id="b1")
    paper.place_stop_limit(
        symbol="BTCUSDT", qty=D("1"), stop_price=D("97"), limit_price=D("96.5"),
        client_order_id="s1",
    )

    report = paper.cancel_replace(
        symbol="BTCUSDT", cancel_client_order_id="s1", qty=D("1"), stop_price=D("98"),
        limit_price=D("97.51"), new_client_order_id="s2",
    )

    assert type(report.canceled) is OrderReport and type(report.new) is OrderReport
    assert (report.canceled.state, report.new.limit_price) == (OrderState.CANCELED, D("97.51"))


def test_cancel_of_an_order_that_filled_raises_unknown_order(paper):
    paper.on_price("BTCUSDT", D("100"), D(0))
    paper.market_order(symbol="BTCUSDT", side=Side.BUY, qty=D("1"), client_order_id="b1")

    with pytest.raises(UnknownOrder):
        paper.cancel(symbol="BTCUSDT", client_order_id="b1")

    assert paper.get_order(symbol="BTCUSDT", client_order_id="b1").state is OrderState.FILLED


def test_stop_orders_are_still_there_after_a_restart(tmp_path):
    path = tmp_path / "paper.db"
    first = PaperExchange(path, settings=SETTINGS)
    first.on_price("BTCUSDT", D("100"), D(0))
    first.market_order(symbol="BTCUSDT", side=Side.BUY, qty=D("1"), client_order_id="b1")
    first.place_stop_limit(
        symbol="BTCUSDT", qty=D("1"), stop_price=D("97"), limit_price=D("96.5"),
        client_order_id="s1",
    )
    first.close()

    second = PaperExchange(path, settings=SETTINGS)

    assert [o.client_order_id for o in second.open_orders()] == ["s1"]
    assert second.last_price("BTCUSDT") == D("100")
    assert second.balances()["BTC"].locked == D("1")
    second.close()


def test_last_price_before_any_price_is_a_venue_error(paper):
    with pytest.raises(VenueError):
        paper.last_price("BTCUSDT")


def test_every_quote_asset_of_a_configured_pair_is_funded(tmp_path):
    settings = {s: PairSettings(symbol=s, step=D("1") if s == "EURUSD" else D("0.00001"))
                for s in ("BTCEUR", "EURUSD")}
    settings["GOOG"] = PairSettings(symbol="GOOG", quote="USD", step=D("1"))
    exchange = PaperExchange(tmp_path / "p.db", settings=settings,
                             balances={"EUR": D(500), "BTC": D("0.05")})
    try:
        balances = {a: b.free for a, b in exchange.balances().items()}
        exchange.on_price("EURUSD", D("1.1"), D(1))
        bought = exchange.market_order(symbol="EURUSD", side=Side.BUY, qty=D(90),
                                       client_order_id="eur-1")
    finally:
        exchange.close()

    assert balances == {"EUR": D(500), "USD": D(1_000_000), "BTC": D("0.05")}
    assert bought.state is OrderState.FILLED


def test_a_reopened_account_funds_the_quote_of_a_pair_added_since(tmp_path):
    PaperExchange(tmp_path / "p.db", settings={"BTCUSDT": SETTINGS["BTCUSDT"]}).close()
    spent = PaperExchange(tmp_path / "p.db", settings={"BTCUSDT": SETTINGS["BTCUSDT"]})
    spent.book.set_balance("USDT", D(7))
    spent.close()

    exchange = PaperExchange(tmp_path / "p.db", settings=SETTINGS)
    try:
        balances = {a: b.free for a, b in exchange.balances().items()}
        exchange.add_pair(PairSettings(symbol="BTCEUR"))
        eur = exchange.balances()["EUR"].free
    finally:
        exchange.close()

    assert balances["USDT"] == D(7)  # kept: the account's own history
    assert balances["BTC"] == D(1_000_000)  # ETHBTC's quote, never held before
    assert eur == D(1_000_000)


# --- the sim's Binance rules hold in paper mode too (issue 10) ---------------------------------

def bought(paper: PaperExchange, qty: str = "1", price: str = "100") -> None:
    paper.on_price("BTCUSDT", D(price), D(0))
    paper.market_order(symbol="BTCUSDT", side=Side.BUY, qty=D(qty), client_order_id="b1")


def stop(paper: PaperExchange, client_id: str, stop_price: str = "97", qty: str = "1"):
    return paper.place_stop_limit(symbol="BTCUSDT", qty=D(qty), stop_price=D(stop_price),
                                  limit_price=D("96.5"), client_order_id=client_id)


def test_paper_fees_stay_in_the_quote_asset_by_default(paper):
    held = paper.balances()["BTC"].free  # ETHBTC's quote asset, funded
    bought(paper)

    [execution] = paper.get_order(symbol="BTCUSDT", client_order_id="b1").executions

    assert (execution.fee, execution.fee_asset) == (D("0.1"), "USDT")
    assert paper.balances()["BTC"].free == held + D("1")


def test_paper_takes_binance_fees_when_asked(tmp_path):
    paper = PaperExchange(tmp_path / "p.db", settings=SETTINGS, fee_mode=FeeMode.RECEIVED)
    bought(paper)

    [execution] = paper.get_order(symbol="BTCUSDT", client_order_id="b1").executions

    assert (execution.fee, execution.fee_asset) == (D("0.001"), "BTC")
    assert paper.balances()["BTC"].free == D(1_000_000) + D("0.999")
    paper.close()


def test_paper_refuses_a_stop_that_would_trigger_immediately(paper):
    bought(paper)

    with pytest.raises(OrderRejected) as err:
        stop(paper, "s1", stop_price="100")

    assert (err.value.code, str(err.value)) == (-2010, "Order would trigger immediately.")


def test_paper_replace_whose_new_stop_would_trigger_is_a_partial_failure(paper):
    bought(paper)
    stop(paper, "s1")

    report = paper.cancel_replace(
        symbol="BTCUSDT", cancel_client_order_id="s1", qty=D("1"), stop_price=D("101"),
        limit_price=D("100.5"), new_client_order_id="s2",
    )

    assert report.canceled.state is OrderState.CANCELED
    assert (report.new, report.new_error_code) == (None, -2010)


def test_paper_replace_breaking_a_filter_keeps_the_old_stop(paper):
    bought(paper)
    stop(paper, "s1")

    with pytest.raises(OrderRejected) as err:
        paper.cancel_replace(
            symbol="BTCUSDT", cancel_client_order_id="s1", qty=D("1"), stop_price=D("98.001"),
            limit_price=D("97.5"), new_client_order_id="s2",
        )

    assert (err.value.code, str(err.value)) == (-1013, "Filter failure: PRICE_FILTER")
    assert [o.client_order_id for o in paper.open_orders()] == ["s1"]


def test_paper_refuses_a_sixth_stop_on_a_symbol(paper):
    bought(paper, qty="6")
    for i in range(5):
        stop(paper, f"s{i}")

    with pytest.raises(OrderRejected) as err:
        stop(paper, "s5")

    assert (err.value.code, str(err.value)) == (-2010, "Filter failure: MAX_NUM_ALGO_ORDERS")


def test_paper_accepts_the_id_of_a_closed_order_again(paper):
    bought(paper)
    stop(paper, "s1")
    paper.cancel(symbol="BTCUSDT", client_order_id="s1")

    again = stop(paper, "s1", stop_price="96")

    assert again.state is OrderState.NEW
    assert paper.get_order(symbol="BTCUSDT", client_order_id="s1").stop_price == D("96")


# --- native trailing stops through the interface (DESIGN.md §3b) ------------------------------

def test_paper_native_stop_has_no_stop_price_and_trails_from_the_next_price(paper):
    bought(paper)
    placed = paper.place_stop_limit(symbol="BTCUSDT", qty=D("1"), stop_price=None,
                                    limit_price=D("96.51"), client_order_id="n1",
                                    trailing_delta=300)

    paper.on_price("BTCUSDT", D("110"), D(1))  # the peak: 110, trigger at 106.7
    assert paper.on_price("BTCUSDT", D("106.8"), D(2)) == []
    [filled] = paper.on_price("BTCUSDT", D("106.7"), D(3))

    assert (placed.stop_price, placed.limit_price, placed.trailing_delta) == (
        None, D("96.51"), 300)
    assert (filled.state, filled.avg_price, filled.trailing_delta) == (
        OrderState.FILLED, D("106.7"), 300)


def test_paper_cancel_replace_to_a_native_stop_for_more_keeps_delta_and_limit(paper):
    bought(paper, qty="2")
    stop(paper, "s1")

    report = paper.cancel_replace(symbol="BTCUSDT", cancel_client_order_id="s1", qty=D("2"),
                                  stop_price=None, limit_price=D("96.5"),
                                  new_client_order_id="n2", trailing_delta=300)

    assert report.canceled is not None and report.canceled.state is OrderState.CANCELED
    assert report.new is not None
    assert (report.new.qty, report.new.stop_price, report.new.trailing_delta) == (
        D("2"), None, 300)


def test_paper_refuses_a_native_delta_outside_the_pairs_own_bounds(tmp_path):
    narrow = {"BTCUSDT": PairSettings(symbol="BTCUSDT", max_trailing_delta=200)}
    exchange = PaperExchange(tmp_path / "narrow.db", settings=narrow)
    try:
        bought(exchange)
        with pytest.raises(OrderRejected) as info:
            exchange.place_stop_limit(symbol="BTCUSDT", qty=D("1"), stop_price=None,
                                      limit_price=D("96.5"), client_order_id="n1",
                                      trailing_delta=300)
    finally:
        exchange.close()

    assert (info.value.code, str(info.value)) == (-1013, "Filter failure: TRAILING_DELTA")
