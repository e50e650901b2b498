"""``ratchet sim-exchange`` as a process: its one ready line, SIGTERM, and a state that
outlives kill -9."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from binance.exceptions import BinanceAPIException
from websockets.sync.client import connect

from tests.conftest import REPO
from tests.exchange.sim.conftest import KEY, SECRET, buy_btc, control, make_client, place_stop


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


def test_live_venue_flags_reach_the_sim():
    process, line = start("--interval-ms", "60000", "--late-rate", "1", "--ws-ping-s", "0.2",
                          "--ws-max-age-s", "1", "--ws-shutdown-notice-s", "0.5")
    url = line.strip().removeprefix("listening on ")
    try:
        with connect(url.replace("http", "ws") + "/ws-api/v3") as ws:
            notice = json.loads(ws.recv(timeout=5))
        with pytest.raises(BinanceAPIException) as err:
            buy_btc(make_client(url))
        info = control(url, "info")
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)

    assert notice["event"]["e"] == "serverShutdown"
    assert err.value.status_code in (500, 503)
    assert info["late"]["pending"] + info["late"]["landed"] == 1
    assert "--ws-shutdown-notice-s" in subprocess.run(
        [sys.executable, "-m", "cli.main", "sim-exchange", "--help"], cwd=REPO,
        capture_output=True, text=True, timeout=30).stdout
