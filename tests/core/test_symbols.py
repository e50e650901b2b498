"""Base and quote assets where no venue names them: the pair's keys, else a known suffix."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.errors import ConfigError
from core.symbols import paper_filters, split_symbol
from core.types import PairSettings


@pytest.mark.parametrize(
    ("symbol", "base", "quote", "expected"),
    [
        pytest.param("BTCUSDT", None, None, ("BTC", "USDT"), id="usdt-suffix"),
        pytest.param("ETHBTC", None, None, ("ETH", "BTC"), id="btc-suffix"),
        pytest.param("SOLUSDC", None, None, ("SOL", "USDC"), id="usdc-suffix"),
        pytest.param("BTCEUR", None, None, ("BTC", "EUR"), id="eur-suffix"),
        pytest.param("EURUSD", None, None, ("EUR", "USD"), id="forex-suffix"),
        pytest.param("BTCFDUSD", None, None, ("BTC", "FDUSD"), id="longest-suffix-first"),
        pytest.param("GOOG", None, "USD", ("GOOG", "USD"), id="quote-only-not-a-suffix"),
        pytest.param("GOOGUSD", None, "USD", ("GOOG", "USD"), id="quote-only-suffix"),
        pytest.param("XAUTEST", "XAU", None, ("XAU", "TEST"), id="base-only"),
        pytest.param("GOLD", "XAU", "USD", ("XAU", "USD"), id="both-given-win"),
        pytest.param("ETHBTC", None, "ETHBTC", ("ETHBTC", "ETHBTC"), id="quote-equal-symbol"),
    ],
)
def test_split_symbol(symbol, base, quote, expected):
    assert split_symbol(symbol, base=base, quote=quote) == expected


@pytest.mark.parametrize("symbol", ["GOOG", "BTCXYZ", "USDT"])
def test_a_symbol_that_cannot_be_split_says_to_set_quote(symbol):
    with pytest.raises(ConfigError) as info:
        split_symbol(symbol)

    assert "set quote" in str(info.value)
    assert symbol in str(info.value)


def test_paper_filters_come_from_the_pair_settings():
    settings = PairSettings(symbol="GOOG", quote="USD", tick=Decimal("0.5"),
                            step=Decimal("1"), min_notional=Decimal(10))

    filters = paper_filters(settings)

    assert (filters.base_asset, filters.quote_asset) == ("GOOG", "USD")
    assert (filters.tick, filters.step, filters.min_notional) == (
        Decimal("0.5"), Decimal("1"), Decimal(10))
