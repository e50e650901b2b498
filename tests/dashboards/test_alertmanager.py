"""dashboards/alertmanager.yml: amtool accepts it, it routes every alert to a person by its
severity, every rule of alerts.yml carries a severity, and ``make alertmanager``'s renderer fills
in the marked values from the environment or files without a secret ever entering the repo.

Without ``amtool`` (Debian: prometheus-alertmanager) the amtool tests skip, except under
``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dashboards.alert_stack import require
from tests.dashboards.promql import DASHBOARDS

ALERTMANAGER_YML = DASHBOARDS / "alertmanager.yml"
RENDER = DASHBOARDS / "render_alertmanager.py"
#: A Telegram bot token's shape (``<bot id>:<35 characters>``).
TELEGRAM_TOKEN = re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b")
FAKE_TOKEN = "123456789:AAFakeFakeFakeFakeFakeFakeFakeFake123"


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    amtool = require("amtool", "prometheus-alertmanager")
    return subprocess.run([amtool, *args], cwd=DASHBOARDS, capture_output=True, text=True,
                          timeout=60)


def _routes(config: Path, *labels: str) -> set[str]:
    result = _amtool("config", "routes", "test", f"--config.file={config}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    return set(result.stdout.strip().split(","))


def _render(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RATCHET_")}
    return subprocess.run([sys.executable, str(RENDER), str(ALERTMANAGER_YML),
                           str(tmp_path / "am" / "alertmanager.yml")],
                          env={**clean, **env}, capture_output=True, text=True, timeout=60)


def test_amtool_check_config_accepts_the_shipped_file():
    result = _amtool("check-config", "alertmanager.yml")

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("labels", "receivers"), [
    (("alertname=RatchetPositionUnprotected", "severity=critical", "symbol=BTCUSDT"),
     {"webhook", "email", "telegram"}),
    (("alertname=RatchetExchangeBanned", "severity=critical"), {"webhook", "email", "telegram"}),
    (("alertname=RatchetFeedStale", "severity=warning", "symbol=BTCUSDT"), {"webhook", "email"}),
], ids=["unprotected", "banned", "stale-feed"])
def test_alerts_are_routed_by_severity(labels, receivers):
    assert _routes(ALERTMANAGER_YML, *labels) == receivers


def test_every_alert_rule_has_a_severity_the_routes_know():
    text = (DASHBOARDS / "alerts.yml").read_text()
    rules = re.split(r"^\s*- alert:\s*", text, flags=re.MULTILINE)[1:]

    severities = {rule.split()[0]: re.findall(r"^\s*severity:\s*(\S+)\s*$", rule, re.MULTILINE)
                  for rule in rules}

    assert len(severities) >= 7
    assert {name: s for name, s in severities.items()
            if s not in (["critical"], ["warning"])} == {}


def test_the_shipped_file_holds_no_secret():
    text = ALERTMANAGER_YML.read_text()

    assert not TELEGRAM_TOKEN.search(text)
    assert not re.search(r"^\s*auth_password:", text, re.MULTILINE)  # only auth_password_file


def test_render_fills_marked_values_from_env_and_files_into_a_private_file(tmp_path):
    token_file = tmp_path / "telegram_bot_token"
    token_file.write_text(FAKE_TOKEN + "\n")

    done = _render(tmp_path, {"RATCHET_TELEGRAM_BOT_TOKEN_FILE": str(token_file),
                              "RATCHET_TELEGRAM_CHAT_ID": "-1001234567890",
                              "RATCHET_ALERT_WEBHOOK_URL": "http://127.0.0.1:8099/hook"})

    assert done.returncode == 0, done.stderr
    out = tmp_path / "am" / "alertmanager.yml"
    text = out.read_text()
    assert f'bot_token: "{FAKE_TOKEN}"' in text
    assert "chat_id: -1001234567890" in text
    assert 'url: "http://127.0.0.1:8099/hook"' in text
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "RATCHET_ALERT_EMAIL_TO" in done.stderr  # unset values are named
    assert FAKE_TOKEN not in done.stdout + done.stderr
    checked = _amtool("check-config", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert _routes(out, "severity=critical") == {"webhook", "email", "telegram"}


def test_render_refuses_a_chat_id_that_is_not_an_integer(tmp_path):
    done = _render(tmp_path, {"RATCHET_TELEGRAM_CHAT_ID": "@mychannel"})

    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "RATCHET_TELEGRAM_CHAT_ID must be an integer" in done.stderr
    assert not (tmp_path / "am" / "alertmanager.yml").exists()


@pytest.mark.skipif(shutil.which("git") is None or not (DASHBOARDS.parent / ".git").exists(),
                    reason="needs git and a git checkout")
def test_the_rendered_copy_is_git_ignored():
    ignored = subprocess.run(["git", "check-ignore", "-q", "var/alertmanager/alertmanager.yml"],
                             cwd=DASHBOARDS.parent, capture_output=True, timeout=30)

    assert ignored.returncode == 0
