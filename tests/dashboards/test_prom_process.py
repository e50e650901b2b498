"""The real-Prometheus helper, proven against a served ``Metrics`` with fake updates.

Prometheus starts once for the module (its first scrape lands about 6 s after start).
"""

from __future__ import annotations

import subprocess
from decimal import Decimal

import pytest

from telemetry.metrics import Metrics
from tests.dashboards.prom_process import (
    PROMETHEUS_YML,
    PrometheusProcess,
    PromQLError,
    adjusted_config,
    require_binary,
)
from tests.dashboards.promql import alert_expressions, all_promql_expressions

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


@pytest.fixture(scope="module")
def engine_metrics():
    metrics = Metrics()
    for i, symbol in enumerate(SYMBOLS):
        pair = metrics.pair(symbol)
        pair.up(True)
        pair.tick(Decimal(100 + i), Decimal(101 + i), Decimal(97 + i), Decimal("0.5"),
                  Decimal("-0.25"))
        pair.stop_moved()
        pair.order("STOP_LOSS_LIMIT", "accepted")
        pair.decision_latency(0.00004)
    metrics.db_commit(0.0004, 3)
    metrics.exchange_request("order", 0.0008)
    metrics.serve("127.0.0.1", 0)
    yield metrics
    metrics.stop()


@pytest.fixture(scope="module")
def prometheus(engine_metrics, tmp_path_factory):
    binary = require_binary("prometheus")
    prom = PrometheusProcess(engine_metrics.port, tmp_path_factory.mktemp("prometheus"),
                             binary=binary).start()
    try:
        # Three scrapes, so rate() and increase() have samples to work on.
        prom.wait_for_samples("count_over_time(ratchet_build_info[1m]) >= 3")
        yield prom
    finally:
        prom.stop()


def test_samples_of_every_symbol_flow_into_prometheus(prometheus):
    result = prometheus.wait_for_samples("ratchet_stop_price", min_results=3)

    stops = {series["metric"]["symbol"]: series["value"][1] for series in result}
    assert stops == {"BTCUSDT": "97", "ETHUSDT": "98", "SOLUSDT": "99"}


def test_every_dashboard_and_alert_expression_evaluates(prometheus):
    failures = []

    for source, expr in all_promql_expressions():
        try:
            data = prometheus.query(expr)
        except PromQLError as error:
            failures.append(f"{source}: {error}")
            continue
        if data["resultType"] not in ("vector", "scalar"):
            failures.append(f"{source}: unexpected result type {data['resultType']}")

    assert failures == []


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_per_pair_panels_return_series_for_one_symbol(prometheus, symbol):
    selector = f'symbol=~"{symbol}"'
    per_pair = [(source, expr) for source, expr in all_promql_expressions({"symbol": symbol})
                if selector in expr]

    results = {source: prometheus.query(expr)["result"] for source, expr in per_pair}

    assert len(per_pair) >= 10
    assert [source for source, result in results.items() if not result] == []
    assert {series["metric"].get("symbol", symbol)
            for result in results.values() for series in result} == {symbol}


def test_alert_expressions_read_from_alerts_yml_match_the_rules_prometheus_loaded(prometheus):
    loaded = {rule["name"]: prometheus.format_query(rule["query"])
              for rule in prometheus.rules()}

    read = {source.removeprefix("alerts.yml "): prometheus.format_query(expr)
            for source, expr in alert_expressions()}

    assert read == loaded


def test_a_bad_expression_raises_with_the_prometheus_error(prometheus):
    with pytest.raises(PromQLError, match="bad_data"):
        prometheus.query("sum(ratchet_price")


def test_adjusted_config_changes_only_target_port_and_scrape_interval(tmp_path):
    shipped = PROMETHEUS_YML.read_text()
    adjusted = adjusted_config(shipped, 12345)

    changed = [(a, b) for a, b in zip(shipped.splitlines(), adjusted.splitlines(), strict=True)
               if a != b]

    assert changed == [
        ("  scrape_interval: 5s", "  scrape_interval: 1s"),
        ('      - targets: ["127.0.0.1:9464"]', '      - targets: ["127.0.0.1:12345"]'),
    ]


def test_adjusted_config_is_valid_for_promtool(tmp_path):
    promtool = require_binary("promtool")
    (tmp_path / "alerts.yml").write_text((PROMETHEUS_YML.parent / "alerts.yml").read_text())
    config = tmp_path / "prometheus.yml"
    config.write_text(adjusted_config(PROMETHEUS_YML.read_text(), 12345))

    check = subprocess.run([promtool, "check", "config", str(config)], capture_output=True,
                           text=True, timeout=60)

    assert check.returncode == 0, check.stdout + check.stderr
