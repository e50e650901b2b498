"""The Grafana dashboard, its provisioning and docker-compose.yml hang together."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families

from telemetry.metrics import Metrics
from tests.dashboards.promql import (
    DASHBOARD_JSON,
    DASHBOARDS,
    GRAFANA_BUILTINS,
    alert_expressions,
    dashboard_expressions,
    iter_panels,
    load_dashboard,
    variable_references,
)

METRIC_NAME = re.compile(r"\b(?:ratchet|process)_[a-zA-Z0-9_]+\b")
#: Series Prometheus makes itself rather than scraping them.
PROMETHEUS_SYNTHETIC = {"up"}


@pytest.fixture(scope="module")
def dashboard():
    return load_dashboard()


def _variables(dashboard) -> dict[str, dict]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _exposed_names() -> set[str]:
    """Every sample name a served Metrics exposes after one update of each kind."""
    metrics = Metrics()
    pair = metrics.pair("BTCUSDT")
    pair.tick(Decimal("1"), Decimal("1"), Decimal("1"), Decimal("1"), Decimal("0"))
    pair.order("MARKET", "filled")
    pair.stop_moved()
    pair.decision_latency(0.0001)
    metrics.exchange_request("order", 0.001)
    metrics.exchange_error(-2010)
    metrics.db_commit(0.001, 2)
    metrics.actor_restart("pair")
    metrics.reconcile({"keep": 1}, 0.1)
    metrics.feed.connection("0").batch(10, 9, 2, 0.01)
    metrics.feed.stale("0", False)
    families = text_string_to_metric_families(metrics.render().decode())
    return {sample.name for family in families for sample in family.samples}


def _row_sections(dashboard) -> dict[str, list[dict]]:
    """Top-level panels grouped under the row they follow, keyed by the row's title."""
    sections: dict[str, list[dict]] = {}
    current = None
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            current = sections.setdefault(panel["title"], list(panel.get("panels", [])))
        else:
            assert current is not None, f"panel {panel['id']} comes before any row"
            current.append(panel)
    return sections


