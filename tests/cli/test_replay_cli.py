"""``ratchet replay``: reports, plots, and one-line errors for malformed input (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, btc_lines

RATCHET = [sys.executable, "-m", "cli.main"]


def ratchet(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([*RATCHET, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def test_replay_writes_the_report_and_the_plot(tmp_path):
    prices = tmp_path / "btc.csv"
    prices.write_text(btc_lines(601))

    done = ratchet("replay", str(prices), "--symbol", "BTCUSDT", "--report", "r.json",
                   "--plot", "p.png", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert set(report) == {"trades", "orders_sent", "stop_moves", "final_position"}
    assert report["trades"] and set(report["trades"][0]) == {
        "entry_time", "entry_price", "exit_time", "exit_price", "qty", "pnl", "exit_reason"}
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        pytest.param("timestamp,open,high,close\n1,1,1,1\n", "low", id="missing-column"),
        pytest.param("timestamp,price\n1,100\n2,1o1\n", "row 3", id="bad-number"),
        pytest.param("timestamp,price\n5,100\n4,101\n", "row 3", id="timestamps-out-of-order"),
        pytest.param("", "empty", id="empty-file"),
        pytest.param("timestamp,price\n1,100\n2,101,7\n", "row 3", id="more-cells-than-header"),
    ],
)
def test_malformed_csv_is_one_line_naming_file_and_row_with_exit_2(tmp_path, text, needle):
    prices = tmp_path / "bad.csv"
    prices.write_text(text)

    done = ratchet("replay", str(prices), "--symbol", "BTCUSDT", cwd=tmp_path)

    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "bad.csv" in lines[0] and needle in lines[0]


def test_min_notional_out_of_reach_stops_the_replay_naming_time_and_price(tmp_path):
    prices = tmp_path / "cheap.csv"
    prices.write_text("timestamp,price\n1000,200\n2000,201\n")  # 150 buys 0 whole units
    (tmp_path / "ratchet.toml").write_text(
        '[[pairs]]\nsymbol = "BTCUSDT"\nstep = "1"\nquote_per_trade = "150"\n')

    done = ratchet("replay", str(prices), "--symbol", "BTCUSDT", cwd=tmp_path)

    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "min_notional" in lines[0] and "200" in lines[0] and "1000" in lines[0]
