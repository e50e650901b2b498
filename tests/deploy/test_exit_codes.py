"""Exit codes say whether a restart can help, and the unit agrees: a read-only disk, a DB held
by a live engine and a venue that does not answer at boot exit 75, which the unit restarts; a
config error exits 2, which it does not. README's exit-code table says the same."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from core.errors import EXIT_BAD_INPUT, EXIT_UNAVAILABLE
from tests.conftest import REPO
from tests.deploy.test_service import UNIT, _directives
from tests.integration import engine

RATCHET = str(REPO / ".venv" / "bin" / "ratchet")


def restarted(code: int) -> bool:
    """Whether deploy/ratchet.service restarts the engine after ``code``."""
    d = _directives(UNIT.read_text())
    prevented = {int(c) for line in d.get("RestartPreventExitStatus", []) for c in line.split()}
    return d["Restart"] == ["always"] and code not in prevented


def paper_config(directory: Path, db: str) -> Path:
    path = directory / "ratchet.toml"
    path.write_text(f'[engine]\ndb_path = "{db}"\nmetrics_port = {engine.free_port()}\n'
                    '[[pairs]]\nsymbol = "BTCUSDT"\n')
    return path


def run(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, cwd=cwd,
                          env=env)


def test_a_boot_on_a_read_only_disk_exits_75_and_is_restarted(tmp_path):
    unshare = shutil.which("unshare")
    assert unshare, "util-linux's unshare runs the engine over a read-only mount"
    ro = tmp_path / "ro"
    ro.mkdir()
    config = paper_config(tmp_path, str(ro / "state" / "ratchet.db"))

    result = run(unshare, "-rm", "sh", "-c",
                 f'mount -t tmpfs -o ro tmpfs "{ro}" && exec "{RATCHET}" run -c "{config}" '
                 "--duration 5", cwd=tmp_path)

    assert result.returncode == EXIT_UNAVAILABLE, result.stderr
    assert "read-only" in result.stderr.lower() and len(result.stderr.splitlines()) == 1
    assert restarted(result.returncode)


def test_a_config_error_exits_2_and_is_not_restarted(tmp_path):
    config = paper_config(tmp_path, "ratchet.db")
    config.write_text(config.read_text() + 'trail_pct = "-1"\n')

    result = run(RATCHET, "run", "-c", str(config), "--duration", "5", cwd=tmp_path)

    assert result.returncode == EXIT_BAD_INPUT and "trail_pct" in result.stderr
    assert not restarted(result.returncode)


def test_a_venue_that_does_not_answer_at_boot_exits_75_naming_it(tmp_path):
    url = f"http://127.0.0.1:{engine.free_port()}"  # nothing listens there
    config = tmp_path / "ratchet.toml"
    config.write_text(f'[engine]\nmode = "binance"\ndb_path = "ratchet.db"\n'
                      f"metrics_port = {engine.free_port()}\n[exchange]\n"
                      f'base_url = "{url}"\ntimeout_s = "1"\n[feed]\nkind = "binance"\n'
                      '[[pairs]]\nsymbol = "BTCUSDT"\n')
    env = {"RATCHET_API_KEY": "k", "RATCHET_API_SECRET": "s", "PATH": "/usr/bin:/bin"}

    result = run(RATCHET, "run", "-c", str(config), "--duration", "5", cwd=tmp_path, env=env)

    assert result.returncode == EXIT_UNAVAILABLE, result.stderr
    assert url in result.stderr and len(result.stderr.splitlines()) == 1
    assert restarted(result.returncode)


@pytest.mark.parametrize(("code", "restart"), [(0, "restarted"), (1, "restarted"),
                                               (2, "not restarted"), (3, "restarted"),
                                               (75, "restarted")])
def test_the_readmes_exit_code_table_says_what_the_unit_does(code, restart):
    rows = dict(re.findall(r"^\| (\d+) \| .+ \| (restarted|not restarted) \|$",
                           (REPO / "README.md").read_text(), re.MULTILINE))

    assert rows[str(code)] == restart
    assert restarted(code) is (restart == "restarted")
