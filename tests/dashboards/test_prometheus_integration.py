"""The shipped dashboards against a real Prometheus scraping a real ``ratchet run``.

One paper-mode engine with three pairs (a fast simulated feed and tight trailing settings, so
stops move within seconds) and one Prometheus started from the shipped ``prometheus.yml``
(adjusted only for the target port and a 1 s scrape interval) serve the whole module. Every
PromQL expression of the Grafana dashboard and of alerts.yml is evaluated through Prometheus's
HTTP API. A background thread scrapes the engine's ``/metrics`` meanwhile, to show that the
running engine feeds each §7 series and does not merely define it.

Without the ``prometheus`` binary the module is skipped, except under ``CI=true``, where it
fails.
"""

from __future__ import annotations

import math
import re
import signal
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.config import load_config
from telemetry.metrics import Metrics
from tests.dashboards.prom_process import PrometheusProcess, require_binary
from tests.dashboards.promql import (
    DEFAULT_VARIABLES,
    all_promql_expressions,
    dashboard_expressions,
    substitute,
)
from tests.integration import engine

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
# write_config sets interval_ms = 50: 20 prices a second per pair.
FEED = 'volatility_pct = "0.1"\ndrift_pct = "0.01"'
DEFAULTS = 'trail_pct = "0.5"\nmin_move_pct = "0.05"\nstop_fill_timeout_s = "5"'

#: DESIGN.md §7 plus the series the alert rules need, as the text parser names families.
SECTION_7 = (
    "ratchet_price", "ratchet_highest_price", "ratchet_stop_price", "ratchet_position_quantity",
    "ratchet_unrealized_pnl", "ratchet_realized_pnl", "ratchet_stop_moves", "ratchet_pair_up",
    "ratchet_orders", "ratchet_exchange_errors", "ratchet_exchange_request_seconds",
    "ratchet_db_commit_seconds", "ratchet_db_batch_size", "ratchet_tick_to_decision_seconds",
    "ratchet_db_queue_depth", "ratchet_exchange_weight_used", "ratchet_exchange_banned",
    "ratchet_unprotected_positions", "ratchet_actor_restarts", "ratchet_reconcile_actions",
    "ratchet_reconcile_duration_seconds", "ratchet_build",
    "ratchet_pair_halted", "ratchet_feed_last_tick_timestamp_seconds",
    "ratchet_reconcile_failures", "ratchet_db_failures",
)
#: Families a healthy paper-mode run may leave at their initial value, and why.
IDLE_IN_A_HEALTHY_PAPER_RUN = {
    "ratchet_exchange_request_seconds": "the paper venue is in-process: no requests to time",
    "ratchet_exchange_weight_used": "the paper venue has no request-weight budget",
    "ratchet_exchange_errors": "no exchange error happens",
    "ratchet_exchange_banned": "no ban happens",
    "ratchet_unprotected_positions": "every position keeps its stop (tests/telemetry proves "
                                     "the gauge counts one that does not)",
    "ratchet_actor_restarts": "no actor fails",
    "ratchet_reconcile_actions": "a fresh DB leaves nothing to reconcile",
    "ratchet_db_queue_depth": "the DBWriter may keep up at every scrape",
    "ratchet_pair_halted": "no pair halts",
    "ratchet_reconcile_failures": "reconciliation succeeds",
    "ratchet_db_failures": "every commit succeeds",
    "ratchet_build": "constant by design",
}
#: Per-pair panels that must show data for every symbol: metric name -> what it shows.
PER_PAIR = {
    "ratchet_price": "price",
    "ratchet_stop_price": "stop",
    "ratchet_position_quantity": "position",
    "ratchet_stop_moves_total": "stop moves",
}
METRIC_NAME = re.compile(r"\bratchet_\w+")


