"""Build the Grafana dashboard JSON for Ratchet.

    python dashboards/build_dashboard.py           # write dashboards/grafana/dashboards/ratchet.json
    python dashboards/build_dashboard.py --check   # exit 1 if the file differs from this script

The JSON is committed; edit this script, not the JSON, and re-run it. Panels query the data source
chosen in the ``datasource`` variable. The per-pair row repeats over ``$symbol``
(``label_values(ratchet_price, symbol)``, multi-select with All); inside each copy ``$symbol`` is
one symbol, and every selector uses ``symbol=~"$symbol"`` so that both forms work.
P&L sums assume the pairs share one quote asset (e.g. USDT).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parent / "grafana" / "dashboards" / "ratchet.json"
DS = {"type": "prometheus", "uid": "${datasource}"}
SYM = 'symbol=~"$symbol"'
RATE = "$__rate_interval"


def _quantile(q: str, metric: str, by: str = "") -> str:
    group = f"le{', ' + by if by else ''}"
    return f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket[{RATE}])))"


class _Layout:
    """Hands out panel ids and grid positions, row by row (the grid is 24 units wide)."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self._next_id = 1
        self._x = 0
        self._y = 0
        self._row_h = 0

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def row(self, title: str, repeat: str | None = None) -> None:
        self._newline()
        panel: dict[str, Any] = {"id": self._id(), "type": "row", "title": title,
                                 "collapsed": False, "panels": [],
                                 "gridPos": {"h": 1, "w": 24, "x": 0, "y": self._y}}
        if repeat:
            panel["repeat"] = repeat
        self.panels.append(panel)
        self._y += 1

    def panel(self, kind: str, title: str, targets: list[tuple[str, str]], *, w: int, h: int = 8,
              unit: str = "short", description: str = "", **extra: Any) -> None:
        if self._x + w > 24:
            self._newline()
        panel = {
            "id": self._id(), "type": kind, "title": title, "description": description,
            "datasource": DS,
            "gridPos": {"h": h, "w": w, "x": self._x, "y": self._y},
            "targets": [
                {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr,
                 "legendFormat": legend, "range": True, "instant": False}
                for i, (expr, legend) in enumerate(targets)
            ],
            "fieldConfig": {"defaults": {"unit": unit, **extra.pop("defaults", {})},
                            "overrides": []},
            "options": extra.pop("options", _timeseries_options() if kind == "timeseries"
                                 else _stat_options()),
        }
        panel.update(extra)
        self.panels.append(panel)
        self._x += w
        self._row_h = max(self._row_h, h)

    def _newline(self) -> None:
        self._y += self._row_h
        self._x = 0
        self._row_h = 0


def _timeseries_options() -> dict[str, Any]:
    return {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "none"}}


def _stat_options() -> dict[str, Any]:
    return {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background", "graphMode": "area", "justifyMode": "auto",
            "orientation": "auto", "textMode": "auto"}


def _thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {"thresholds": {"mode": "absolute",
                           "steps": [{"color": color, "value": value} for value, color in steps]}}


_ALARM = _thresholds((None, "green"), (1, "red"))


