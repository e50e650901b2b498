"""``ratchet sweep``: each cell of the table equals one ``ratchet replay`` (through the actors)
with those settings; the heatmap is a valid PNG; bad grids are one line and exit 2."""

from __future__ import annotations

import csv
import json
import struct
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from cli.sweep import max_drawdown, time_in_market_pct
from core.backtest import BacktestResult, TradeRecord
from core.prices import PricePoint
from tests.conftest import REPO, btc_lines

RATCHET = [sys.executable, "-m", "cli.main"]
BASE = 'limit_offset_pct = "0.3"\nquote_per_trade = "200"\n'  # not swept: from -c


def ratchet(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*RATCHET, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def test_every_cell_equals_a_single_replay_with_its_settings(tmp_path):
    prices = tmp_path / "btc.csv"
    prices.write_text(btc_lines(601))
    (tmp_path / "base.toml").write_text(f'[[pairs]]\nsymbol = "BTCUSDT"\n{BASE}')

    done = ratchet("sweep", str(prices), "--symbol", "BTCUSDT", "--grid", "trail_pct=1,3",
                   "--grid", "min_move_pct=0.1,0.5", "-c", "base.toml", "-o", "table.csv",
                   "--heatmap", "heat.png", "--jobs", "2", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader((tmp_path / "table.csv").open()))
    assert [(r["trail_pct"], r["min_move_pct"]) for r in rows] == [
        ("1", "0.1"), ("1", "0.5"), ("3", "0.1"), ("3", "0.5")]
    for row in rows:
        config = tmp_path / f"cell-{row['trail_pct']}-{row['min_move_pct']}.toml"
        config.write_text(f'[[pairs]]\nsymbol = "BTCUSDT"\n{BASE}'
                          f'trail_pct = "{row["trail_pct"]}"\n'
                          f'min_move_pct = "{row["min_move_pct"]}"\n')
        replay = ratchet("replay", str(prices), "--symbol", "BTCUSDT", "-c", config.name,
                         "--report", "r.json", cwd=tmp_path)
        assert replay.returncode == 0, replay.stderr
        report = json.loads((tmp_path / "r.json").read_text())
        assert Decimal(row["pnl"]) == sum((Decimal(t["pnl"]) for t in report["trades"]),
                                          Decimal(0)), row
        assert int(row["trades"]) == len(report["trades"])
        assert int(row["orders"]) == report["orders_sent"]
        assert int(row["stop_moves"]) == report["stop_moves"]
    width, height = png_size(tmp_path / "heat.png")
    assert width >= 300 and height >= 200
    assert "best: trail_pct=" in done.stdout


def test_a_single_axis_sweep_draws_a_one_row_heatmap(tmp_path):
    prices = tmp_path / "btc.csv"
    prices.write_text(btc_lines(201))

    done = ratchet("sweep", str(prices), "--symbol", "BTCUSDT", "--grid", "trail_pct=1,2,3",
                   "--heatmap", "heat.png", "--jobs", "1", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert png_size(tmp_path / "heat.png")[0] > 0


@pytest.mark.parametrize(("args", "needle"), [
    pytest.param(("--grid", "trail_pct"), "expected KEY=V1,V2", id="no-equals"),
    pytest.param(("--grid", "symbol=ETHUSDT"), "not a sweepable setting", id="unknown-key"),
    pytest.param(("--grid", "trail_pct=1,-2"), "trail_pct=-2: trail_pct must be > 0",
                 id="negative"),
    pytest.param(("--grid", "trail_pct=1,abc"), "trail_pct=abc", id="not-a-number"),
    pytest.param(("--grid", "trail_pct=1,,2"), "empty value", id="empty-value"),
    pytest.param(("--grid", "trail_pct=1", "--grid", "trail_pct=2"), "given twice",
                 id="twice"),
    pytest.param(("--grid", "trail_pct=1,1"), "repeated", id="repeated-value"),
    pytest.param((), "--grid is required", id="no-grid"),
    pytest.param(("--grid", "trail_pct=1", "--jobs", "0"), "--jobs must be at least 1",
                 id="jobs"),
])
def test_bad_grids_are_one_line_and_exit_2(tmp_path, args, needle):
    prices = tmp_path / "btc.csv"
    prices.write_text(btc_lines(20))

    done = ratchet("sweep", str(prices), "--symbol", "BTCUSDT", *args, "-o", "t.csv",
                   cwd=tmp_path)

    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and needle in done.stderr, done.stderr
    assert not (tmp_path / "t.csv").exists()


def _trade(entry: str, exit_: str, pnl: str) -> TradeRecord:
    return TradeRecord(entry, Decimal(1), exit_, Decimal(1), Decimal(1), Decimal(pnl), "stop")


def test_max_drawdown_is_the_largest_fall_of_realized_pnl_from_its_peak():
    result = BacktestResult(trades=[_trade("a", "b", p) for p in ("5", "-3", "-4", "6", "-1")])

    assert max_drawdown(result) == Decimal(7)  # from +5 down to -2


def test_time_in_market_is_the_share_of_the_span_held():
    points = [PricePoint(Decimal(t), str(t), Decimal(1)) for t in (0, 10, 20, 30, 40)]
    times = {p.time: p.ts for p in points}
    result = BacktestResult(trades=[_trade("0", "10", "1"), _trade("20", "30", "1")])

    assert time_in_market_pct(result, points, times) == Decimal("50.00")
