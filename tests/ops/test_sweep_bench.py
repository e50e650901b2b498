"""Smoke test of bench/sweep_bench.py at a tiny size: two well-formed JSON lines, and the
parallel sweep's P&L equal to the serial baseline's. Timings are never asserted."""

from __future__ import annotations

import json

from bench.sweep_bench import BENCH, Sizes, run

TINY = Sizes(prices=2000, trail_pct=("1", "3"), min_move_pct=("0.2",), baseline_combinations=1)


def test_the_sweep_bench_prints_combinations_per_second(tmp_path, capsys):
    records = run(TINY, tmp_path)

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == records
    assert [r["metric"] for r in records] == ["sweep_combinations_per_s", "sweep_seconds"]
    assert all(r["bench"] == BENCH and r["value"] > 0 and r["baseline"] > 0 for r in records)
    assert records[0]["combinations"] == 2 and records[0]["same_pnl"] is True
