"""promtool validates the shipped Prometheus config and alert rules, and runs their unit tests."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.dashboards.prom_process import require_binary
from tests.dashboards.promql import DASHBOARDS, alert_expressions

REQUIRED_ALERTS = {
    "RatchetPositionUnprotected",  # an unprotected position for more than 30 s
    "RatchetPairHalted",
    "RatchetExchangeBanned",
    "RatchetDBQueueBacklog",
    "RatchetFeedStale",
    "RatchetReconcileFailed",
}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = require_binary("promtool")
    return subprocess.run([promtool, *args], cwd=DASHBOARDS, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args", [
    ("check", "config", "prometheus.yml"),
    ("check", "rules", "alerts.yml"),
    ("test", "rules", "alerts_test.yml"),
], ids=["check-config", "check-rules", "test-rules"])
def test_promtool_accepts(args):
    result = _promtool(*args)

    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_cover_every_required_condition():
    names = {source.removeprefix("alerts.yml ") for source, _ in alert_expressions()}

    assert names >= REQUIRED_ALERTS


def _expected_alerts_by_name() -> dict[str, list[bool]]:
    """For each alertname in alerts_test.yml: one bool per check, True when it expects firing."""
    lines = (DASHBOARDS / "alerts_test.yml").read_text().splitlines()
    checks: dict[str, list[bool]] = {}
    for i, line in enumerate(lines):
        name = re.match(r"^\s*alertname:\s*(\S+)\s*$", line)
        if name:
            expected = re.match(r"^\s*exp_alerts:\s*(.*?)\s*$", lines[i + 1])
            assert expected, f"alerts_test.yml line {i + 2}: exp_alerts must follow alertname"
            checks.setdefault(name.group(1), []).append(expected.group(1) != "[]")
    return checks


def test_every_alert_has_a_firing_and_a_silent_unit_test():
    names = {source.removeprefix("alerts.yml ") for source, _ in alert_expressions()}
    checks = _expected_alerts_by_name()

    missing = {name for name in names
               if not (True in checks.get(name, []) and False in checks.get(name, []))}

    assert missing == set()
