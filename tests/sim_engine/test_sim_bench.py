"""Smoke test of ``bench.sim_bench`` at a tiny size: the figures print as well-formed JSON lines
and the runs did what they measure. Timings are never asserted."""

from __future__ import annotations

import json

from bench.sim_bench import BENCH, Sizes, boot_to_protected, order_ops

TINY = Sizes(positions=12, canceled=2, repeats=1, settle_s=0.2, movers=3, ops_seconds=0.5)
KEYS = {"bench", "metric", "value", "unit", "baseline", "ratio", "better"}


def test_boot_and_gateway_figures_print_as_json_lines(tmp_path, capsys):
    boot = boot_to_protected(TINY, tmp_path)
    ops = order_ops(TINY, tmp_path, 0, "raised")

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [boot, ops]
    assert all(set(r) >= KEYS and r["bench"] == BENCH for r in lines)
    assert boot["metric"] == "boot_to_protected_s" and boot["positions"] == 12
    requests = boot["first_boot_requests"]  # every counted boot finds its 2 stops canceled
    assert requests["GET /api/v3/openOrders"] == 1 and requests["GET /api/v3/order"] == 2
    assert requests["POST /api/v3/order"] == 2
    assert len(boot["boots_s"]) == 1 and 0 < boot["to_config_s"] < boot["value"]
    assert ops["metric"] == "gateway_order_ops_per_s" and ops["value"] > 0
    assert ops["failed"] == 0 and ops["rate_limited"] == 0