def _overview(layout: _Layout) -> None:
    layout.row("Overview")
    stat = "stat"
    layout.panel(stat, "Realized P&L (quote)", [("sum by (quote) (ratchet_realized_pnl)", "realized {{quote}}")], w=4,
                 h=4, defaults=_thresholds((None, "red"), (0, "green")))
    layout.panel(stat, "Unrealized P&L (quote)", [("sum by (quote) (ratchet_unrealized_pnl)", "unrealized {{quote}}")],
                 w=4, h=4, defaults=_thresholds((None, "red"), (0, "green")))
    layout.panel(stat, "Open positions",
                 [("count(ratchet_position_quantity > 0) or vector(0)", "open")], w=4, h=4,
                 defaults=_thresholds((None, "blue")))
    layout.panel(stat, "Unprotected positions", [("max(ratchet_unprotected_positions)", "")],
                 w=4, h=4, description="Open positions without a live stop order.",
                 defaults=_ALARM)
    layout.panel(stat, "Exchange banned", [("max(ratchet_exchange_banned)", "")], w=4, h=4,
                 description="1 while Binance bans this IP (HTTP 418): nothing is sent.",
                 defaults={**_ALARM, "mappings": [
                     {"type": "value", "options": {"0": {"text": "OK"}, "1": {"text": "BANNED"}}}
                 ]})
    layout.panel(stat, "Pairs up / halted", [
        ("sum(ratchet_pair_up)", "up"),
        ("sum(ratchet_pair_halted)", "halted"),
    ], w=4, h=4, defaults=_thresholds((None, "blue")))

    layout.panel("timeseries", "P&L (quote)", [
        ("sum by (symbol, quote) (ratchet_realized_pnl)", "realized {{symbol}} ({{quote}})"),
        ("sum by (symbol, quote) (ratchet_unrealized_pnl)", "unrealized {{symbol}} ({{quote}})"),
    ], w=12)
    layout.panel("timeseries", "Orders per minute by result", [
        (f"sum by (result) (rate(ratchet_orders_total[{RATE}])) * 60", "{{result}}"),
    ], w=12, unit="opm")

    layout.panel("timeseries", "Exchange request weight used", [
        ("max(ratchet_exchange_weight_used)", "weight (limit 6000/min)"),
    ], w=8)
    layout.panel("timeseries", "Exchange errors per minute by code", [
        (f"sum by (code) (rate(ratchet_exchange_errors_total[{RATE}])) * 60", "{{code}}"),
    ], w=8, unit="opm")
    layout.panel("timeseries", "Exchange request latency p99 by endpoint", [
        (_quantile("0.99", "ratchet_exchange_request_seconds", "endpoint"), "{{endpoint}}"),
    ], w=8, unit="s")

    layout.panel("timeseries", "DB commit latency", [
        (_quantile("0.5", "ratchet_db_commit_seconds"), "p50"),
        (_quantile("0.99", "ratchet_db_commit_seconds"), "p99"),
    ], w=8, unit="s")
    layout.panel("timeseries", "DB queue depth and batch size", [
        ("max(ratchet_db_queue_depth)", "queue depth"),
        (f"sum(rate(ratchet_db_batch_size_sum[{RATE}])) / sum(rate(ratchet_db_batch_size_count[{RATE}]))",
         "mean batch size"),
        (_quantile("0.99", "ratchet_db_batch_size"), "p99 batch size"),
    ], w=8, description="Messages waiting for the DBWriter; messages per commit group.")
    layout.panel("timeseries", "Tick to decision latency", [
        (_quantile("0.5", "ratchet_tick_to_decision_seconds"), "p50"),
        (_quantile("0.99", "ratchet_tick_to_decision_seconds"), "p99"),
    ], w=8, unit="s")

    layout.panel("timeseries", "Actor restarts (last 10 min)", [
        ("sum by (actor) (increase(ratchet_actor_restarts_total[10m]))", "{{actor}}"),
    ], w=8, description="A pair restarted 5 times in 10 minutes is halted on the 6th failure.")
    layout.panel("timeseries", "Reconcile actions", [
        ("sum by (action) (ratchet_reconcile_actions_total)", "{{action}}"),
    ], w=8, description="Actions taken by reconciliation since the engine started.")
    layout.panel("timeseries", "Reconcile duration and failures", [
        ("max(ratchet_reconcile_duration_seconds)", "last duration (s)"),
        ("sum(ratchet_reconcile_failures_total)", "failures"),
    ], w=8)


