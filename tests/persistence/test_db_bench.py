"""The DB benchmark runs end to end at toy sizes and prints well-formed figures.

Figures are never asserted: this only keeps ``make bench`` from rotting.
"""

from __future__ import annotations

import json

from bench.db_bench import Sizes, run

TOY = Sizes(save_writers=4, saves=40, latency_writers=8, latency_seconds=1.2, positions=100,
            orders_per_position=3, lookups=30, unindexed_lookups=5, raw_commits=20, raw_rows=200)
KEYS = {"bench", "metric", "value", "unit", "baseline", "ratio"}


def test_db_bench_prints_one_json_figure_a_line_with_its_baseline(tmp_path, capsys):
    # Act
    records = run(TOY, tmp_path)
    lines = capsys.readouterr().out.splitlines()

    # Assert
    assert [json.loads(line) for line in lines] == records
    assert {r["metric"] for r in records} == {
        "durable_saves_per_s", "ack_latency_p50", "ack_latency_p99", "load_position_p50",
        "list_orders_by_position_p50"}
    assert all(set(r) >= KEYS and r["baseline"] for r in records)
    limited = [r for r in records if r["metric"].startswith("ack_latency")
               or r.get("baseline_name", "").endswith("SqliteQueueDatabase")]
    assert len(limited) == 3 and all(r["limit"] and r["of_limit"] for r in limited)
    acks = [r for r in records if r["metric"].startswith("ack_latency")]
    assert all(r["paced_limit"] > 0 and r["commit_every_ms"] > 0 and r["one_writer"] > 0 for r in acks)