class EngineRun:
    """``ratchet run`` from tests/integration/engine.py, with its output drained on a thread
    (it logs every order event; an unread pipe would block it) and ``/metrics`` scraped every
    0.5 s while it runs."""

    def __init__(self, config: Path) -> None:
        self.metrics_port = load_config(config).engine.metrics_port
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self.process = engine.start(config)
        self.output: list[str] = []
        self.scrapes: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._drain, daemon=True),
                         threading.Thread(target=self._scrape_loop, daemon=True)]
        for thread in self._threads:
            thread.start()

    def scrape(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            return response.read().decode()

    def stop(self) -> int:
        self._stop.set()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(timeout=10)
        for thread in self._threads:
            thread.join(timeout=10)
        return code

    def _drain(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)

    def _scrape_loop(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.scrapes.append(self.scrape())
            except OSError:  # not serving yet, or already stopped
                continue


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[tuple[EngineRun, PrometheusProcess]]:
    binary = require_binary("prometheus")
    workdir = tmp_path_factory.mktemp("prometheus_integration")
    config = engine.write_config(workdir, {symbol: {} for symbol in SYMBOLS}, feed=FEED,
                                 defaults=DEFAULTS)
    run = EngineRun(config)
    prometheus = None
    try:
        engine.wait_for(run.scrape, timeout=30, what="the engine serving /metrics")
        prometheus = PrometheusProcess(run.metrics_port, workdir / "prometheus",
                                       binary=binary).start()
        # Three scrapes, so rate() and increase() have samples; every pair's stop has moved.
        prometheus.wait_for_samples("count_over_time(ratchet_build_info[1m]) >= 3")
        prometheus.wait_for_samples("ratchet_stop_moves_total > 0", min_results=len(SYMBOLS))
        yield run, prometheus
    finally:
        if prometheus is not None:
            prometheus.stop()
        code = run.stop()
        if code != 0:
            pytest.fail(f"ratchet run exited with {code}:\n{''.join(run.output[-30:])}")


def _valid(data: dict) -> str | None:
    """Why an instant-query answer is not a valid result, or None."""
    if data["resultType"] == "scalar":
        samples = [data["result"]]
    elif data["resultType"] == "vector":
        samples = [series["value"] for series in data["result"]]
        if any(not isinstance(series.get("metric"), dict) for series in data["result"]):
            return "a series without labels"
    else:
        return f"result type {data['resultType']}"
    for _, value in samples:
        try:
            float(value)
        except ValueError:
            return f"value {value!r}"
    return None


def _per_pair_panel_exprs(symbol: str) -> list[tuple[str, str]]:
    """The dashboard's panel targets that select ``$symbol``, for one symbol."""
    variables = {**DEFAULT_VARIABLES, "symbol": symbol}
    return [(source, substitute(expr, variables)) for source, expr in dashboard_expressions()
            if source.startswith("dashboard panel ") and "$symbol" in expr]


def _samples(text: str) -> dict[tuple[str, str, frozenset], float]:
    """(family, sample name, labels) -> value, without the ``_created`` timestamps."""
    return {(family.name, s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples
            if not s.name.endswith("_created")}


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def test_every_dashboard_and_alert_expression_evaluates_to_a_valid_result(stack):
    _, prometheus = stack
    expressions = all_promql_expressions()

    failures = []
    for source, expr in expressions:
        try:
            problem = _valid(prometheus.query(expr))
        except AssertionError as error:  # PromQLError: Prometheus refused it
            problem = str(error)
        if problem:
            failures.append(f"{source}: {problem}")

    assert len(expressions) >= 40
    assert failures == []


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_price_stop_position_and_stop_moves_have_data_for_each_symbol(stack, symbol):
    _, prometheus = stack
    exprs = _per_pair_panel_exprs(symbol)

    results = {}
    for metric in PER_PAIR:
        panels = [(source, expr) for source, expr in exprs if metric in METRIC_NAME.findall(expr)]
        results[metric] = [(source, prometheus.query(expr)["result"]) for source, expr in panels]
    moves = prometheus.query(f'ratchet_stop_moves_total{{symbol="{symbol}"}}')["result"]

    for metric, what in PER_PAIR.items():
        assert results[metric], f"no per-pair panel shows {what}"
        for source, result in results[metric]:
            assert result, f"{source} ({what}) is empty for {symbol}"
            assert {series["metric"].get("symbol") for series in result} == {symbol}, source
    assert float(moves[0]["value"][1]) > 0


def test_db_commit_latency_panels_show_a_latency(stack):
    _, prometheus = stack
    panels = [(source, expr) for source, expr in all_promql_expressions()
              if "ratchet_db_commit_seconds_bucket" in expr]

    values = {source: prometheus.query(expr)["result"] for source, expr in panels}

    assert len(panels) >= 2  # p50 and p99
    for source, result in values.items():
        assert result, f"{source} is empty"
        assert math.isfinite(float(result[0]["value"][1])), source


def test_symbol_variable_lists_every_configured_pair(stack):
    _, prometheus = stack
    (query,) = [expr for source, expr in all_promql_expressions()
                if source.startswith("dashboard variable $symbol")]

    result = prometheus.query(query)["result"]

    assert {series["metric"]["symbol"] for series in result} == set(SYMBOLS)


def test_the_running_engine_feeds_every_section_7_series(stack):
    run, prometheus = stack
    # A trade closes within seconds at these settings; wait for one per pair.
    prometheus.wait_for_samples("ratchet_realized_pnl != 0", min_results=len(SYMBOLS),
                                timeout=40)
    run.scrapes.append(run.scrape())
    fresh = Metrics()
    for symbol in SYMBOLS:
        fresh.pair(symbol)
    initial = _samples(fresh.render().decode())

    seen: set[tuple[str, str | None]] = set()
    fed: set[tuple[str, str | None]] = set()
    for text in run.scrapes:
        for sample, value in _samples(text).items():
            key = (sample[0], dict(sample[2]).get("symbol"))
            seen.add(key)
            if not _same(initial.get(sample, 0.0), value):  # a new child starts at 0
                fed.add(key)
    unfed = {key for key in seen if key[0] in SECTION_7 and key not in fed}
    unfed |= {(family, None) for family in SECTION_7 if all(k[0] != family for k in seen)}

    report = sorted(f"{family}{{symbol={symbol}}}" if symbol else family
                    for family, symbol in unfed)
    print("series left at their initial value:", report)
    assert len(run.scrapes) >= 10
    assert {family for family, _ in unfed} <= IDLE_IN_A_HEALTHY_PAPER_RUN.keys(), report
