"""Secrets never leave the environment: the engine runs in binance mode against the sim with an
encrypted DB and known fake values for the API key, the secret and the DB password, goes
through error paths (forced venue errors, a rejected stop, a thread dump, a pair crash), and
then nothing it wrote holds any of the three: its logs and stdout, ``/metrics``, the DB
(decrypted) and an online backup (decrypted), ``ratchet status``. The DB and the backup are
mode 0600. The log redaction (``telemetry.logs``) is defence in depth, so every ``***`` in the
logs must come from the config line that lists which secrets are set.
"""

from __future__ import annotations

import signal
import stat
import time
import urllib.error
import urllib.request
from pathlib import Path

import pykka
import pytest

from tests.bad_inputs import helpers as h
from tests.chaos import harness
from tests.chaos.harness import EngineProcess, SimProcess
from tests.integration.engine import free_port

KEY = "FAKEKEY-9d41c7e2b05a4f3e8a61"
SECRET = "FAKESECRET-3b7f0e5c92d84a17b6e4"
PASSWORD = "FAKEDBPASS-c18e2a9f47d35b06"
SECRETS = (KEY, SECRET, PASSWORD)
SYMBOLS = harness.symbols(4)
ENV = {"RATCHET_API_KEY": KEY, "RATCHET_API_SECRET": SECRET, "RATCHET_DB_PASSWORD": PASSWORD}


