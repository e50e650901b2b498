"""``ratchet sim-exchange --symbols`` takes names space- or comma-separated."""

from __future__ import annotations

import pytest

from cli.sim_cmd import symbols_from_args
from core.errors import InputError


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(["BTCUSDT", "ETHUSDT"], ("BTCUSDT", "ETHUSDT"), id="spaces"),
        pytest.param(["BTCUSDT,ETHUSDT"], ("BTCUSDT", "ETHUSDT"), id="commas"),
        pytest.param(["BTCUSDT, ethusdt", "SOLUSDT"], ("BTCUSDT", "ETHUSDT", "SOLUSDT"),
                     id="mixed-and-lower-case"),
        pytest.param(["BTCUSDT,BTCUSDT"], ("BTCUSDT",), id="repeat-once"),
    ],
)
def test_symbols_are_split_on_spaces_and_commas(values, expected):
    assert symbols_from_args(values) == expected


@pytest.mark.parametrize("bad", ["BTC/USDT", "X", "A" * 21, "", "BTC_USDT"])
def test_a_name_that_is_not_a_symbol_is_one_line(bad):
    with pytest.raises(InputError) as info:
        symbols_from_args([f"BTCUSDT,{bad}"])

    assert "is not a symbol" in str(info.value)
    assert "\n" not in str(info.value)
