"""The reference backtest on hand-made paths (hand-computed trades) and on real BTC bars."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.backtest import BacktestResult, TradeRecord, simulate
from core.errors import BelowMinNotional
from core.money import on_grid
from core.prices import PricePoint, read_prices
from core.trailing import fee
from core.types import EntryMode, PairSettings, StopMode, SymbolFilters
from tests.conftest import BTC_CSV

FILTERS = SymbolFilters(symbol="TESTUSDT", base_asset="TEST", quote_asset="USDT",
                        tick=D("0.01"), step=D("0.001"), min_notional=D(5))
# Round numbers for hand computation: a 10 % trail, 1 % min move and limit offset.
SETTINGS = PairSettings(symbol="TESTUSDT", trail_pct=D(10), min_move_pct=D(1),
                        limit_offset_pct=D(1), stop_fill_timeout_s=D(60), fee_pct=D("0.1"))


def path(*prices: str | tuple[int, str]) -> list[PricePoint]:
    """Points from prices; a bare price gets the next second, a (ts, price) pair its own ts."""
    points = []
    for i, p in enumerate(prices):
        ts, price = p if isinstance(p, tuple) else (i, p)
        points.append(PricePoint(D(ts), f"t{ts}", D(price)))
    return points


def numbers(d: dict | None) -> dict | None:
    """Decimal strings may be in any exact form ("1.000" == "1"): compare them as numbers."""
    if d is None:
        return None
    out = {}
    for k, v in d.items():
        out[k] = D(v) if k not in ("symbol", "entry_time", "exit_time", "exit_reason") else v
    return out


def trade(entry_time, entry, exit_time, exit_, qty, pnl, reason) -> TradeRecord:
    return TradeRecord(entry_time, D(entry), exit_time, D(exit_), D(qty), D(pnl), reason)


def test_stop_moves_then_fills_at_the_stop_price_and_reenters_on_the_next_price():
    # t0 buy 1 @ 100: stop 90, limit 89.10.  t1 highest 110: candidate 99 >= 90 + 0.90 → move
    # to 99 / 98.01.  t2 105: no move.  t3 99 <= stop and >= limit: fills at 99.
    # t4 re-enters: 2 @ 50, stop 45.  t5 52: candidate 46.80 >= 45 + 0.45 → move.  End at 52.
    result = simulate(path("100", "110", "105", "99", "50", "52"), SETTINGS, FILTERS)

    assert result.trades == [
        trade("t0", "100", "t3", "99", "1", "-1.199", "stop"),  # -1 - 0.1 - 0.099
        trade("t4", "50", "t5", "52", "2", "3.796", "end"),  # 4 - 0.1 - 0.104
    ]
    assert result.stop_moves == 2
    assert result.orders_sent == 6  # 2 buys + 2 first stops + 2 moves
    assert numbers(result.final_position) == numbers({
        "symbol": "TESTUSDT", "qty": "2", "entry_price": "50", "highest": "52",
        "stop": "46.80", "limit": "46.33"})


def test_gap_below_limit_rests_and_fills_at_limit_on_a_later_price():
    # Stop 90 / limit 89.10. 85 triggers below the limit; 88 still below; 120 fills at 89.10.
    result = simulate(path("100", "85", "88", "120"), SETTINGS, FILTERS)

    assert result.trades == [trade("t0", "100", "t3", "89.10", "1", "-11.0891", "stop")]
    assert result.final_position is None
    assert result.stop_moves == 0  # highest is not raised while the stop is triggered


def test_unfilled_stop_times_out_into_a_market_sell_then_reenters():
    # Triggered at ts 10 (80 < 89.10). ts 40 not yet; ts 70: 60 s → sell at market at 84.
    # ts 71 re-enters: floor(100 / 84, 0.001) = 1.190 @ 84.
    result = simulate(path("100", (10, "80"), (40, "85"), (70, "84"), (71, "84")), SETTINGS,
                      FILTERS)

    entry_fee = fee(D("84") * D("1.190"), D("0.1"))
    assert result.trades == [
        trade("t0", "100", "t70", "84", "1", "-16.184", "timeout"),
        trade("t71", "84", "t71", "84", "1.190", -2 * entry_fee, "end"),
    ]
    assert result.orders_sent == 5  # buy, stop, timeout sell, buy, stop


def test_trigger_and_timeout_on_the_same_timestamp_do_not_time_out():
    # All four prices of one bar share a timestamp: no time has passed since the trigger.
    result = simulate(path((0, "100"), (60, "80"), (60, "81"), (60, "82")), SETTINGS, FILTERS)

    assert [t.exit_reason for t in result.trades] == ["end"]


def test_open_triggered_stop_at_the_end_is_an_end_trade_at_the_last_price():
    result = simulate(path("100", "80"), SETTINGS, FILTERS)

    assert result.trades == [trade("t0", "100", "t1", "80", "1", "-20.18", "end")]
    assert numbers(result.final_position) == numbers({
        "symbol": "TESTUSDT", "qty": "1", "entry_price": "100", "highest": "100",
        "stop": "90.00", "limit": "89.10"})
    assert result.orders_sent == 2


def test_close_on_the_last_price_leaves_no_final_position():
    result = simulate(path("100", "90"), SETTINGS, FILTERS)

    assert [t.exit_reason for t in result.trades] == ["stop"]
    assert result.final_position is None


def test_activation_holds_the_first_stop_until_reached():
    s = PairSettings(symbol="TESTUSDT", trail_pct=D(10), min_move_pct=D(1),
                     limit_offset_pct=D(1), activation_pct=D(5))

    result = simulate(path("100", "104.99", "105"), s, FILTERS)

    assert result.stop_moves == 1
    assert D(result.final_position["stop"]) == D("94.50")


@pytest.mark.parametrize("entry", [EntryMode.NONE, EntryMode.ADOPT])
def test_entry_modes_other_than_always_never_buy(entry: EntryMode):
    s = PairSettings(symbol="TESTUSDT", entry=entry)

    result = simulate(path("100", "50", "200"), s, FILTERS)

    assert result == BacktestResult()


def test_empty_path_gives_an_empty_report():
    assert simulate([], SETTINGS, FILTERS).to_report() == {
        "trades": [], "orders_sent": 0, "stop_moves": 0, "final_position": None}


def test_unreachable_min_notional_names_the_time_and_price():
    filters = SymbolFilters(symbol="X", base_asset="X", quote_asset="U", tick=D("0.01"),
                            step=D(1), min_notional=D(5))

    with pytest.raises(BelowMinNotional) as info:
        simulate(path("150"), SETTINGS, filters)

    assert "t0" in str(info.value) and "150" in str(info.value)


def test_report_is_json_with_decimal_strings_and_times_as_given():
    result = simulate(path("100", "110", "99"), SETTINGS, FILTERS)

    report = json.loads(json.dumps(result.to_report()))

    assert [numbers(t) for t in report["trades"]] == [numbers({
        "entry_time": "t0", "entry_price": "100", "exit_time": "t2", "exit_price": "99",
        "qty": "1", "pnl": "-1.199", "exit_reason": "stop"})]
    assert all(isinstance(v, str) for v in report["trades"][0].values())
    assert (report["orders_sent"], report["stop_moves"], report["final_position"]) == (3, 1, None)


@pytest.fixture(scope="module")
def btc_slice() -> list[PricePoint]:
    return read_prices(BTC_CSV)[: 2000 * 4]


def test_real_btc_slice_gives_trades_whose_pnl_is_the_formula(btc_slice):
    s = PairSettings(symbol="BTCUSDT", trail_pct=D(1), min_move_pct=D("0.1"))
    f = SymbolFilters(symbol="BTCUSDT", base_asset="BTC", quote_asset="USDT", tick=D("0.01"),
                      step=D("0.00001"), min_notional=D(5))

    result = simulate(btc_slice, s, f)

    assert len(result.trades) >= 5
    for t in result.trades:
        expected = ((t.exit_price - t.entry_price) * t.qty - fee(t.entry_price * t.qty, s.fee_pct)
                    - fee(t.exit_price * t.qty, s.fee_pct))
        assert t.pnl == expected
        assert on_grid(t.qty, f.step) and t.qty * t.entry_price >= f.min_notional
        assert t.entry_time <= t.exit_time
    for before, after in zip(result.trades, result.trades[1:], strict=False):
        assert after.entry_time >= before.exit_time
    timeouts = sum(t.exit_reason == "timeout" for t in result.trades)
    assert result.orders_sent == 2 * len(result.trades) + result.stop_moves + timeouts
    assert result.stop_moves > 0


prices = st.decimals(min_value=D(20), max_value=D(200), places=2)


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(min_value=0, max_value=40), prices), min_size=1,
                      max_size=80))
def test_any_path_keeps_the_report_invariants(steps):
    ts = 0
    points = []
    for gap, price in steps:
        ts += gap
        points.append(PricePoint(D(ts), f"t{ts}", price))

    result = simulate(points, SETTINGS, FILTERS)

    timeouts = sum(t.exit_reason == "timeout" for t in result.trades)
    assert result.orders_sent == 2 * len(result.trades) + result.stop_moves + timeouts
    assert [t.exit_reason for t in result.trades[:-1]].count("end") == 0
    assert (result.final_position is not None) == (result.trades[-1].exit_reason == "end")
    for t in result.trades:
        assert all(isinstance(v, D) for v in (t.entry_price, t.exit_price, t.qty, t.pnl))
        if t.exit_reason == "stop":  # a stop fills at or below the highest stop level
            assert t.exit_price < max(p.price for p in points)


# --- native trailing stops (§3b) --------------------------------------------------------------

NATIVE = PairSettings(symbol="TESTUSDT", trail_pct=D(10), limit_offset_pct=D(1),
                      stop_fill_timeout_s=D(60), fee_pct=D("0.1"), stop_mode=StopMode.NATIVE)


def test_native_stop_trails_on_the_venue_and_fills_where_the_peak_puts_it():
    # t0 buy 1 @ 100, native stop (delta 1000) with the fixed limit floor(90 × 0.99) = 89.10.
    # t1 110: tracking starts, peak 110.  t2 120: peak 120.  t3 108 <= 120 × 0.9: triggers,
    # 108 >= 89.10: fills at 108.  t4 re-enters at 50.
    result = simulate(path("100", "110", "120", "108", "50"), NATIVE, FILTERS)

    assert result.trades == [
        trade("t0", "100", "t3", "108", "1", "7.792", "stop"),  # 8 - 0.1 - 0.108
        trade("t4", "50", "t4", "50", "2", "-0.2", "end"),
    ]
    assert (result.stop_moves, result.orders_sent) == (0, 4)


def test_native_tracking_starts_on_the_price_after_the_entry_and_the_limit_stays():
    # t0 buy @ 100 (limit 89.10).  t1 89: the first tracked price, the peak; no trigger though
    # below 90.  t2 80.10 <= 89 × 0.9: triggers, below the limit: rests.  t3 89.10: fills there.
    result = simulate(path("100", "89", "80.10", "89.10"), NATIVE, FILTERS)

    assert result.trades == [trade("t0", "100", "t3", "89.10", "1", "-11.0891", "stop")]


def test_native_triggered_and_unfilled_times_out_at_market():
    result = simulate(path((0, "100"), (1, "101"), (2, "80"), (61, "85"), (62, "86")),
                      NATIVE, FILTERS)

    assert [(t.exit_time, t.exit_price, t.exit_reason) for t in result.trades] == [
        ("t62", D(86), "timeout")]
    assert result.orders_sent == 3


def test_native_final_position_shows_the_estimate_from_highest():
    result = simulate(path("100", "130", "125"), NATIVE, FILTERS)

    assert numbers(result.final_position) == {
        "symbol": "TESTUSDT", "qty": D(1), "entry_price": D(100), "highest": D(130),
        "stop": D(117), "limit": D("89.10")}


def test_observe_sees_the_live_level_of_each_kind_of_stop():
    seen: dict[str, list] = {"replace": [], "native": []}
    simulate(path("100", "110", "120"), SETTINGS, FILTERS,
             observe=lambda p, h, live: seen["replace"].append((p.time, h, live)))
    simulate(path("100", "110", "120"), NATIVE, FILTERS,
             observe=lambda p, h, live: seen["native"].append((p.time, h, live)))

    assert seen["replace"] == [("t0", D(100), D(90)), ("t1", D(110), D(99)),
                               ("t2", D(120), D(108))]
    assert seen["native"] == [("t0", D(100), None), ("t1", D(110), D(99)),
                              ("t2", D(120), D(108))]
