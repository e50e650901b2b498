"""The §3 trailing rules: unit edge cases, and hypothesis properties over any price path."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import parse_config
from core.errors import BelowMinNotional
from core.money import floor_step, floor_tick, on_grid, to_decimal
from core.trailing import (
    StopLevels,
    candidate_stop,
    entry_quantity,
    levels_at,
    min_move,
    next_stop,
)
from core.types import PairSettings, SymbolFilters

FILTERS = SymbolFilters(symbol="BTCUSDT", base_asset="BTC", quote_asset="USDT", tick=D("0.01"),
                        step=D("0.00001"), min_notional=D(5))
SETTINGS = PairSettings(symbol="BTCUSDT")


def move(stop: D, highest: D, entry: D = D(100), **overrides) -> StopLevels | None:
    settings = PairSettings(symbol="BTCUSDT", **overrides)
    return next_stop(stop=stop, highest=highest, entry_price=entry, settings=settings,
                     tick=FILTERS.tick)


# --- unit edge cases --------------------------------------------------------------------------


def test_entry_levels_round_stop_and_limit_down_to_the_tick():
    levels = levels_at(D("46319.0"), SETTINGS, D("0.01"))

    # 46319 × 0.97 = 44929.43; × 0.995 = 44704.78285 → 44704.78
    assert levels == StopLevels(stop=D("44929.43"), limit=D("44704.78"))


def test_limit_rounds_down_even_when_close_to_the_next_tick():
    settings = PairSettings(symbol="X", trail_pct=D(1), limit_offset_pct=D("0.001"))

    levels = levels_at(D(100), settings, D("0.01"))

    # stop 99; limit 99 × 0.99999 = 98.99901 → 98.99 (never rounded up to 99.00)
    assert levels == StopLevels(stop=D(99), limit=D("98.99"))


def test_stop_moves_only_by_at_least_the_min_move():
    # stop 90: step_min = max(0.01, floor_tick(90 × 0.2 %)) = 0.18
    assert move(D(90), D("92.96"), trail_pct=D(3)) is None  # candidate 90.17: a tick short
    assert move(D(90), D("92.97"), trail_pct=D(3)) == StopLevels(
        stop=D("90.18"), limit=D("89.72"))  # candidate 90.18 = stop + step_min


def test_min_move_is_at_least_one_tick():
    assert min_move(D(1), min_move_pct=D(0), tick=D("0.01")) == D("0.01")
    assert move(D(90), D(90) / D("0.97"), min_move_pct=D(0)) is None  # candidate == stop


def test_activation_holds_the_stop_until_highest_reaches_it():
    # entry 100, activation 5 %: nothing moves below a highest of 105
    assert move(D(97), D("104.99"), activation_pct=D(5)) is None
    assert move(D(97), D(105), activation_pct=D(5)) == StopLevels(
        stop=D("101.85"), limit=D("101.34"))


def test_zero_activation_means_always_active():
    assert move(D(97), D(101), activation_pct=D(0)) is not None


def test_stop_never_moves_down_on_a_lower_highest():
    assert move(D(97), D(99)) is None


def test_entry_quantity_floors_to_the_step():
    assert entry_quantity(D("46319.0"), SETTINGS, FILTERS) == D("0.00215")


def test_entry_quantity_below_min_notional_is_refused():
    filters = SymbolFilters(symbol="X", base_asset="X", quote_asset="U", tick=D("0.01"),
                            step=D(1), min_notional=D(5))

    with pytest.raises(BelowMinNotional):
        entry_quantity(D(101), SETTINGS, filters)  # floor(100 / 101) = 0


def test_floats_are_refused_as_money():
    with pytest.raises(TypeError):
        to_decimal(0.1)


# --- properties -------------------------------------------------------------------------------

ticks = st.sampled_from([D("0.01"), D("0.1"), D("0.5"), D(1), D("0.00001")])
prices = st.decimals(min_value=D("0.01"), max_value=D(100000), places=2, allow_nan=False,
                     allow_infinity=False)
pcts = st.decimals(min_value=D("0.01"), max_value=D(50), places=2)
small_pcts = st.decimals(min_value=D(0), max_value=D(5), places=2)


@settings(max_examples=200, deadline=None)
@given(path=st.lists(prices, min_size=1, max_size=60), tick=ticks, trail=pcts,
       min_move_pct=small_pcts, offset=small_pcts, activation=small_pcts)
def test_stop_never_decreases_and_stays_on_the_tick_grid(path, tick, trail, min_move_pct,
                                                         offset, activation):
    s = PairSettings(symbol="X", trail_pct=trail, min_move_pct=min_move_pct,
                     limit_offset_pct=offset, activation_pct=activation)
    entry = path[0]
    levels = levels_at(entry, s, tick)
    highest = entry
    for price in path[1:]:
        highest = max(highest, price)
        new = next_stop(stop=levels.stop, highest=highest, entry_price=entry, settings=s,
                        tick=tick)
        if new is not None:
            assert new.stop > levels.stop
            levels = new
        assert on_grid(levels.stop, tick) and on_grid(levels.limit, tick)
        assert levels.limit <= levels.stop <= highest


@settings(max_examples=300, deadline=None)
@given(stop=prices, highest=prices, tick=ticks, trail=pcts, min_move_pct=small_pcts)
def test_no_move_exactly_when_candidate_is_below_stop_plus_step_min(stop, highest, tick, trail,
                                                                    min_move_pct):
    stop = floor_tick(stop, tick)
    s = PairSettings(symbol="X", trail_pct=trail, min_move_pct=min_move_pct)
    candidate = candidate_stop(highest, trail_pct=trail, tick=tick)
    step_min = max(tick, floor_tick(stop * min_move_pct / 100, tick))

    result = next_stop(stop=stop, highest=highest, entry_price=highest, settings=s, tick=tick)

    if candidate < stop + step_min:
        assert result is None
    else:
        assert result is not None and result.stop == candidate


@settings(max_examples=300, deadline=None)
@given(price=prices, quote=st.decimals(min_value=D(1), max_value=D(10000), places=2),
       step=st.sampled_from([D(1), D("0.1"), D("0.001"), D("0.00001")]),
       min_notional=st.decimals(min_value=D("0.01"), max_value=D(100), places=2))
def test_entry_quantity_is_on_the_step_grid_and_meets_min_notional(price, quote, step,
                                                                   min_notional):
    s = PairSettings(symbol="X", quote_per_trade=quote)
    f = SymbolFilters(symbol="X", base_asset="X", quote_asset="U", tick=D("0.01"), step=step,
                      min_notional=min_notional)
    try:
        qty = entry_quantity(price, s, f)
    except BelowMinNotional:
        assert floor_step(quote / price, step) * price < min_notional
        return
    assert on_grid(qty, step) and qty > 0
    assert qty * price >= min_notional
    assert qty * price <= quote


@settings(max_examples=200, deadline=None)
@given(value=st.decimals(min_value=D("-99.999999"), max_value=D("99.999999"), places=6,
                         allow_nan=False, allow_infinity=False))
def test_toml_numbers_become_the_exact_decimal_never_a_float(value):
    text = f"{value:f}"
    if "." not in text:
        text += ".0"  # a TOML float: the case a binary float would spoil

    cfg = parse_config(f'[feed]\ndrift_pct = {text}\n[[pairs]]\nsymbol = "XYUSDT"\n',
                       source="t.toml", env={})

    assert cfg.feed.drift_pct == D(text) and str(cfg.feed.drift_pct) == text
    with pytest.raises(TypeError):
        to_decimal(float(value))
