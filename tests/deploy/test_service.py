"""deploy/ratchet.service: systemd accepts it (``systemd-analyze verify``), rates its hardening
OK (``systemd-analyze security --offline``), and it restarts the engine, as its own user, with
its keys from a root-only EnvironmentFile and a writable state directory only.

``systemd-analyze verify`` checks that ExecStart's binary exists, so the checked copy (in a temp
directory) runs this checkout's ``.venv/bin/ratchet`` instead of ``/opt/ratchet/.venv/...``;
nothing else is changed. Without systemd-analyze the systemd tests skip, except under
``CI=true`` (.ci/run installs Debian's ``systemd``), where they fail.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from cli.common import check_live_safety
from core.config import load_config
from tests.conftest import REPO
from tests.dashboards.alert_stack import require
from tests.exchange.binance.simproc import KEY, SECRET, Sim
from tests.integration import engine

UNIT = REPO / "deploy" / "ratchet.service"
INSTALLED_RATCHET = "/opt/ratchet/.venv/bin/ratchet"


def _directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z]+)=(.*)$", line.strip())
        if match:
            found.setdefault(match[1], []).append(match[2].strip())
    return found


def _checked_copy(tmp_path: Path) -> Path:
    local = REPO / ".venv" / "bin" / "ratchet"
    assert local.exists(), "make install first"
    text = UNIT.read_text()
    assert INSTALLED_RATCHET in text
    copy = tmp_path / "ratchet.service"
    copy.write_text(text.replace(INSTALLED_RATCHET, str(local)))
    return copy


def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    tool = require("systemd-analyze", "systemd")

    result = subprocess.run([tool, "verify", str(_checked_copy(tmp_path))], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "ratchet.service" not in result.stderr, result.stderr  # no warning about the unit


def test_systemd_rates_the_units_exposure_ok(tmp_path):
    tool = require("systemd-analyze", "systemd")

    # --threshold is on systemd's 0-100 scale: 30 is the 3.0 it prints ("OK" is below 4.0).
    result = subprocess.run([tool, "security", "--offline=yes", "--threshold=30",
                             str(_checked_copy(tmp_path))], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)

    assert result.returncode == 0, result.stdout[-1500:] + result.stderr
    exposure = re.search(r"Overall exposure level for ratchet\.service: ([0-9.]+)", result.stdout)
    assert exposure and float(exposure[1]) <= 3.0  # display


def test_the_unit_restarts_always_as_a_dedicated_user_with_keys_from_a_file():
    d = _directives(UNIT.read_text())

    assert d["Restart"] == ["always"]
    assert d["User"] == ["ratchet"] and d["Group"] == ["ratchet"]
    assert d["EnvironmentFile"] == ["/etc/ratchet/ratchet.env"]
    assert not any(k in d for k in ("Environment", "PassEnvironment"))  # keys only in the file
    assert d["ProtectSystem"] == ["strict"] and d["NoNewPrivileges"] == ["true"]
    assert d["StateDirectory"] == ["ratchet"] and d["ReadWritePaths"] == ["/var/lib/ratchet"]
    assert d["UMask"] == ["0077"]
    assert d["KillSignal"] == ["SIGTERM"]
    # Only bad input (exit 2) is not restarted: no restart can fix a config.
    assert d["RestartPreventExitStatus"] == ["2"]


def test_the_service_config_keeps_its_state_in_the_state_directory():
    exec_start = _directives(UNIT.read_text())["ExecStart"][0].split()
    config = REPO / "deploy" / "ratchet.toml"
    cfg = load_config(config, need_keys=False)

    assert exec_start[1:4] == ["run", "-c", "/etc/ratchet/ratchet.toml"]
    assert cfg.engine.db_path == Path("/var/lib/ratchet/ratchet.db")
    assert cfg.exchange.live is False  # real money stays a deliberate edit
    assert cfg.exchange.testnet is True  # so it starts as shipped, without a restart loop
    assert "api_key" not in config.read_text() and "api_secret" not in config.read_text()


def test_the_shipped_config_and_the_units_flags_agree():
    """The unit passes --live; the shipped config is the testnet: the live-money rule lets it
    start, so the unit does not restart it in a loop."""
    exec_start = _directives(UNIT.read_text())["ExecStart"][0].split()
    cfg = load_config(REPO / "deploy" / "ratchet.toml", need_keys=False)

    check_live_safety(cfg, live_flag="--live" in exec_start)  # no refusal


def test_the_shipped_config_trades_with_the_units_flags(tmp_path):
    """The shipped file, its venue pointed at the sim and its DB at a temp directory, run with
    the unit's exact arguments: it trades and stops with exit 0."""
    sim = Sim(tmp_path)
    try:
        text = (REPO / "deploy" / "ratchet.toml").read_text()
        text = text.replace("/var/lib/ratchet/ratchet.db", str(tmp_path / "ratchet.db"))
        text = text.replace("metrics_port = 9464", f"metrics_port = {engine.free_port()}")
        text = text.replace("testnet = true", f'testnet = false\nbase_url = "{sim.url}"')
        config = tmp_path / "ratchet.toml"
        config.write_text(text)
        args = _directives(UNIT.read_text())["ExecStart"][0].split()[1:]
        args[args.index("/etc/ratchet/ratchet.toml")] = str(config)
        done = subprocess.run([*engine.RATCHET, *args, "--duration", "3"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120,
                              env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin",
                                   "RATCHET_API_KEY": KEY, "RATCHET_API_SECRET": SECRET})
    finally:
        sim.stop()

    assert done.returncode == 0, done.stderr[-2000:]
    assert "the plan" in done.stdout and "ratchet: stopped;" in done.stdout
