"""Which stop a pair keeps (DESIGN.md §3b): ``core.stop_mode.choose`` over settings and the
symbol's TRAILING_DELTA filter, table-driven; and the config keys that feed it (``stop_mode``,
``keep_qty``, ``adopt_scan_s``, ``min_trailing_delta``/``max_trailing_delta``)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from core.config import parse_config
from core.errors import EXIT_BAD_INPUT, ConfigError
from core.stop_mode import choose, trail_delta
from core.symbols import paper_filters
from core.types import PairSettings, StopMode, SymbolFilters

FILTERS = SymbolFilters(symbol="BTCUSDT", base_asset="BTC", quote_asset="USDT", tick=D("0.01"),
                        step=D("0.00001"), min_notional=D(5), min_trailing_delta=10,
                        max_trailing_delta=2000)


def settings(mode: StopMode, trail: str = "3", activation: str = "0") -> PairSettings:
    return PairSettings(symbol="BTCUSDT", stop_mode=mode, trail_pct=D(trail),
                        activation_pct=D(activation))


@pytest.mark.parametrize(("mode", "trail", "activation", "delta"), [
    pytest.param(StopMode.REPLACE, "3", "0", None, id="replace-is-replace"),
    pytest.param(StopMode.NATIVE, "3", "0", 300, id="native-3pct-is-300-bips"),
    pytest.param(StopMode.NATIVE, "0.1", "0", 10, id="native-at-the-filter-minimum"),
    pytest.param(StopMode.NATIVE, "20", "0", 2000, id="native-at-the-filter-maximum"),
    pytest.param(StopMode.AUTO, "2.5", "0", 250, id="auto-fits-native"),
    pytest.param(StopMode.AUTO, "0.255", "0", None, id="auto-fractional-bips-replace"),
    pytest.param(StopMode.AUTO, "25", "0", None, id="auto-outside-the-filter-replace"),
    pytest.param(StopMode.AUTO, "3", "1", None, id="auto-activation-replace"),
])
def test_choose(mode, trail, activation, delta):
    choice = choose(settings(mode, trail, activation), FILTERS)

    assert choice.delta == delta
    assert choice.native is (delta is not None)


@pytest.mark.parametrize(("trail", "activation", "words"), [
    pytest.param("25", "0", "outside the symbol's TRAILING_DELTA filter [10, 2000]",
                 id="outside-the-filter"),
    pytest.param("0.05", "0", "outside the symbol's TRAILING_DELTA filter", id="below-it"),
    pytest.param("0.255", "0", "not a whole number of basis points", id="fractional"),
    pytest.param("3", "0.5", "activation_pct is 0.5", id="activation"),
])
def test_native_where_it_cannot_be_is_a_config_error_naming_the_pair(trail, activation, words):
    with pytest.raises(ConfigError) as info:
        choose(settings(StopMode.NATIVE, trail, activation), FILTERS)

    assert str(info.value).startswith("BTCUSDT: ")
    assert words in str(info.value)
    assert info.value.exit_code == EXIT_BAD_INPUT


def test_auto_says_which_it_took():
    assert "native" in choose(settings(StopMode.AUTO), FILTERS).reason
    assert "replace, since" in choose(settings(StopMode.AUTO, "3", "1"), FILTERS).reason


def test_trail_delta_is_exact():
    assert trail_delta(D("3")) == 300
    assert trail_delta(D("0.01")) == 1
    assert trail_delta(D("0.015")) is None


# --- the config keys ----------------------------------------------------------------------

PAIR = '[[pairs]]\nsymbol = "BTCUSDT"\n'


def parse(text: str, mode: str = "paper"):
    return parse_config(f'[engine]\nmode = "{mode}"\n' + text, source="ratchet.toml",
                        env={"RATCHET_API_KEY": "k", "RATCHET_API_SECRET": "s"})


def error_of(text: str, mode: str = "paper") -> str:
    with pytest.raises(ConfigError) as info:
        parse(text, mode)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_new_keys_default_to_replace_and_keep_nothing():
    pair = parse(PAIR).pairs[0]

    assert (pair.stop_mode, pair.keep_qty, pair.adopt_scan_s) == (StopMode.REPLACE, D(0), D(60))
    assert (pair.min_trailing_delta, pair.max_trailing_delta) == (10, 2000)


def test_new_keys_are_read_per_pair_and_from_defaults():
    cfg = parse('[defaults]\nstop_mode = "auto"\n' + PAIR + 'entry = "adopt"\n'
                'keep_qty = "0.01"\nadopt_scan_s = 5\nstop_mode = "native"\n'
                'min_trailing_delta = 50\nmax_trailing_delta = 500\n'
                '[[pairs]]\nsymbol = "ETHUSDT"\n')
    btc, eth = cfg.pairs

    assert (btc.stop_mode, btc.keep_qty, btc.adopt_scan_s) == (StopMode.NATIVE, D("0.01"), D(5))
    assert paper_filters(btc).min_trailing_delta == 50
    assert paper_filters(btc).max_trailing_delta == 500
    assert eth.stop_mode is StopMode.AUTO


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param(PAIR + 'stop_mode = "sometimes"\n', "pairs[0].stop_mode must be one of",
                 id="mode"),
    pytest.param(PAIR + "keep_qty = -1\n", "pairs[0].keep_qty must be >= 0", id="keep"),
    pytest.param(PAIR + "adopt_scan_s = 0\n", "pairs[0].adopt_scan_s must be > 0", id="scan"),
    pytest.param(PAIR + "min_trailing_delta = 0\n", "pairs[0].min_trailing_delta must be >= 1",
                 id="min-delta"),
    pytest.param(PAIR + "max_trailing_delta = 1.5\n",
                 "pairs[0].max_trailing_delta must be an integer", id="max-delta-type"),
    pytest.param(PAIR + "min_trailing_delta = 500\nmax_trailing_delta = 100\n",
                 "pairs[0].min_trailing_delta (500) must not exceed", id="min-above-max"),
    pytest.param(PAIR + 'stop_mode = "native"\ntrail_pct = 25\n',
                 'pairs[0].stop_mode = "native" is not possible for BTCUSDT: trail_pct 25 is '
                 "2500 basis points, outside the symbol's TRAILING_DELTA filter [10, 2000]",
                 id="native-outside-the-paper-filter"),
    pytest.param(PAIR + 'stop_mode = "native"\nmax_trailing_delta = 200\n',
                 "TRAILING_DELTA filter [10, 200]", id="native-outside-a-narrow-filter"),
    pytest.param(PAIR + 'stop_mode = "native"\nactivation_pct = 1\n',
                 "activation_pct is 1", id="native-with-activation"),
])
def test_bad_stop_and_adopt_keys_name_the_key(text, expected):
    assert expected in error_of(text)


def test_binance_mode_checks_the_filter_range_at_boot_not_in_the_file():
    cfg = parse(PAIR + 'stop_mode = "native"\ntrail_pct = 25\n', mode="binance")

    assert cfg.pairs[0].stop_mode is StopMode.NATIVE
    assert "activation_pct" in error_of(PAIR + 'stop_mode = "native"\nactivation_pct = 2\n',
                                        mode="binance")
