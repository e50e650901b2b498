"""BinanceExchange through real python-binance HTTP to the sim: place, replace, cancel, query."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.errors import AuthError, OrderRejected, UnknownOrder
from core.types import OrderState, OrderType, Side
from tests.exchange.binance.driver import received
from tests.exchange.binance.simproc import cid

D = Decimal
@pytest.fixture
def ex(sim):
    ex = sim.exchange(symbols=("BTCUSDT", "ETHUSDT"))
    yield ex
    ex.close()


def buy(ex, qty="0.002", symbol="BTCUSDT"):
    return ex.market_order(symbol=symbol, side=Side.BUY, qty=D(qty), client_order_id=cid("buy"))


def test_market_buy_reports_its_fills_with_commission(ex):
    report = buy(ex)

    assert report.state is OrderState.FILLED and report.type is OrderType.MARKET
    assert sum(e.qty for e in report.executions) == report.executed_qty == D("0.002")
    (fill,) = report.executions
    # Binance's rule: a BUY pays its commission in the base asset (0.1 % of 0.002 BTC)
    assert fill.price == D("50000") and fill.fee == D("0.000002") and fill.fee_asset == "BTC"
    assert received(ex, report) == D("0.00199")


def test_stop_limit_is_placed_open_and_untriggered(ex):
    qty = received(ex, buy(ex))
    client_id = cid("stop")

    report = ex.place_stop_limit(symbol="BTCUSDT", qty=qty, stop_price=D("45000"),
                                 limit_price=D("44775.5"), client_order_id=client_id)

    assert (report.client_order_id, report.state, report.type) == \
        (client_id, OrderState.NEW, OrderType.STOP_LOSS_LIMIT)
    assert (report.stop_price, report.limit_price, report.triggered) == \
        (D("45000"), D("44775.5"), False)


def test_cancel_replace_moves_the_stop_in_one_request(sim, ex):
    qty = received(ex, buy(ex))
    old = cid("stop")
    ex.place_stop_limit(symbol="BTCUSDT", qty=qty, stop_price=D("45000"),
                        limit_price=D("44000"), client_order_id=old)
    new = cid("stop")
    sim.reset_requests()

    report = ex.cancel_replace(symbol="BTCUSDT", cancel_client_order_id=old, qty=qty,
                               stop_price=D("45100"), limit_price=D("44100"),
                               new_client_order_id=new)

    assert report.canceled is not None and report.canceled.client_order_id == old
    assert report.canceled.state is OrderState.CANCELED
    assert report.new is not None and report.new.client_order_id == new
    assert (report.new.state, report.new.stop_price) == (OrderState.NEW, D("45100"))
    assert sim.requests() == {"POST /api/v3/order/cancelReplace": 1}


def test_cancel_replace_of_an_unknown_stop_reads_the_failed_cancel_half(ex):
    report = ex.cancel_replace(symbol="BTCUSDT", cancel_client_order_id=cid("never"),
                               qty=D("0.001"), stop_price=D("45100"), limit_price=D("44100"),
                               new_client_order_id=cid("stop"))

    assert report.canceled is None and report.cancel_error_code == -2011
    assert report.new is None and report.new_error == "NOT_ATTEMPTED"


def test_cancel_returns_the_canceled_order_by_our_client_id(ex):
    qty = received(ex, buy(ex))
    stop = cid("stop")
    ex.place_stop_limit(symbol="BTCUSDT", qty=qty, stop_price=D("45000"),
                        limit_price=D("44000"), client_order_id=stop)

    report = ex.cancel(symbol="BTCUSDT", client_order_id=stop)

    assert report.client_order_id == stop and report.state is OrderState.CANCELED


def test_cancel_of_an_order_that_is_not_open_raises_unknown_order(ex):
    with pytest.raises(UnknownOrder) as caught:
        ex.cancel(symbol="BTCUSDT", client_order_id=cid("never"))

    assert caught.value.code == -2011


def test_query_of_an_order_never_seen_raises_unknown_order(ex):
    with pytest.raises(UnknownOrder):
        ex.get_order(symbol="BTCUSDT", client_order_id=cid("never"))


def test_query_of_a_filled_stop_carries_its_trades(sim, ex):
    qty = received(ex, buy(ex, symbol="ETHUSDT", qty="0.05"))
    stop = cid("stop")
    ex.place_stop_limit(symbol="ETHUSDT", qty=qty, stop_price=D("2900"),
                        limit_price=D("2890"), client_order_id=stop)
    sim.price("ETHUSDT", "2895")
    sim.price("ETHUSDT", "3000")  # the next price puts the path back for other tests

    report = ex.get_order(symbol="ETHUSDT", client_order_id=stop)

    assert report.state is OrderState.FILLED
    (fill,) = report.executions
    assert (fill.price, fill.qty, fill.fee_asset) == (D("2895"), qty, "USDT")
    assert report.avg_price == D("2895")


def test_open_orders_of_every_symbol_come_in_one_request(sim, ex):
    qty = received(ex, buy(ex))
    stop = cid("stop")
    ex.place_stop_limit(symbol="BTCUSDT", qty=qty, stop_price=D("45000"),
                        limit_price=D("44000"), client_order_id=stop)
    sim.reset_requests()

    reports = ex.open_orders()

    assert stop in {r.client_order_id for r in reports}
    assert all(r.state.is_open for r in reports)
    assert sim.requests() == {"GET /api/v3/openOrders": 1}


def test_filters_of_all_configured_symbols_come_from_one_exchange_info_call(sim, ex):
    sim.reset_requests()

    btc, eth = ex.symbol_filters("BTCUSDT"), ex.symbol_filters("ETHUSDT")

    assert (btc.tick, btc.step, btc.min_notional) == (D("0.01"), D("0.00001"), D("5"))
    assert eth.base_asset == "ETH" and eth.quote_asset == "USDT"
    assert sim.requests() == {"GET /api/v3/exchangeInfo": 1}


def test_balances_and_last_price(ex):
    balances = ex.balances()

    assert balances["USDT"].free > 0
    assert ex.last_price("BTCUSDT") == D("50000")


def test_order_breaking_a_filter_is_refused_before_it_is_sent(sim, ex):
    ex.symbol_filters("BTCUSDT")
    sim.reset_requests()

    with pytest.raises(OrderRejected) as caught:
        ex.place_stop_limit(symbol="BTCUSDT", qty=D("0.0000001"), stop_price=D("45000"),
                            limit_price=D("44000"), client_order_id=cid("bad"))

    assert caught.value.code == -1013
    assert sim.requests() == {}


def test_rejection_by_the_venue_is_an_order_rejected(ex):
    with pytest.raises(OrderRejected) as caught:  # far more BTC than the account holds
        ex.place_stop_limit(symbol="BTCUSDT", qty=D("100"), stop_price=D("45000"),
                            limit_price=D("44000"), client_order_id=cid("big"))

    assert caught.value.code == -2010


def test_rate_budget_follows_the_venue_headers(ex):
    ex.symbol_filters("BTCUSDT")
    ex.open_orders()

    budget = ex.rate_budget()

    assert budget.weight_limit == 6000 and budget.weight_used >= 80  # openOrders alone: 80
    assert budget.orders_limit == 100


@pytest.mark.parametrize(
    ("key", "secret"),
    [pytest.param("K", "wrong", id="wrong-secret"), pytest.param("nope", "S", id="wrong-key")],
)
def test_wrong_credentials_fail_the_boot_check_with_one_line(sim, key, secret):
    ex = sim.exchange(key=key, secret=secret)

    with pytest.raises(AuthError) as caught:
        ex.check_credentials()

    assert str(caught.value) == "invalid API key or secret"
    assert caught.value.exit_code == 2


def test_boot_check_reports_whether_the_key_can_withdraw(ex):
    report = ex.check_credentials()

    assert report.can_trade is True and report.can_withdraw is False


def test_native_trailing_stop_sends_trailing_delta_and_no_stop_price(sim, ex):
    qty = received(ex, buy(ex))
    client_id = cid("native")

    report = ex.place_stop_limit(symbol="BTCUSDT", qty=qty, stop_price=None,
                                 limit_price=D("48260"), client_order_id=client_id,
                                 trailing_delta=300)
    listed = {o["clientOrderId"]: o for o in sim.orders()}[client_id]
    open_now = {r.client_order_id: r for r in ex.open_orders()}[client_id]

    assert (report.stop_price, report.limit_price, report.trailing_delta) == (
        None, D("48260"), 300)
    assert (listed["trailingDelta"], D(listed["stopPrice"])) == (300, D(0))
    assert (open_now.trailing_delta, open_now.stop_price) == (300, None)
    ex.cancel(symbol="BTCUSDT", client_order_id=client_id)


def test_cancel_replace_to_a_native_stop_in_one_request(sim, ex):
    qty = received(ex, buy(ex))
    old = cid("stop")
    ex.place_stop_limit(symbol="BTCUSDT", qty=qty, stop_price=D("45000"),
                        limit_price=D("44000"), client_order_id=old)
    new = cid("native")

    report = ex.cancel_replace(symbol="BTCUSDT", cancel_client_order_id=old, qty=qty,
                               stop_price=None, limit_price=D("44000"),
                               new_client_order_id=new, trailing_delta=250)

    assert report.new is not None
    assert (report.new.trailing_delta, report.new.stop_price) == (250, None)
    ex.cancel(symbol="BTCUSDT", client_order_id=new)