def assert_clean(where: str, text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    for secret in SECRETS:
        assert secret.encode() not in data, f"{where} holds a secret"


def decrypted_dump(path: Path) -> str:
    """Every row of every table, decrypted with the password."""
    from persistence.db import connect_raw

    conn = connect_raw(path, password=PASSWORD, readonly=True)
    try:
        tables = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = [repr(row) for table in tables
                for row in conn.execute(f'SELECT * FROM "{table}"')]
        return "\n".join([*tables, *rows])
    finally:
        conn.close()


@pytest.fixture
def sim(tmp_path):
    sim = SimProcess(tmp_path, SYMBOLS, *harness.FAST_SIM, key=KEY, secret=SECRET).start()
    yield sim
    sim.stop()


def test_no_secret_reaches_logs_metrics_db_backup_or_crash_reports(tmp_path, sim):
    config, metrics_port = harness.write_binance_config(tmp_path, sim.url, SYMBOLS)
    engine = EngineProcess(config, env=ENV)
    engine.start()
    try:
        engine.wait_ready()
        time.sleep(2)  # entries, stops, moves, fills
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics") as resp:
            metrics = resp.read()
        backup = tmp_path / "backup.db"
        made = h.run(["db", "backup", str(backup), "-c", str(config)], cwd=tmp_path,
                     env={"RATCHET_DB_PASSWORD": PASSWORD})
        status = h.run(["status", "-c", str(config)], cwd=tmp_path,
                       env={"RATCHET_DB_PASSWORD": PASSWORD})
        # Error paths: venue errors (5xx, clock skew), a thread dump, stops canceled from
        # outside (re-placed).
        sim.control("POST", "/sim/force", {"kind": "500", "count": 5})
        sim.control("POST", "/sim/force", {"kind": "-1021", "count": 2})
        engine.proc.send_signal(signal.SIGUSR1)
        canceled = 0
        for o in [o for o in sim.orders() if o["status"] == "NEW"]:
            try:  # the market moves on: a stop listed open a moment ago may be gone (-2011)
                sim.control("POST", "/sim/cancel", {"symbol": o["symbol"],
                                                    "origClientOrderId": o["clientOrderId"]})
            except urllib.error.HTTPError as exc:
                if exc.code != 400:
                    raise
                continue
            canceled += 1
            if canceled == 2:
                break
        assert canceled == 2
        time.sleep(2)
    finally:
        code = engine.signal(signal.SIGTERM)
    logs = engine.output()
    db = tmp_path / "ratchet.db"

    assert code == 0, logs[-2000:]
    assert made.returncode == 0 and status.returncode == 0, made.stderr + status.stderr
    assert "Current state of" in logs  # the SIGUSR1 thread dump went to the logs
    for where, text in (("engine output", logs), ("/metrics", metrics),
                        ("backup command", made.stdout + made.stderr),
                        ("status", status.stdout + status.stderr),
                        ("DB (decrypted)", decrypted_dump(db)),
                        ("backup (decrypted)", decrypted_dump(backup))):
        assert_clean(where, text)
    for path in [db, *db.parent.glob("ratchet.db-*"), backup]:
        assert_clean(path.name, path.read_bytes())
    assert "ratchet_exchange_errors_total" in metrics.decode()
    assert [line for line in logs.splitlines() if "***" in line and "event=config" not in line] \
        == []
    for path in [*tmp_path.glob("ratchet.db*"), backup]:  # the DB, its -wal, -shm, lock
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_a_pair_crash_report_holds_no_secret(tmp_path, sim, monkeypatch):
    # Arrange: the engine in this process, its logs captured as the CLI would write them
    import io

    from actors.messages import Boot, Crash, Shutdown
    from actors.supervisor import Supervisor
    from cli.common import build_exchange, build_market_data
    from core.config import load_config
    from telemetry.logs import configure_logging
    from telemetry.metrics import Metrics

    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    config, _ = harness.write_binance_config(tmp_path, sim.url, SYMBOLS)
    cfg = load_config(config)
    stream = io.StringIO()
    handler = configure_logging("json", stream=stream)
    metrics = Metrics()
    exchange = build_exchange(cfg, metrics=metrics)
    exchange.connect()
    supervisor = Supervisor.start(config=cfg, exchange=exchange, metrics=metrics,
                                  password=PASSWORD, market_data=build_market_data(cfg))
    try:
        supervisor.ask(Boot(), timeout=60)
        pair = supervisor.proxy().pairs.get(timeout=10)[SYMBOLS[1]].ref

        # Act: the pair crashes with an invariant violation; the Supervisor restarts it
        pair.tell(Crash(reason="chaos: forced crash"))
        harness.wait_until(lambda: "forced crash" in stream.getvalue()
                           and supervisor.proxy().pairs.get(timeout=10)[SYMBOLS[1]].ref
                           is not pair, timeout=20, what="the crash report and the restart")
    finally:
        supervisor.ask(Shutdown(), timeout=60)
        pykka.ActorRegistry.stop_all(timeout=10)
        exchange.close()
        import logging

        logging.getLogger().removeHandler(handler)

    # Assert
    report = stream.getvalue()
    assert "InvariantViolation" in report and "Traceback" in report
    assert_clean("crash report", report)
    assert "***" not in report.replace('"api_key": "***"', "").replace('"api_secret": "***"', "")


@pytest.mark.parametrize("args, env", [
    pytest.param(("run",), {"RATCHET_DB_PASSWORD": "FAKEWRONGPASS-77aa"}, id="run-wrong-password"),
    pytest.param(("status",), {"RATCHET_DB_PASSWORD": "FAKEWRONGPASS-77aa"},
                 id="status-wrong-password"),
    pytest.param(("db", "check"), {"RATCHET_DB_PASSWORD": "FAKEWRONGPASS-77aa"},
                 id="check-wrong-password"),
    pytest.param(("db", "rekey"), {"RATCHET_DB_PASSWORD": "FAKEWRONGPASS-77aa",
                                   "RATCHET_DB_NEW_PASSWORD": "FAKENEWPASS-31bc"},
                 id="rekey-wrong-password"),
    pytest.param(("run",), {"RATCHET_DB_PASSWORD": PASSWORD, "RATCHET_API_KEY": KEY,
                            "RATCHET_API_SECRET": "FAKEWRONGSECRET-58de"},
                 id="run-wrong-api-secret"),
])
def test_no_error_message_echoes_a_secret(tmp_path, sim, args, env):
    config, _ = harness.write_binance_config(tmp_path, sim.url, SYMBOLS)
    h.sound_db(tmp_path / "ratchet.db", password=PASSWORD)
    env = {"RATCHET_API_KEY": KEY, "RATCHET_API_SECRET": SECRET, **env}

    result = h.run([*args, "-c", str(config)], cwd=tmp_path, env=env, timeout=60)

    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("ratchet: "), result.stderr[-2000:]
    for value in {*env.values(), *SECRETS}:
        assert value not in result.stdout + result.stderr


def test_a_secret_written_into_the_config_is_refused_without_echoing_it(tmp_path):
    config = tmp_path / "ratchet.toml"
    config.write_text(f'[engine]\nmode = "binance"\nmetrics_port = {free_port()}\n'
                      f'[exchange]\nbase_url = "http://127.0.0.1:9"\napi_secret = "{SECRET}"\n'
                      '[[pairs]]\nsymbol = "BTCUSDT"\n')

    result = h.run(["run", "-c", str(config)], cwd=tmp_path, env={"RATCHET_API_KEY": KEY})

    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "api_secret" in result.stderr
    assert SECRET not in result.stdout + result.stderr
