"""The actor pipeline's lock-step replay equals the direct loop over ``core`` functions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from actors.replay import run_replay
from core.backtest import simulate
from core.config import paper_filters
from core.prices import PricePoint, read_prices
from core.types import PairSettings
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
