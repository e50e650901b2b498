"""Smoke test of the order-budget benchmark: a few pairs, a few minutes of market time, fast.

Timings and which policy wins are never asserted; only the shape of the lines, that orders
went out, and the sampling's bookkeeping.
"""

from __future__ import annotations

import json
from decimal import Decimal

from bench.budget_bench import BENCH, MODES, Sizes, percentile, run
from bench.budget_fleet import Stretch, reference, stretches
from core.prices import PricePoint, read_prices
from core.types import EntryMode, PairSettings
from tests.conftest import BTC_CSV

TINY = Sizes(pairs=3, minutes=10, speed=600)  # 1 s of wall time a run
METRICS = ["orders_sent", "rate_limited", "stop_gap_mean_bp", "stop_gap_p99_bp"]


def test_tiny_run_prints_four_figures_per_policy_with_orders_sent(tmp_path, capsys):
    records = run(TINY, tmp_path)

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == records
    assert [(r["move_order"], r["metric"]) for r in records] == \
        [(mode, metric) for mode in MODES for metric in METRICS]
    for r in records:
        assert r["bench"] == BENCH and r["pairs"] == TINY.pairs
        assert isinstance(r["value"], float) and r["value"] >= 0
        assert r["baseline"] is None or isinstance(r["baseline"], float)
        assert isinstance(r["load_1m_mean"], float) and isinstance(r["wall_s"], float)
    sent = [r for r in records if r["metric"] == "orders_sent"]
    assert all(r["value"] > 0 and r["baseline"] > 0 for r in sent)
    assert all(r["samples"] > 0 for r in records if r["metric"].startswith("stop_gap"))


def test_stretches_start_spread_over_the_file_and_hold_whole_bars():
    points = read_prices(BTC_CSV)[:4 * 100]

    runs = stretches(points, pairs=3, minutes=10)

    assert [r.points[0] for r in runs] == [points[0], points[4 * 45], points[4 * 90]]
    assert all(len(r.points) == 40 for r in runs)
    assert len({r.symbol for r in runs}) == 3


def test_reference_trails_until_the_price_that_triggers_it():
    settings = PairSettings(symbol="B0000USDT", trail_pct=Decimal(10), entry=EntryMode.NONE)
    prices = ["100", "110", "105", "120", "107", "99"]
    stretch = Stretch(symbol="B0000USDT", points=tuple(
        PricePoint(ts=Decimal(i), time="", price=Decimal(p)) for i, p in enumerate(prices)))

    ref = reference(stretch, settings, Decimal("0.01"))

    assert ref.stops == (Decimal(90), Decimal(99), Decimal(99), Decimal(108))
    assert ref.moves == 2  # 107 triggers the stop at 108: no ideal stop after it


def test_p99_is_the_nearest_rank():
    values = [Decimal(n) for n in range(1, 201)]

    assert percentile(values, 99) == Decimal(198)
    assert percentile([Decimal(7)], 99) == Decimal(7)
