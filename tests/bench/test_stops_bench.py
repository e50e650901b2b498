"""Smoke test of the stop-modes benchmark at a tiny size: well-formed lines, the native replay
equal to the backtest, native never moving its stop, and each gap measured. Timings and the
figures' sizes are never asserted."""

from __future__ import annotations

import json
from decimal import Decimal

from bench.stops_bench import BENCH, run_modes
from core.prices import read_prices
from core.types import PairSettings
from tests.conftest import BTC_CSV


def test_stops_bench_prints_churn_and_gap_for_every_mode(capsys):
    points = read_prices(BTC_CSV)[:2400]

    records = run_modes(points, PairSettings(symbol="BTCUSDT", trail_pct=Decimal("0.5")))

    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert printed == records
    assert [(r["metric"], r["mode"]) for r in records] == [
        ("orders_per_position_hour", "native"), ("orders_per_position_hour", "replace"),
        ("stop_gap_bps", "native"), ("stop_gap_bps", "replace"), ("stop_gap_bps", "naive")]
    assert all(r["bench"] == BENCH for r in records)
    native, replaced = records[0], records[1]
    assert native["matches_backtest"] is True and native["stop_moves"] == 0
    assert native["orders_sent"] < replaced["orders_sent"] < replaced["baseline_orders_sent"]
    assert all(r["prices_in_position"] > 0 for r in records[2:])
