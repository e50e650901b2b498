"""``/healthz`` beside ``/metrics`` on the engine's metrics port: 503 until boot reconciliation
is done and every pair that is not halted trades, 200 then, 503 again while stopping. The body
is one line. ``/metrics`` is served as prometheus_client serves it."""

from __future__ import annotations

import contextlib
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client import start_http_server
from prometheus_client.parser import text_string_to_metric_families

from telemetry.metrics import Metrics
from tests.sim_engine import harness as h


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


@pytest.fixture
def served():
    metrics = Metrics()
    metrics.serve("127.0.0.1", 0)
    try:
        yield metrics, f"http://127.0.0.1:{metrics.port}"
    finally:
        metrics.stop()


def test_healthz_is_503_until_boot_is_done_then_200_while_every_pair_trades(served):
    metrics, url = served
    for symbol in ("AAAUSDT", "BBBUSDT"):
        metrics.pair(symbol).up(True)

    before_boot = _get(url + "/healthz")
    metrics.health.trading()
    after_boot = _get(url + "/healthz")

    assert before_boot[0] == 503
    assert before_boot[1] == "starting: not reconciled yet\n"
    assert after_boot[0] == 200
    assert after_boot[1] == "ok: reconciled, 2 pair(s) trading\n"


def test_healthz_is_503_while_a_pair_that_is_not_halted_is_down(served):
    metrics, url = served
    metrics.health.trading()
    metrics.pair("AAAUSDT").up(True)
    metrics.pair("BBBUSDT").up(False)  # restarting after a failure

    restarting = _get(url + "/healthz")
    metrics.halted("BBBUSDT", True)  # a halted pair is not waited for
    one_halted = _get(url + "/healthz")
    metrics.halted("AAAUSDT", True)
    all_halted = _get(url + "/healthz")

    assert restarting[:2] == (503, "degraded: 1 pair(s) not trading: BBBUSDT\n")
    assert one_halted[:2] == (200, "ok: reconciled, 1 pair(s) trading, 1 halted\n")
    assert all_halted[:2] == (503, "halted: no pair is trading (2 halted)\n")


def test_healthz_is_503_once_shutdown_begins(served):
    metrics, url = served
    metrics.pair("AAAUSDT").up(True)
    metrics.health.trading()

    metrics.health.stopping()

    assert _get(url + "/healthz")[:2] == (503, "stopping\n")


def _names(body: str) -> set[str]:
    return {s.name for f in text_string_to_metric_families(body) for s in f.samples}


@pytest.mark.parametrize("accept", [None, "application/openmetrics-text; version=1.0.0"],
                         ids=["plain", "openmetrics"])
def test_metrics_path_is_served_as_prometheus_clients_own_server_serves_it(served, accept):
    metrics, url = served
    metrics.pair("AAAUSDT").tick(None, None, None, None, None)
    reference, thread = start_http_server(0, addr="127.0.0.1", registry=metrics.registry)
    headers = {"Accept": accept} if accept else {}
    try:
        ours = _get(url + "/metrics", headers)
        theirs = _get(f"http://127.0.0.1:{reference.server_port}/metrics", headers)
    finally:
        reference.shutdown()
        reference.server_close()
        thread.join(timeout=5)

    assert ours[0] == theirs[0] == 200
    assert ours[2]["Content-Type"] == theirs[2]["Content-Type"]
    if accept is None:
        assert _names(ours[1]) == _names(theirs[1]) >= {"ratchet_price", "ratchet_build_info"}


def test_a_real_engine_answers_503_while_it_boots_and_200_once_it_trades(tmp_path):
    """``ratchet run`` in binance mode against a sim that answers every request after 300 ms,
    so boot (connect, exchangeInfo, account, reconcile) takes seconds, and /healthz is polled
    from the start."""
    with h.fast_dir(tmp_path) as directory:
        sim = h.start_sim(directory, "--symbols", "AAAUSDT", "BBBUSDT", latency_ms=300)
        proc = None
        try:
            config = h.write_config(directory, sim.url, ["AAAUSDT", "BBBUSDT"])
            port = int(next(line.split("=")[1] for line in config.read_text().splitlines()
                            if line.startswith("metrics_port")))
            proc = h.start_engine(config)
            answers: list[tuple[int, str]] = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (answers and answers[-1][0] == 200):
                with contextlib.suppress(urllib.error.URLError, ConnectionError):  # not up yet
                    answers.append(_get(f"http://127.0.0.1:{port}/healthz")[:2])
                time.sleep(0.05)
        finally:
            out = h.stop_engine(proc) if proc is not None else ""
            sim.stop()

    assert answers, out[-2000:]
    assert answers[0] == (503, "starting: not reconciled yet\n"), out[-2000:]
    assert answers[-1] == (200, "ok: reconciled, 2 pair(s) trading\n"), out[-2000:]
    assert proc.returncode == 0, out[-2000:]
