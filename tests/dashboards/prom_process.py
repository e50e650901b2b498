"""A real Prometheus for tests, run from the shipped dashboards/prometheus.yml.

The config is adjusted only for the scrape target's port and a 1 s scrape interval; alerts.yml
is copied beside it unchanged, so Prometheus loads the shipped rules.

    with PrometheusProcess(target_port=metrics.port, workdir=tmp_path) as prom:
        prom.wait_for_samples("ratchet_price")
        result = prom.query('ratchet_stop_price{symbol=~"BTCUSDT"}')

``require_binary("prometheus")`` skips the test when the binary is missing, or fails it when
``CI=true``: CI must never pass by skipping.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_YML = REPO / "dashboards" / "prometheus.yml"
ALERTS_YML = REPO / "dashboards" / "alerts.yml"
SHIPPED_TARGET = "127.0.0.1:9464"

_TARGET = re.compile(r"^(\s*-?\s*targets:.*?)" + re.escape(SHIPPED_TARGET), re.MULTILINE)
_SCRAPE_INTERVAL = re.compile(r"^(\s*scrape_interval:\s*)\S+", re.MULTILINE)


class PromQLError(AssertionError):
    """Prometheus refused an expression, or did not answer as expected."""


def require_binary(name: str) -> str:
    """The path of ``name``; skip the test when it is missing, but fail it under ``CI=true``."""
    path = shutil.which(name)
    if path:
        return path
    reason = f"{name} is not installed (Debian: apt-get install -y prometheus)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI=true requires it")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def adjusted_config(text: str, target_port: int, scrape_interval: str = "1s") -> str:
    """The shipped config with only its target port and scrape interval changed."""
    text, targets = _TARGET.subn(rf"\g<1>127.0.0.1:{target_port}", text)
    text, intervals = _SCRAPE_INTERVAL.subn(rf"\g<1>{scrape_interval}", text)
    if targets != 1 or intervals < 1:
        raise ValueError(f"prometheus.yml no longer has one {SHIPPED_TARGET} target and a "
                         f"scrape_interval (found {targets} and {intervals})")
    return text


class LocalService:
    """A Prometheus-family server run for a test on 127.0.0.1: its URL, its log, its readiness
    (``/-/ready``) and its stop. Subclasses set ``port``, ``log_path`` and ``_process`` and
    define ``start``."""

    port: int | None
    log_path: Path
    _process: subprocess.Popen[bytes] | None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> LocalService:  # pragma: no cover - abstract
        raise NotImplementedError

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False


class PrometheusProcess(LocalService):
    """A ``prometheus`` subprocess on a free 127.0.0.1 port, scraping ``target_port``."""

    def __init__(self, target_port: int, workdir: Path, *, binary: str = "prometheus",
                 config: Path = PROMETHEUS_YML) -> None:
        self.target_port = target_port
        self.workdir = Path(workdir)
        self.binary = binary
        self.config_source = config
        self.port: int | None = None
        self.config_path = self.workdir / "prometheus.yml"
        self.log_path = self.workdir / "prometheus.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> PrometheusProcess:
        """Start Prometheus and wait until it is ready to answer queries."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(adjusted_config(self.config_source.read_text(),
                                                    self.target_port))
        shutil.copy(ALERTS_YML, self.workdir / ALERTS_YML.name)
        self.port = free_port()
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(
                [self.binary, f"--config.file={self.config_path}",
                 f"--storage.tsdb.path={self.workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        self._poll(self._ready, timeout, "Prometheus to become ready")
        return self

    def wait_for_samples(self, expr: str = "ratchet_build_info", timeout: float = 60.0,
                         min_results: int = 1) -> list[dict[str, Any]]:
        """Poll until ``expr`` returns at least ``min_results`` series; return them."""
        found: list[dict[str, Any]] = []

        def enough() -> bool:
            nonlocal found
            found = self.query(expr)["result"]
            return len(found) >= min_results

        self._poll(enough, timeout, f"samples for {expr!r}")
        return found

    def query(self, expr: str) -> dict[str, Any]:
        """Evaluate ``expr`` now; the API's ``data`` (resultType, result). Raises PromQLError."""
        return self._api("/api/v1/query", {"query": expr})

    def format_query(self, expr: str) -> str:
        """``expr`` as Prometheus prints it (``/api/v1/format_query``), for comparisons."""
        return self._api("/api/v1/format_query", {"query": expr})

    def rules(self) -> list[dict[str, Any]]:
        """Every rule Prometheus loaded, as ``/api/v1/rules`` describes it."""
        groups = self._api("/api/v1/rules", None)["groups"]
        return [rule for group in groups for rule in group["rules"]]

    def _api(self, path: str, form: dict[str, str] | None) -> dict[str, Any]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.url + path, data=data)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            body = json.load(error)
        if body.get("status") != "success":
            raise PromQLError(f"{path} {form}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def _poll(self, condition: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise PromQLError(f"prometheus exited with {self._process.returncode} while "
                                  f"waiting for {what}:\n{self.log_tail()}")
            if condition():
                return
            time.sleep(0.25)
        raise PromQLError(f"timed out after {timeout} s waiting for {what}:\n{self.log_tail()}")
