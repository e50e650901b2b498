"""``ratchet sim-exchange`` as a process: its one ready line, SIGTERM, and a state that
outlives kill -9."""

from __future__ import annotations

import signal
import subprocess
import sys

from tests.conftest import REPO
from tests.exchange.sim.conftest import KEY, SECRET, buy_btc, make_client, place_stop


def start(*args: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "sim-exchange", "--port", "0",
         "--api-key", KEY, "--api-secret", SECRET, *args],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = process.stdout.readline()
    return process, line


def test_prints_one_ready_line_and_stops_cleanly_on_sigterm(tmp_path):
    process, line = start("--state", str(tmp_path / "s.db"))
    url = line.strip().removeprefix("listening on ")
    pong = make_client(url).ping()

    process.send_signal(signal.SIGTERM)
    rest, errors = process.communicate(timeout=20)

    assert line.startswith("listening on http://127.0.0.1:") and line.endswith("\n")
    assert pong == {}
    assert (process.returncode, rest, errors) == (0, "", "")


def test_state_file_survives_kill_9(tmp_path):
    state = tmp_path / "sim.db"
    first, line = start("--state", str(state), "--balance", "USDT=5000", "--interval-ms",
                        "60000")
    client = make_client(line.strip().removeprefix("listening on "))
    buy_btc(client)
    place_stop(client)
    before = client.get_open_orders()

    first.kill()
    first.communicate(timeout=20)
    second, line = start("--state", str(state), "--interval-ms", "60000")
    client = make_client(line.strip().removeprefix("listening on "))
    after = client.get_open_orders()
    balances = {b["asset"]: b for b in client.get_account()["balances"]}
    trades = client.get_my_trades(symbol="BTCUSDT")
    second.send_signal(signal.SIGTERM)
    second.communicate(timeout=20)

    assert first.returncode == -signal.SIGKILL
    assert after == before
    assert balances["BTC"]["locked"] == "0.00999000"  # 0.01 bought, its fee paid in BTC
    assert balances["USDT"]["free"] == "4500.00000000"  # seeded once: 5000 - 500
    assert len(trades) == 1


def test_bad_balance_argument_is_one_line_and_exit_2():
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "sim-exchange", "--port", "0", "--balance", "USDT"],
        cwd=REPO, capture_output=True, text=True, timeout=30,
    )

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "ASSET=AMOUNT" in done.stderr


def test_fee_asset_without_its_price_is_one_line_and_exit_2():
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "sim-exchange", "--port", "0", "--fee-asset", "BNB",
         "--symbols", "BTCUSDT"],
        cwd=REPO, capture_output=True, text=True, timeout=30,
    )

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "BNBUSDT" in done.stderr


def test_fee_flags_reach_the_book(tmp_path):
    process, line = start("--state", str(tmp_path / "s.db"), "--symbols", "BTCUSDT", "BNBUSDT",
                          "--fee-asset", "bnb", "--balance", "USDT=1000", "--balance", "BNB=1",
                          "--interval-ms", "60000")
    client = make_client(line.strip().removeprefix("listening on "))
    bnb = buy_btc(client)["fills"][0]["commissionAsset"]
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=20)
    process, line = start("--state", str(tmp_path / "q.db"), "--fee-mode", "quote",
                          "--interval-ms", "60000")
    client = make_client(line.strip().removeprefix("listening on "))
    quote = buy_btc(client)["fills"][0]["commissionAsset"]
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=20)

    assert (bnb, quote) == ("BNB", "USDT")
