"""``ratchet preflight`` against the real sim (``ratchet sim-exchange``) through python-binance:
a good account passes with its plan; withdrawals enabled are a loud warning; a wrong key, a
skewed clock, an unknown symbol, ``quote_per_trade`` under the symbol's NOTIONAL and a symbol
whose stop-order cap is full of foreign orders each block, one line saying what to do, with
exit 2. Nothing is ever sent: the sim's order book is the same before and after."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import EXIT_BAD_INPUT
from tests.exchange.binance.simproc import KEY, REPO, SECRET, Sim

RATCHET = [sys.executable, "-m", "cli.main"]
GOOD_PAIRS = {"BTCUSDT": "", "ETHUSDT": 'entry = "adopt"\nkeep_qty = "0.1"',
              "SOLUSDT": 'stop_mode = "auto"'}


def config(directory: Path, sim: Sim, pairs: dict[str, str] = GOOD_PAIRS,
           defaults: str = "") -> Path:
    lines = ["[engine]", 'mode = "binance"', 'db_path = "ratchet.db"', "metrics_port = 1",
             "[exchange]", f'base_url = "{sim.url}"', "[feed]", 'kind = "binance"',
             "[defaults]", 'trail_pct = "1"', 'min_move_pct = "0.1"', defaults]
    for symbol, extra in pairs.items():
        lines += ["[[pairs]]", f'symbol = "{symbol}"', extra]
    path = directory / "ratchet.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def preflight(path: Path, *, secret: str = SECRET) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RATCHET_")}
    return subprocess.run([*RATCHET, "preflight", "-c", str(path)], cwd=path.parent,
                          capture_output=True, text=True, timeout=120,
                          env={**env, "PYTHONPATH": str(REPO), "RATCHET_API_KEY": KEY,
                               "RATCHET_API_SECRET": secret})


def marked(stdout: str, name: str) -> str:
    """The check line named ``name`` (``✓ name: ...``), or ''."""
    return next((line for line in stdout.splitlines()
                 if line[2:].startswith(f"{name}:")), "")


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    sim = Sim(tmp_path_factory.mktemp("sim"), "--balance", "USDT=1000", "--balance",
              "ETH=0.5", "--balance", "BTC=1")
    yield sim
    sim.stop()


def test_a_good_account_passes_and_prints_the_plan_sending_nothing(sim, tmp_path):
    before = sim.orders()

    done = preflight(config(tmp_path, sim))

    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for name in ("venue", "keys", "spot trading", "withdrawals", "clock", "BTCUSDT",
                 "ETHUSDT", "SOLUSDT", "open orders (ours)", "open orders (foreign)"):
        assert marked(out, name).startswith("✓"), (name, out)
    assert marked(out, "IP restriction").startswith("!")  # the sim's key is not restricted
    assert "✗" not in out
    plan = out[out.index("the plan"):]
    assert "BTCUSDT  buy about" in plan and "then a stop at" in plan
    assert "ETHUSDT  adopt 0.40000 ETH" in plan  # 0.5 held, keep_qty 0.1
    assert "SOLUSDT  buy about" in plan and "native trailing stop, trailingDelta 100" in plan
    assert "1 adopted, 2 bought (200 USDT)" in plan
    assert out.splitlines()[-1].startswith("preflight: nothing blocks the first run")
    assert sim.orders() == before
    assert not (tmp_path / "ratchet.db").exists()


def test_a_wrong_key_blocks_with_one_line(sim, tmp_path):
    done = preflight(config(tmp_path, sim), secret="not-the-secret")

    assert done.returncode == EXIT_BAD_INPUT
    assert marked(done.stdout, "keys").startswith("✗ keys: the venue refuses")
    assert "the plan" not in done.stdout


def test_a_skewed_clock_blocks(sim, tmp_path):
    sim.control("POST", "/sim/clock", {"shift_ms": 30_000})
    try:
        done = preflight(config(tmp_path, sim))
    finally:
        sim.control("POST", "/sim/clock", {"shift_ms": 0})

    assert done.returncode == EXIT_BAD_INPUT, done.stdout + done.stderr
    line = marked(done.stdout, "clock")
    assert line.startswith("✗ clock: +30.") and "recv_window_ms (5000)" in line
    assert "sync this machine's clock" in line


def test_an_unknown_symbol_blocks(sim, tmp_path):
    done = preflight(config(tmp_path, sim, {"BTCUSDT": "", "NOPEUSDT": ""}))

    assert done.returncode == EXIT_BAD_INPUT, done.stdout + done.stderr
    assert marked(done.stdout, "NOPEUSDT").startswith("✗ NOPEUSDT: not listed on this venue")
    assert "NOPEUSDT  nothing: the venue does not list this symbol" in done.stdout
    assert marked(done.stdout, "BTCUSDT").startswith("✓")


def test_quote_per_trade_under_the_symbols_notional_blocks(sim, tmp_path):
    # The config's own min_notional (paper mode's) is 1; the sim's NOTIONAL is 5.
    pairs = {"BTCUSDT": 'quote_per_trade = "4"\nmin_notional = "1"', "SOLUSDT": ""}
    done = preflight(config(tmp_path, sim, pairs))

    assert done.returncode == EXIT_BAD_INPUT, done.stdout + done.stderr
    line = marked(done.stdout, "BTCUSDT quote_per_trade")
    assert line.startswith("✗") and "4.00 USDT is under the symbol's NOTIONAL 5.00 USDT" in line
    # 5 / (0.99 × 0.995 × 0.999): a stop 1 % under the entry, its limit 0.5 % lower, less the fee
    assert "set quote_per_trade to 5.09 USDT or more" in line
    assert "BTCUSDT  nothing: quote_per_trade 4.00 USDT" in done.stdout


def test_foreign_orders_and_a_full_stop_order_cap_are_reported(tmp_path):
    sim = Sim(tmp_path, "--balance", "USDT=1000", "--balance", "BTC=1")
    try:
        price = sim.info()["prices"]["BTCUSDT"]
        for i in range(5):  # MAX_NUM_ALGO_ORDERS: 5 on the sim, as on Binance
            sim.control("POST", "/sim/order", {
                "symbol": "BTCUSDT", "side": "SELL", "type": "STOP_LOSS_LIMIT",
                "quantity": "0.01", "stopPrice": f"{float(price) * 0.95 - i:.2f}",  # display
                "price": f"{float(price) * 0.94:.2f}", "newClientOrderId": f"bot-{i}"})
        sim.control("POST", "/sim/order", {
            "symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01",
            "price": f"{float(sim.info()['prices']['ETHUSDT']) * 0.9:.2f}",  # display
            "newClientOrderId": "by-hand-1"})

        done = preflight(config(tmp_path, sim, {"BTCUSDT": "", "ETHUSDT": ""}))
    finally:
        sim.stop()

    assert done.returncode == EXIT_BAD_INPUT, done.stdout + done.stderr
    foreign = marked(done.stdout, "open orders (foreign)")
    assert foreign.startswith("!") and "6 not Ratchet's" in foreign
    assert "BTCUSDT 5" in foreign and "ETHUSDT 1" in foreign
    cap = marked(done.stdout, "BTCUSDT stop orders")
    assert cap.startswith("✗ BTCUSDT stop orders: 5 of MAX_NUM_ALGO_ORDERS 5")
    assert marked(done.stdout, "open orders (ours)").startswith("✓")


def test_withdrawals_enabled_is_a_loud_warning_not_a_block(tmp_path):
    sim = Sim(tmp_path, "--can-withdraw", "--balance", "USDT=1000")
    try:
        done = preflight(config(tmp_path, sim, {"BTCUSDT": ""}))
    finally:
        sim.stop()

    assert done.returncode == 0, done.stdout + done.stderr
    line = marked(done.stdout, "withdrawals")
    assert line.startswith("! withdrawals: ENABLED ON THIS KEY")
    assert "'Enable Withdrawals' off" in line


def test_paper_mode_needs_no_preflight(tmp_path):
    path = tmp_path / "ratchet.toml"
    path.write_text('[[pairs]]\nsymbol = "BTCUSDT"\n')

    done = subprocess.run([*RATCHET, "preflight", "-c", str(path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})

    assert done.returncode == EXIT_BAD_INPUT and len(done.stderr.splitlines()) == 1
    assert "binance-mode" in done.stderr