def test_committed_json_is_what_the_generator_builds():
    result = subprocess.run([sys.executable, str(DASHBOARDS / "build_dashboard.py"), "--check"],
                            capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr


def test_panel_ids_are_unique(dashboard):
    ids = [panel["id"] for panel in iter_panels(dashboard["panels"])]

    assert len(ids) == len(set(ids))


def test_every_panel_has_targets_and_every_target_an_expression(dashboard):
    for panel in iter_panels(dashboard["panels"]):
        if panel["type"] == "row":
            continue
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert panel["targets"], f"panel {panel['id']} has no target"
        assert len(ref_ids) == len(set(ref_ids)), f"panel {panel['id']} repeats a refId"
        for target in panel["targets"]:
            assert target.get("expr", "").strip(), f"panel {panel['id']} {target['refId']}"


def test_every_variable_reference_resolves(dashboard):
    defined = set(_variables(dashboard)) | GRAFANA_BUILTINS

    referenced = {name for text in _strings(dashboard) for name in variable_references(text)}

    assert "symbol" in referenced
    assert referenced - defined == set()


def test_panels_do_not_overlap_and_fit_the_grid(dashboard):
    cells = {}
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["id"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"panels {cells.get((x, y))} and {panel['id']}"
                cells[(x, y)] = panel["id"]


def test_per_pair_row_repeats_over_a_multi_symbol_variable(dashboard):
    rows = [panel for panel in dashboard["panels"] if panel["type"] == "row"]
    repeated = [row for row in rows if row.get("repeat")]
    symbol = _variables(dashboard)["symbol"]

    assert [row["repeat"] for row in repeated] == ["symbol"]
    assert symbol["query"] == "label_values(ratchet_price, symbol)"
    assert symbol["multi"] and symbol["includeAll"]


def test_every_per_pair_expression_selects_the_symbol_with_a_regex(dashboard):
    per_pair = _row_sections(dashboard)["Pair $symbol"]
    exprs = [target["expr"] for panel in per_pair for target in panel["targets"]]

    assert exprs
    for expr in exprs:
        for metric in METRIC_NAME.findall(expr):
            assert re.search(re.escape(metric) + r'\{symbol=~"\$symbol"\}', expr), expr


def test_overview_row_shows_every_engine_health_metric(dashboard):
    overview = _row_sections(dashboard)["Overview"]
    used = {m for panel in overview for t in panel["targets"] for m in METRIC_NAME.findall(t["expr"])}

    assert used >= {
        "ratchet_realized_pnl", "ratchet_unrealized_pnl", "ratchet_position_quantity",
        "ratchet_unprotected_positions", "ratchet_orders_total", "ratchet_exchange_weight_used",
        "ratchet_exchange_banned", "ratchet_exchange_errors_total",
        "ratchet_db_commit_seconds_bucket", "ratchet_db_queue_depth",
        "ratchet_db_batch_size_sum", "ratchet_actor_restarts_total",
        "ratchet_reconcile_actions_total",
    }


def test_per_pair_row_shows_price_highest_and_stop_on_one_panel(dashboard):
    per_pair = _row_sections(dashboard)["Pair $symbol"]
    metrics_per_panel = [{m for t in panel["targets"] for m in METRIC_NAME.findall(t["expr"])}
                         for panel in per_pair]

    assert {"ratchet_price", "ratchet_highest_price", "ratchet_stop_price"} in metrics_per_panel
    used = set().union(*metrics_per_panel)
    assert used >= {"ratchet_position_quantity", "ratchet_realized_pnl",
                    "ratchet_unrealized_pnl", "ratchet_stop_moves_total"}


def test_every_metric_in_dashboard_and_alerts_is_exposed_by_metrics():
    exposed = _exposed_names()
    used = {name for _, expr in dashboard_expressions() + alert_expressions()
            for name in METRIC_NAME.findall(expr)}

    assert used
    assert used - exposed == set()


def test_alerts_use_only_exposed_metrics_or_prometheus_synthetic_series():
    exposed = _exposed_names() | PROMETHEUS_SYNTHETIC
    bare = re.compile(r"\b[a-z_][a-z0-9_]*(?=\s*\{)")

    used = {name for _, expr in alert_expressions() for name in bare.findall(expr)}

    assert used - exposed == set()


def test_grafana_provisioning_points_at_the_dashboard_mounted_by_compose():
    provider = (DASHBOARDS / "grafana/provisioning/dashboards/ratchet.yml").read_text()
    compose = (DASHBOARDS / "docker-compose.yml").read_text()
    path = re.search(r"^\s*path:\s*(\S+)\s*$", provider, re.MULTILINE).group(1)

    mounts = dict(re.findall(r"^\s*-\s*(\./[^:\s]+):([^:\s]+)(?::ro)?\s*$", compose, re.MULTILINE))

    assert mounts["./grafana/dashboards"] == path
    assert DASHBOARD_JSON.parent == DASHBOARDS / "grafana" / "dashboards"
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    for host_path in mounts:
        assert (DASHBOARDS / host_path).exists(), host_path


def test_grafana_datasource_is_the_prometheus_that_compose_and_make_start():
    datasource = (DASHBOARDS / "grafana/provisioning/datasources/prometheus.yml").read_text()
    compose = (DASHBOARDS / "docker-compose.yml").read_text()

    url = re.search(r"^\s*url:\s*(\S+)\s*$", datasource, re.MULTILINE).group(1)

    assert url == "http://127.0.0.1:9090"
    assert "--web.listen-address=127.0.0.1:9090" in compose
    assert re.search(r"^\s*type:\s*prometheus\s*$", datasource, re.MULTILINE)


def test_dashboard_is_valid_json_with_a_stable_uid():
    dashboard = json.loads(DASHBOARD_JSON.read_text())

    assert dashboard["uid"] == "ratchet"
    assert dashboard["schemaVersion"] >= 36
