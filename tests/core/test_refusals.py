"""Every refusal of a protective order falls into one class, by its code and the words that
carry its meaning: both texts of a stop that would trigger, both codes of the algo cap, a closed
market, the fittable filters, a lack of coins; anything else is OTHER."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from core.refusals import Refusal, classify, retry_delay_s

CASES = [
    pytest.param(-2010, "Order would trigger immediately.", Refusal.WOULD_TRIGGER,
                 id="would-trigger-as-errors-md-words-it"),
    pytest.param(-2010, "Stop price would trigger immediately.", Refusal.WOULD_TRIGGER,
                 id="would-trigger-as-the-live-venue-words-it"),
    pytest.param(-2010, "binance -2010: Stop price would trigger immediately. (order)",
                 Refusal.WOULD_TRIGGER, id="would-trigger-inside-the-adapter's-line"),
    pytest.param(-1013, "Stop price would trigger immediately.", Refusal.OTHER,
                 id="would-trigger-text-under-another-code-is-not-it"),
    pytest.param(-2010, "Filter failure: MAX_NUM_ALGO_ORDERS", Refusal.ALGO_CAP,
                 id="algo-cap-as-the-live-venue-codes-it"),
    pytest.param(-1013, "Filter failure: MAX_NUM_ALGO_ORDERS", Refusal.ALGO_CAP,
                 id="algo-cap-as-older-docs-code-it"),
    pytest.param(-2010, "Filter failure: EXCHANGE_MAX_NUM_ALGO_ORDERS", Refusal.ALGO_CAP,
                 id="exchange-wide-algo-cap"),
    pytest.param(-2010, "Market is closed.", Refusal.MARKET_CLOSED,
                 id="market-closed-as-errors-md-codes-it"),
    pytest.param(-1013, "Market is closed.", Refusal.MARKET_CLOSED,
                 id="market-closed-as-the-live-venue-codes-it"),
    pytest.param(-2010, "market is closed", Refusal.MARKET_CLOSED, id="market-closed-any-case"),
    pytest.param(-1013, "Filter failure: PERCENT_PRICE_BY_SIDE", Refusal.FILTER,
                 id="filter-percent-price-by-side"),
    pytest.param(-1013, "Filter failure: PRICE_FILTER", Refusal.FILTER, id="filter-price"),
    pytest.param(-1013, "Filter failure: NOTIONAL", Refusal.FILTER, id="filter-notional"),
    pytest.param(-1013, "Filter failure: MIN_NOTIONAL", Refusal.FILTER, id="filter-min-notional"),
    pytest.param(-1013, "Filter failure: LOT_SIZE", Refusal.FILTER, id="filter-lot-size"),
    pytest.param(-1013, "Filter failure: MARKET_LOT_SIZE", Refusal.FILTER,
                 id="filter-market-lot-size"),
    pytest.param(-1013, "order refused locally: BTCUSDT LOT_SIZE: quantity 0 is not positive",
                 Refusal.FILTER, id="filter-refused-by-the-local-check"),
    pytest.param(-1013, "Filter failure: MAX_NUM_ORDERS", Refusal.OTHER,
                 id="order-count-filter-cannot-be-fitted"),
    pytest.param(-2010, "Account has insufficient balance for requested action.",
                 Refusal.INSUFFICIENT, id="insufficient-balance"),
    pytest.param(-2010, "Duplicate order sent.", Refusal.OTHER, id="duplicate-is-other"),
    pytest.param(-2010, "This account may not place or cancel orders.", Refusal.OTHER,
                 id="account-disabled-is-other"),
    pytest.param(None, "Market is closed.", Refusal.OTHER, id="no-code-is-other"),
    pytest.param(-1100, "Illegal characters found in parameter 'price'", Refusal.OTHER,
                 id="malformed-is-other"),
]


@pytest.mark.parametrize(("code", "reason", "kind"), CASES)
def test_a_refusal_falls_into_one_class(code, reason, kind):
    assert classify(code=code, reason=reason) is kind


@pytest.mark.parametrize(("attempt", "delay"), [
    pytest.param(1, D(1), id="first-after-1s"),
    pytest.param(2, D(2), id="then-2s"),
    pytest.param(6, D(32), id="doubling"),
    pytest.param(7, D(60), id="capped-at-60s"),
    pytest.param(50, D(60), id="stays-capped"),
])
def test_retries_back_off_from_1s_doubling_to_60s(attempt, delay):
    assert retry_delay_s(attempt) == delay