def _market_data(layout: _Layout) -> None:
    layout.row("Market data")
    layout.panel("timeseries", "Market data: messages per second, merged in bursts", [
        (f"sum(rate(ratchet_feed_messages_received_total[{RATE}]))", "received"),
        (f"sum(rate(ratchet_feed_messages_merged_total[{RATE}]))", "merged (consumer lags)"),
        (f"sum(rate(ratchet_feed_deliveries_total[{RATE}]))", "delivered to the pairs"),
        (f"sum(rate(ratchet_feed_rest_prices_total[{RATE}]))", "REST prices"),
    ], w=12, unit="cps", description=(
        "A burst shows as received rising while delivered stays near what the pairs take: the "
        "rest is merged into the pairs' slots (last, highest, lowest), never queued or "
        "dropped. Reconnects stay at 0."))
    layout.panel("timeseries", "Market data lag p99 by connection", [
        (_quantile("0.99", "ratchet_feed_lag_seconds", "connection"), "connection {{connection}}"),
    ], w=12, unit="s", description="Trade time to the moment the edge folded it, per socket "
                                   "read; includes the clock offset to the venue.")
    layout.panel("timeseries", "Market data reconnects (last 10 min) by cause", [
        ("sum by (cause) (increase(ratchet_feed_reconnects_total[10m]))", "{{cause}}"),
    ], w=12, description="server_shutdown is a switch to a new connection before the "
                         "venue's cut, without a gap.")
    layout.panel("timeseries", "Market data connections", [
        ("sum(ratchet_feed_connection_up)", "up"),
        ("sum(ratchet_feed_stale)", "stale (prices by REST)"),
    ], w=12, description="A connection carries up to 1,024 streams; stale: silent for "
                         "[feed] feed_stale_s.")


def _per_pair(layout: _Layout) -> None:
    layout.row("Pair $symbol", repeat="symbol")
    layout.panel("timeseries", "$symbol price, highest and stop", [
        (f"ratchet_price{{{SYM}}}", "price"),
        (f"ratchet_highest_price{{{SYM}}}", "highest"),
        (f"ratchet_stop_price{{{SYM}}}", "stop"),
    ], w=12, h=9, description="Gaps in highest and stop mean the pair is flat.")
    layout.panel("timeseries", "$symbol position", [
        (f"ratchet_position_quantity{{{SYM}}}", "quantity"),
    ], w=6, h=9)
    layout.panel("timeseries", "$symbol P&L (quote)", [
        (f"ratchet_realized_pnl{{{SYM}}}", "realized"),
        (f"ratchet_unrealized_pnl{{{SYM}}}", "unrealized"),
    ], w=6, h=9)
    layout.panel("timeseries", "$symbol stop moves", [
        (f"ratchet_stop_moves_total{{{SYM}}}", "moves since start"),
    ], w=8)
    layout.panel("timeseries", "$symbol orders per minute", [
        (f"sum by (type, result) (rate(ratchet_orders_total{{{SYM}}}[{RATE}])) * 60",
         "{{type}} {{result}}"),
    ], w=8, unit="opm")
    layout.panel("timeseries", "$symbol state", [
        (f"ratchet_pair_up{{{SYM}}}", "up"),
        (f"ratchet_pair_halted{{{SYM}}}", "halted"),
        (f"time() - ratchet_feed_last_tick_timestamp_seconds{{{SYM}}}", "seconds since tick"),
    ], w=8)


def build() -> dict[str, Any]:
    """The dashboard as a dict, ready for ``json.dumps``."""
    layout = _Layout()
    _overview(layout)
    _market_data(layout)
    _per_pair(layout)
    return {
        "uid": "ratchet",
        "title": "Ratchet",
        "description": "Ratchet trailing-stop engine: overview and one row per pair.",
        "tags": ["ratchet", "trading"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource",
             "query": "prometheus", "current": {}, "hide": 0, "refresh": 1, "regex": "",
             "options": []},
            {"name": "symbol", "label": "Symbol", "type": "query", "datasource": DS,
             "query": "label_values(ratchet_price, symbol)",
             "definition": "label_values(ratchet_price, symbol)",
             "multi": True, "includeAll": True, "refresh": 2, "sort": 1, "current": {},
             "hide": 0, "regex": "", "options": []},
        ]},
        "panels": layout.panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the committed JSON differs from what this script builds")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run python {Path(__file__).name}",
                  file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
