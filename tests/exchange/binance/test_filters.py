"""An order that breaks a symbol filter is refused locally with -1013, before it is sent."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from core.errors import OrderRejected
from exchange.binance.dto import SymbolDTO
from exchange.binance.filters import check_order, rules_from_symbol
from tests.conftest import FIXTURES

RULES = rules_from_symbol(SymbolDTO.parse(json.loads(
    (FIXTURES / "exchange_info_symbol_BTCUSDT_modern.json").read_text())))
D = Decimal


@pytest.mark.parametrize(
    ("qty", "price", "stop", "market", "filter_name"),
    [
        pytest.param(D("0.000015"), D("50000"), D("50100"), None, "LOT_SIZE", id="qty-off-step"),
        pytest.param(D("0"), D("50000"), D("50100"), None, "LOT_SIZE", id="qty-zero"),
        pytest.param(D("9001"), D("50000"), D("50100"), None, "LOT_SIZE", id="qty-above-max"),
        pytest.param(D("0.001"), D("50000.005"), D("50100"), None, "PRICE_FILTER",
                     id="price-off-tick"),
        pytest.param(D("0.001"), D("50000"), D("50100.001"), None, "PRICE_FILTER",
                     id="stop-off-tick"),
        pytest.param(D("0.001"), D("0.001"), D("0.01"), None, "PRICE_FILTER",
                     id="price-below-min"),
        pytest.param(D("0.00001"), D("50000"), D("50100"), None, "NOTIONAL",
                     id="limit-notional-below-min"),
        pytest.param(D("0.00001"), None, None, D("50000"), "NOTIONAL",
                     id="market-notional-below-min"),
    ],
)
def test_order_breaking_a_filter_is_refused_with_1013(qty, price, stop, market, filter_name):
    with pytest.raises(OrderRejected) as caught:
        check_order(RULES, qty=qty, price=price, stop_price=stop, market_price=market)

    assert caught.value.code == -1013
    assert filter_name in str(caught.value)


@pytest.mark.parametrize(
    ("qty", "price", "stop", "market"),
    [
        pytest.param(D("0.001"), D("49750.25"), D("50000"), None, id="stop-limit"),
        pytest.param(D("0.0001"), D("50000"), D("50000"), None, id="exactly-min-notional"),
        pytest.param(D("0.00100000"), None, None, D("50000"), id="market-trailing-zeros"),
        pytest.param(D("0.00001"), None, None, None, id="market-without-price-hint"),
    ],
)
def test_order_within_every_filter_passes(qty, price, stop, market):
    check_order(RULES, qty=qty, price=price, stop_price=stop, market_price=market)


def test_missing_price_filter_is_a_malformed_listing():
    from exchange.binance.errors import MalformedResponse

    raw = json.loads((FIXTURES / "exchange_info_symbol_BTCUSDT_modern.json").read_text())
    raw["filters"] = [f for f in raw["filters"] if f["filterType"] != "PRICE_FILTER"]

    with pytest.raises(MalformedResponse):
        rules_from_symbol(SymbolDTO.parse(raw))


def test_the_engine_sees_every_filter_its_stops_must_respect():
    filters = RULES.to_core()

    assert (filters.base_asset, filters.quote_asset) == ("BTC", "USDT")
    assert (filters.min_price, filters.max_price) == (RULES.min_price, RULES.max_price)
    assert filters.max_qty == RULES.max_qty > 0
    assert (filters.ask_multiplier_down, filters.ask_multiplier_up) == (D("0.2"), D("5"))
    assert filters.max_algo_orders == 5
    assert (filters.min_trailing_delta, filters.max_trailing_delta) == (10, 2000)
