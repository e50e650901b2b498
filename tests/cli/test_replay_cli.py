"""``ratchet replay``: reports, plots, and one-line errors for malformed input (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import pytest

from core.backtest import simulate
from core.prices import read_prices
from core.symbols import paper_filters
from core.types import PairSettings, StopMode
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


def forex_csv(tmp_path, name: str, divisor: int, places: int, bars: int = 600):
    """Hourly-looking bars of another market, shaped like the BTC path (prices / divisor)."""
    lines = btc_lines(bars + 1).splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        ts, *ohlc, volume = line.split(",")
        out.append(",".join([ts, *(f"{float(v) / divisor:.{places}f}" for v in ohlc),  # display
                             volume]))
    path = tmp_path / name
    path.write_text("\n".join(out) + "\n")
    return path


def test_eurusd_replay_infers_the_usd_quote_and_trades(tmp_path):
    prices = forex_csv(tmp_path, "eurusd.csv", 40000, 5)
    (tmp_path / "ratchet.toml").write_text(
        '[[pairs]]\nsymbol = "EURUSD"\nstep = "1"\ntick = "0.00001"\ntrail_pct = "0.5"\n')

    done = ratchet("replay", str(prices), "--symbol", "EURUSD", "--report", "r.json",
                   cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    trades = json.loads((tmp_path / "r.json").read_text())["trades"]
    assert len(trades) > 3
    assert all(Decimal(t["qty"]) == Decimal(t["qty"]).to_integral_value() for t in trades)


def test_stock_replay_trades_with_quote_usd_and_is_refused_without_it(tmp_path):
    prices = forex_csv(tmp_path, "goog.csv", 300, 2)
    pair = '[[pairs]]\nsymbol = "GOOG"\nstep = "1"\nquote_per_trade = 1000\ntrail_pct = 0.5\n'
    (tmp_path / "ratchet.toml").write_text(pair + 'quote = "USD"\n')

    done = ratchet("replay", str(prices), "--symbol", "GOOG", "--report", "r.json",
                   cwd=tmp_path)
    (tmp_path / "ratchet.toml").write_text(pair)
    refused = ratchet("replay", str(prices), "--symbol", "GOOG", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert len(json.loads((tmp_path / "r.json").read_text())["trades"]) > 3
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "set quote" in refused.stderr


def test_a_replay_whose_every_entry_is_refused_exits_2_naming_the_reason(tmp_path):
    prices = tmp_path / "btc.csv"
    prices.write_text(btc_lines(301))
    (tmp_path / "ratchet.toml").write_text(
        '[paper]\nbalances = { USDT = "50" }\n[[pairs]]\nsymbol = "BTCUSDT"\n')

    done = ratchet("replay", str(prices), "--symbol", "BTCUSDT", "--log-format", "json",
                   cwd=tmp_path)

    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ratchet: replay of BTCUSDT never entered")
    assert "insufficient balance" in last
    warnings = [json.loads(line) for line in done.stderr.strip().splitlines()[:-1]]
    assert warnings and {w["event"] for w in warnings} <= {"order_rejected", "entry_backoff"}


def test_replay_in_native_mode_never_moves_a_stop_and_equals_the_direct_loop(tmp_path):
    prices = tmp_path / "btc.csv"
    prices.write_text(btc_lines(601))
    (tmp_path / "ratchet.toml").write_text(
        '[[pairs]]\nsymbol = "BTCUSDT"\nstop_mode = "native"\ntrail_pct = "0.3"\n')
    settings = PairSettings(symbol="BTCUSDT", stop_mode=StopMode.NATIVE,
                            trail_pct=Decimal("0.3"))

    done = ratchet("replay", str(prices), "--symbol", "BTCUSDT", "--report", "r.json",
                   cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    expected = simulate(read_prices(prices), settings, paper_filters(settings)).to_report()
    assert report == json.loads(json.dumps(expected))
    assert report["stop_moves"] == 0 and len(report["trades"]) > 3
    assert report["orders_sent"] == 2 * len(report["trades"]) + sum(
        1 for t in report["trades"] if t["exit_reason"] == "timeout")


def test_replay_of_a_native_pair_outside_its_trailing_delta_bounds_is_one_line_exit_2(tmp_path):
    prices = tmp_path / "btc.csv"
    prices.write_text(btc_lines(11))
    (tmp_path / "ratchet.toml").write_text(
        '[[pairs]]\nsymbol = "BTCUSDT"\nstop_mode = "native"\nmax_trailing_delta = 200\n')

    done = ratchet("replay", str(prices), "--symbol", "BTCUSDT", cwd=tmp_path)

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "TRAILING_DELTA filter [10, 200]" in done.stderr
