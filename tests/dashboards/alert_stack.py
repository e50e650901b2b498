"""A real alert path for tests: Prometheus evaluating the shipped rules every second, a real
Alertmanager, and a small local webhook receiver that records every notification.

    with WebhookReceiver() as hook, AlertmanagerProcess(tmp / "am", hook.url) as am:
        write_prometheus_config(tmp / "prom", am.port, unprotected_for="3s")
        ...
        hook.wait_for("RatchetPositionUnprotected", "firing", symbol="BTCUSDT")

Only timings differ from what ships:
- the Prometheus config is the shipped prometheus.yml with ``evaluation_interval: 1s``, the
  Alertmanager target on the test's port and the rules file renamed to the test copy (the scrape
  target and interval are set by ``PrometheusProcess`` as for the other Prometheus tests);
- the rules are a copy of the shipped alerts.yml generated here, in which only the ``for:`` of
  RatchetPositionUnprotected is shortened (30 s would make the test wait 30 s for nothing);
- the Alertmanager config is a test config with one webhook receiver and 1 s group timings; the
  shipped routing tree is checked by amtool in test_alertmanager.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.dashboards.prom_process import ALERTS_YML, PROMETHEUS_YML, LocalService, free_port

ALERTMANAGER_BINARY = "prometheus-alertmanager"  # Debian's name; amtool ships beside it
TEST_RULES = "alerts-e2e.yml"


def require(name: str, package: str) -> str:
    """The path of ``name``; skip the test when it is missing, but fail it under ``CI=true``
    (as ``prom_process.require_binary`` does), naming the Debian package to install."""
    path = shutil.which(name)
    if path:
        return path
    reason = f"{name} is not installed (Debian: apt-get install -y {package})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI=true requires it")
    pytest.skip(reason)


def e2e_rules(unprotected_for: str) -> str:
    """alerts.yml with only RatchetPositionUnprotected's ``for: 30s`` set to ``unprotected_for``."""
    text = ALERTS_YML.read_text()
    rule = re.compile(r"(- alert: RatchetPositionUnprotected\n(?:[ \t]+.*\n)*?[ \t]+for:[ \t]*)30s")
    text, n = rule.subn(rf"\g<1>{unprotected_for}", text)
    if n != 1:
        raise ValueError("alerts.yml: RatchetPositionUnprotected no longer has a `for: 30s`")
    return text


def write_prometheus_config(workdir: Path, alertmanager_port: int, *,
                            unprotected_for: str) -> Path:
    """The shipped prometheus.yml for this test (see the module docstring) and its rules copy,
    in ``workdir``; returns the config to hand to ``PrometheusProcess(config=...)``."""
    workdir.mkdir(parents=True, exist_ok=True)
    text = PROMETHEUS_YML.read_text()
    replacements = (
        (r"^(\s*evaluation_interval:\s*)\S+", r"\g<1>1s"),
        (r"^(\s*-\s*)alerts\.yml\s*$", rf"\g<1>{TEST_RULES}"),
        (r'(targets:\s*\[")127\.0\.0\.1:9093("\])', rf"\g<1>127.0.0.1:{alertmanager_port}\g<2>"),
    )
    for pattern, replacement in replacements:
        text, n = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        if n != 1:
            raise ValueError(f"prometheus.yml: expected one match of {pattern!r}, found {n}")
    (workdir / TEST_RULES).write_text(e2e_rules(unprotected_for))
    source = workdir / "prometheus-e2e.source.yml"
    source.write_text(text)
    return source


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with receiver._lock:
                    receiver.notifications.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/alerts"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert of every notification received so far, in order."""
        with self._lock:
            return [alert for body in self.notifications for alert in body.get("alerts", [])]

    def find(self, alertname: str, status: str, **labels: str) -> dict[str, Any] | None:
        for alert in self.alerts():
            got = alert.get("labels", {})
            if (got.get("alertname") == alertname and alert.get("status") == status
                    and all(got.get(k) == v for k, v in labels.items())):
                return alert
        return None

    def wait_for(self, alertname: str, status: str, *, timeout: float = 60,
                 **labels: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.find(alertname, status, **labels)
            if found is not None:
                return found
            time.sleep(0.2)
        seen = [(a["labels"].get("alertname"), a["labels"].get("symbol"), a["status"])
                for a in self.alerts()]
        raise AssertionError(f"no {status} {alertname} {labels} within {timeout} s; got {seen}")

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class AlertmanagerProcess(LocalService):
    """Debian's ``prometheus-alertmanager`` on a free 127.0.0.1 port, clustering off, with a
    test config sending every alert to ``webhook_url`` after 1 s group timings."""

    def __init__(self, workdir: Path, webhook_url: str) -> None:
        self.workdir = Path(workdir)
        self.webhook_url = webhook_url
        self.port: int | None = None
        self.log_path = self.workdir / "alertmanager.log"
        self._process: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        return "\n".join([
            "# Test config: one webhook receiver, short group timings.",
            "route:",
            "  receiver: test-webhook",
            "  group_by: [alertname, symbol]",
            "  group_wait: 1s",
            "  group_interval: 1s",
            "  repeat_interval: 1h",
            "receivers:",
            "  - name: test-webhook",
            "    webhook_configs:",
            f"      - url: {self.webhook_url}",
            "        send_resolved: true",
            "",
        ])

    def start(self, timeout: float = 30.0) -> AlertmanagerProcess:
        binary = require(ALERTMANAGER_BINARY, "prometheus-alertmanager")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "alertmanager.yml"
        config.write_text(self.config())
        self.port = free_port()
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(
                [binary, f"--config.file={config}", f"--storage.path={self.workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
                 "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"alertmanager did not become ready:\n{self.log_tail()}")
            time.sleep(0.2)
        return self

