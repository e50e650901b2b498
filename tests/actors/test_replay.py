"""The actor pipeline's lock-step replay equals the direct loop over ``core`` functions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from actors.replay import run_replay
from core.backtest import simulate
from core.prices import PricePoint, read_prices
from core.symbols import paper_filters
from core.types import PairSettings, StopMode
from tests.conftest import btc_lines

SLICE_BARS = 1500


@pytest.fixture(scope="module")
def btc_slice(tmp_path_factory) -> list[PricePoint]:
    path = tmp_path_factory.mktemp("btc") / "slice.csv"
    path.write_text(btc_lines(SLICE_BARS + 1))
    return read_prices(path)


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param(PairSettings(symbol="BTCUSDT"), id="defaults"),
        pytest.param(PairSettings(symbol="BTCUSDT", trail_pct=Decimal("0.3"),
                                  min_move_pct=Decimal("0.05")), id="tight-trail"),
        pytest.param(PairSettings(symbol="BTCUSDT", trail_pct=Decimal("0.4"),
                                  limit_offset_pct=Decimal("0"),
                                  stop_fill_timeout_s=Decimal("120")), id="limit-at-stop-timeouts"),
        pytest.param(PairSettings(symbol="BTCUSDT", trail_pct=Decimal("0.5"),
                                  activation_pct=Decimal("0.4")), id="activation"),
    ],
)
def test_actor_replay_equals_direct_core_loop(btc_slice, settings):
    expected = simulate(btc_slice, settings, paper_filters(settings)).to_report()

    actual = run_replay(btc_slice, settings).to_report()

    assert len(expected["trades"]) > 0
    assert actual == expected


NATIVE_SETTINGS = [
    pytest.param(PairSettings(symbol="BTCUSDT", stop_mode=StopMode.NATIVE), id="native-defaults"),
    pytest.param(PairSettings(symbol="BTCUSDT", stop_mode=StopMode.NATIVE,
                              trail_pct=Decimal("0.3")), id="native-tight-trail"),
    pytest.param(PairSettings(symbol="BTCUSDT", stop_mode=StopMode.AUTO,
                              trail_pct=Decimal("0.2"), limit_offset_pct=Decimal("0"),
                              stop_fill_timeout_s=Decimal("120")), id="auto-native-timeouts"),
]


@pytest.mark.parametrize("settings", NATIVE_SETTINGS)
def test_native_replay_equals_the_direct_loop_over_the_same_rules(btc_slice, settings):
    expected = simulate(btc_slice, settings, paper_filters(settings)).to_report()

    actual = run_replay(btc_slice, settings).to_report()

    assert len(expected["trades"]) > 0
    assert actual == expected
    assert actual["stop_moves"] == 0
    closed = [t for t in actual["trades"] if t["exit_reason"] != "end"]
    timeouts = sum(1 for t in closed if t["exit_reason"] == "timeout")
    # per trade: the entry buy and its one stop, plus a market sell for each timeout
    assert actual["orders_sent"] == 2 * len(actual["trades"]) + timeouts


def test_native_replay_differs_from_replace_on_the_same_prices(btc_slice):
    replace_mode = run_replay(btc_slice, PairSettings(symbol="BTCUSDT",
                                                      trail_pct=Decimal("0.3"))).to_report()
    native = run_replay(btc_slice, PairSettings(symbol="BTCUSDT", trail_pct=Decimal("0.3"),
                                                stop_mode=StopMode.NATIVE)).to_report()

    assert replace_mode["stop_moves"] > 0 and native["stop_moves"] == 0
    assert native["trades"] != replace_mode["trades"]


def test_replay_covers_stop_moves_fills_and_reentries(btc_slice):
    settings = PairSettings(symbol="BTCUSDT", trail_pct=Decimal("0.3"),
                            min_move_pct=Decimal("0.05"))

    report = run_replay(btc_slice, settings).to_report()

    reasons = {t["exit_reason"] for t in report["trades"]}
    assert "stop" in reasons
    assert report["stop_moves"] > 0
    assert len(report["trades"]) > 3
    entries = [t["entry_time"] for t in report["trades"]]
    assert entries == sorted(entries)


def test_replay_of_a_timeout_sells_at_market_at_the_current_price():
    # Entry at 100, stop 97 / limit 96.51; 96 triggers below the limit; 60 s later it sells.
    prices = [("0", "100"), ("1000", "96"), ("30000", "95"), ("61000", "94"), ("62000", "99")]
    points = [PricePoint(ts=Decimal(ms) / 1000, time=ms, price=Decimal(p)) for ms, p in prices]
    settings = PairSettings(symbol="BTCUSDT")

    report = run_replay(points, settings).to_report()

    first = report["trades"][0]
    assert (first["exit_reason"], first["exit_time"], first["exit_price"]) == \
        ("timeout", "61000", "94")
    assert report == simulate(points, settings, paper_filters(settings)).to_report()


def scaled(points: list[PricePoint], divisor: Decimal, places: int) -> list[PricePoint]:
    """The BTC path as another market's prices (EURUSD ~1.1, a stock ~150)."""
    grid = Decimal(1).scaleb(-places)
    return [PricePoint(p.ts, p.time, (p.price / divisor).quantize(grid)) for p in points]


@pytest.mark.parametrize(
    ("settings", "divisor", "places"),
    [
        pytest.param(PairSettings(symbol="EURUSD", step=Decimal(1), tick=Decimal("0.00001"),
                                  trail_pct=Decimal("0.5")), Decimal(40000), 5,
                     id="forex-quote-from-suffix"),
        pytest.param(PairSettings(symbol="GOOG", quote="USD", step=Decimal(1),
                                  quote_per_trade=Decimal(1000), trail_pct=Decimal("0.5")),
                     Decimal(300), 2, id="stock-quote-from-settings"),
        pytest.param(PairSettings(symbol="ETHBTC", tick=Decimal("0.000001"),
                                  step=Decimal("0.0001"), quote_per_trade=Decimal("0.01"),
                                  min_notional=Decimal("0.0001"), trail_pct=Decimal("0.5")),
                     Decimal(600000), 6, id="btc-quoted"),
    ],
)
def test_replay_trades_in_any_quote_asset_like_the_core_loop(btc_slice, settings, divisor,
                                                             places):
    points = scaled(btc_slice, divisor, places)

    result = run_replay(points, settings)

    assert result.entry_refusals == 0
    assert len(result.trades) > 3
    assert result.to_report() == simulate(points, settings, paper_filters(settings)).to_report()


def backoff_attempts(points: list[PricePoint]) -> int:
    """Entry attempts when every one is refused for funds: one, then one per backoff step of
    1, 2, 4, ... seconds, capped at 300, in price time."""
    attempts, retry_at, delay = 0, None, Decimal(1)
    for p in points:
        if retry_at is None or p.ts >= retry_at:
            attempts += 1
            retry_at = p.ts + delay
            delay = min(delay * 2, Decimal(300))
    return attempts


def test_an_entry_refused_for_funds_is_tried_once_per_backoff_step(btc_slice):
    settings = PairSettings(symbol="BTCUSDT")  # 100 USDT a trade

    result = run_replay(btc_slice, settings, balances={"USDT": Decimal(50)})

    assert result.trades == []
    assert result.orders_sent == result.entry_refusals == backoff_attempts(btc_slice)
    assert result.entry_refusals < len(btc_slice) / 10  # 6,000 prices, not an order each
    assert "insufficient balance" in result.refusal_reason
