"""Where the adapter connects beside a base URL, and how numbers go out on the wire."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        pytest.param("http://127.0.0.1:8765", "ws://127.0.0.1:8765/ws-api/v3", id="sim"),
        pytest.param("https://example.test/", "wss://example.test/ws-api/v3", id="tls"),
        pytest.param("https://testnet.binance.vision", None, id="binance-testnet"),
        pytest.param("https://api.binance.com", None, id="binance"),
    ],
)
def test_websocket_api_url_is_derived_only_for_non_binance_hosts(base_url, expected):
    from exchange.binance.exchange import ws_api_url_for

    assert ws_api_url_for(base_url) == expected


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        pytest.param("0.00001", "0.00001", id="small-not-exponent"),
        pytest.param("1E-7", "0.0000001", id="exponent-input"),
        pytest.param("45000.00000000", "45000", id="trailing-zeros"),
        pytest.param("1E+2", "100", id="positive-exponent"),
    ],
)
def test_decimals_go_out_as_plain_strings(value, sent):
    from decimal import Decimal

    from exchange.binance.exchange import plain

    assert plain(Decimal(value)) == sent


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        pytest.param("http://127.0.0.1:8765", "ws://127.0.0.1:8765/", id="sim"),
        pytest.param("https://testnet.binance.vision", None, id="binance-testnet"),
        pytest.param(None, None, id="no-base-url"),
    ],
)
def test_market_stream_url_is_derived_only_for_non_binance_hosts(base_url, expected):
    from exchange.binance.market_data import stream_url_for

    assert stream_url_for(base_url) == expected
