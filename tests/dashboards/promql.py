"""Every PromQL expression shipped in dashboards/, ready to send to a real Prometheus.

``all_promql_expressions()`` returns ``(source, expr)`` pairs from the Grafana dashboard JSON
(panel targets, and the ``$symbol`` variable's ``label_values`` query as its PromQL equivalent)
and from ``alerts.yml``, with Grafana template variables substituted. ``$symbol`` becomes a regex
(``.+`` by default; pass ``{"symbol": "BTCUSDT"}`` for one pair): the dashboard always matches it
with ``=~``. An unknown variable raises, so a new one cannot slip through untested.

alerts.yml is read without a YAML library (none is installed): only the ``expr:`` forms used
there are understood (plain, quoted, and ``|``/``>`` blocks), anything else raises. The test
against a real Prometheus checks this reader against the rules Prometheus itself loaded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "dashboards"
DASHBOARD_JSON = DASHBOARDS / "grafana" / "dashboards" / "ratchet.json"
ALERTS_YML = DASHBOARDS / "alerts.yml"

#: Values for Grafana's variables when an expression leaves Grafana.
DEFAULT_VARIABLES: Mapping[str, str] = {
    "symbol": ".+",
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
}
#: Variables Grafana defines itself; any other reference must be a dashboard variable.
GRAFANA_BUILTINS = frozenset({
    "__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms",
    "__from", "__to", "__dashboard", "__org", "__user", "__name", "__all", "timeFilter",
})

#: ``$name``, ``${name}``, ``${name:format}`` and the deprecated ``[[name]]``.
VARIABLE_REF = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")
_LABEL_VALUES = re.compile(r"^label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)$")
_BLOCK = re.compile(r"^[|>][-+]?$")


def variable_references(text: str) -> set[str]:
    """Names of every template variable referenced in ``text``."""
    return {next(g for g in m.groups() if g) for m in VARIABLE_REF.finditer(text)}


def substitute(expr: str, variables: Mapping[str, str]) -> str:
    """``expr`` with every variable reference replaced; an unknown variable raises KeyError."""

    def replace(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name not in variables:
            raise KeyError(f"no value for template variable ${name} in {expr!r}")
        return variables[name]

    return VARIABLE_REF.sub(replace, expr)


def load_dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD_JSON.read_text())


def iter_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels", []))


def dashboard_expressions(dashboard: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
    """Raw ``(source, expr)`` of every panel target and query variable, variables unresolved."""
    dashboard = dashboard if dashboard is not None else load_dashboard()
    found = []
    for panel in iter_panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            source = f"dashboard panel {panel['id']} {panel['title']!r} target {target['refId']}"
            found.append((source, target.get("expr", "")))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            query = query["query"] if isinstance(query, dict) else query
            found.append((f"dashboard variable ${variable['name']}", label_values_as_promql(query)))
    return found


def label_values_as_promql(query: str) -> str:
    """Grafana's ``label_values(metric, label)`` as the PromQL that lists the same values."""
    match = _LABEL_VALUES.match(query.strip())
    if not match:
        return query
    metric, label = match.groups()
    return f"count by ({label}) ({metric})"


def alert_expressions(text: str | None = None) -> list[tuple[str, str]]:
    """``(source, expr)`` of every rule in alerts.yml, in file order."""
    lines = (text if text is not None else ALERTS_YML.read_text()).splitlines()
    found, rule, i = [], None, 0
    while i < len(lines):
        line = lines[i]
        name = re.match(r"^\s*-\s*(alert|record):\s*(\S+)\s*$", line)
        if name:
            rule = name.group(2)
        expr = re.match(r"^(\s*)expr:\s*(.*?)\s*$", line)
        if expr:
            if rule is None:
                raise ValueError(f"alerts.yml line {i + 1}: expr outside a rule")
            indent, value = len(expr.group(1)), expr.group(2)
            if _BLOCK.match(value):
                block, i = _block(lines, i + 1, indent)
                value = block if value.startswith("|") else " ".join(block.split("\n"))
            else:
                value = _scalar(value, i + 1)
            found.append((f"alerts.yml {rule}", value.strip()))
            rule = None
        i += 1
    return found


def all_promql_expressions(variables: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """Every dashboard and alert expression, template variables substituted."""
    values = {**DEFAULT_VARIABLES, **(variables or {})}
    return [(source, substitute(expr, values))
            for source, expr in dashboard_expressions() + alert_expressions()]


def _block(lines: list[str], start: int, parent_indent: int) -> tuple[str, int]:
    """The block scalar starting at ``lines[start]``, and the index of its last line."""
    body, i = [], start
    while i < len(lines):
        line = lines[i]
        if line.strip() and len(line) - len(line.lstrip()) <= parent_indent:
            break
        body.append(line)
        i += 1
    while body and not body[-1].strip():
        body.pop()
    if not body:
        raise ValueError(f"alerts.yml line {start}: empty block scalar")
    indent = min(len(line) - len(line.lstrip()) for line in body if line.strip())
    return "\n".join(line[indent:] for line in body), i - 1


def _scalar(value: str, line_no: int) -> str:
    if value.startswith('"'):
        return json.loads(value)
    if value.startswith("'"):
        if not value.endswith("'"):
            raise ValueError(f"alerts.yml line {line_no}: unsupported multi-line quoted expr")
        return value[1:-1].replace("''", "'")
    if not value or value[0] in "[{&*!%@`":
        raise ValueError(f"alerts.yml line {line_no}: unsupported expr form {value!r}")
    return re.split(r"\s+#", value, maxsplit=1)[0]
