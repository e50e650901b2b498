"""Real processes for the chaos runs: a ``ratchet sim-exchange`` that can be killed and started
again on the same port and state file, and ``ratchet run`` in binance mode against it.

Both write their output to files in the test's directory (a pipe nobody reads would fill up and
block the engine's logging). Secrets are passed only through the environment.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.integration.engine import free_port

REPO = Path(__file__).resolve().parents[2]
RATCHET = [sys.executable, "-m", "cli.main"]
KEY, SECRET = "chaos-api-key-7Qm2", "chaos-api-secret-Zt9w"
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")
READY = re.compile(r"^ratchet: binance mode, ", re.M)

# Fast enough that stops move and fill every few seconds with a 0.3 % trail. The rate limits
# are ten times Binance's: a restart every few seconds costs far more weight (exchangeInfo,
# account, all open orders, a query per unsettled order) than any real engine spends, and at
# Binance's limits the engine rightly holds back its REST polling (over 70 % of the weight),
# which delays, not loses, a fill made before its user stream is up.
FAST_SIM = ("--volatility-pct", "8", "--interval-ms", "100", "--orders-10s", "1000",
            "--weight-1m", "60000")


def symbols(n: int) -> list[str]:
    return [f"C{i:02d}USDT" for i in range(1, n + 1)]


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RATCHET_API_KEY", "RATCHET_API_SECRET", "RATCHET_DB_PASSWORD",
                        "DB_PASSWORD")}
    return {**env, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **(extra or {})}


def wait_until(predicate: Callable[[], Any], *, timeout: float, what: str,
               interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class SimProcess:
    """``ratchet sim-exchange`` on loopback with a state file that outlives the process."""

    def __init__(self, workdir: Path, syms: Sequence[str], *args: str,
                 key: str = KEY, secret: str = SECRET) -> None:
        self.workdir = workdir
        self.state = workdir / "sim-state.db"
        self.symbols = list(syms)
        self.args = list(args)
        self.key, self.secret = key, secret
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> SimProcess:
        log = self.workdir / f"sim-{self.starts}.log"
        self.starts += 1
        cmd = [*RATCHET, "sim-exchange", "--port", str(self.port), "--state", str(self.state),
               "--api-key", self.key, "--api-secret", self.secret,
               "--symbols", *self.symbols, *self.args]
        with open(log, "w") as out:
            self.proc = subprocess.Popen(cmd, cwd=self.workdir, env=_env(None), stdout=out,
                                         stderr=subprocess.STDOUT)
        port = wait_until(lambda: self._port(log), timeout=timeout,
                          what=f"the sim to listen ({log})")
        self.port = int(port)
        return self

    def _port(self, log: Path) -> str | None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"sim exited {self.proc.returncode}: {log.read_text()}")
        m = LISTENING.search(log.read_text())
        return m.group(1) if m else None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(15)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    # --- control API (exchange/sim/PROTOCOL.md) -----------------------------------------------

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read().decode() or "null")

    def pause(self, paused: bool = True) -> None:
        self.control("POST", "/sim/pause", {"paused": paused})

    def prices(self) -> dict[str, str]:
        return self.control("GET", "/sim/info")["prices"]

    def nudge(self) -> None:
        """Print every symbol's last price once more: each pair gets one tick that changes no
        highest, so a stop move held back while another was in flight is made now."""
        for symbol, price in self.prices().items():
            self.control("POST", "/sim/price", {"symbol": symbol, "price": price})

    def orders(self) -> list[dict[str, Any]]:
        return self.control("GET", "/sim/orders")

    def records(self, prefix: str) -> tuple[list[dict], list[dict], int]:
        """The sim's own records, read from its state file (``exchange/book.py``) in one read
        transaction: its open orders, every fill with its order's client id, and how many
        orders with ``prefix`` it ever took. ``/sim/orders`` and ``/sim/trades`` serve the
        same rows as JSON, but at thousands of orders each costs half a second."""
        conn = sqlite3.connect(f"{self.state.as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            conn.execute("BEGIN")
            open_orders = [
                {"orderId": oid, "clientOrderId": cid, "symbol": sym, "side": side,
                 "type": type_, "origQty": qty, "price": price, "stopPrice": stop,
                 "status": status, "trailingDelta": delta}
                for oid, cid, sym, side, type_, qty, price, stop, status, delta in conn.execute(
                    "SELECT order_id, client_order_id, symbol, side, type, qty, price, "
                    "stop_price, status, trailing_delta FROM orders "
                    "WHERE status IN ('NEW', 'PARTIALLY_FILLED') ORDER BY order_id")]
            trades = [
                {"id": tid, "orderId": oid, "clientOrderId": cid, "symbol": sym, "price": price,
                 "qty": qty, "commission": fee, "commissionAsset": asset,
                 "isBuyer": side == "BUY"}
                for tid, oid, cid, sym, side, price, qty, fee, asset in conn.execute(
                    "SELECT t.trade_id, t.order_id, o.client_order_id, t.symbol, t.side, "
                    "t.price, t.qty, t.commission, t.commission_asset FROM trades t "
                    "JOIN orders o ON o.order_id = t.order_id ORDER BY t.trade_id")]
            count = conn.execute("SELECT count(*) FROM orders WHERE client_order_id LIKE ?",
                                 (prefix + "-%",)).fetchone()[0]
            conn.execute("COMMIT")
        finally:
            conn.close()
        return open_orders, trades, count

    def trades(self) -> list[dict[str, Any]]:
        return self.control("GET", "/sim/trades")


class EngineProcess:
    """``ratchet run`` on a config; output goes to ``engine-N.log`` in the config's folder."""

    def __init__(self, config: Path, *, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.env = {"RATCHET_API_KEY": KEY, "RATCHET_API_SECRET": SECRET, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.log: Path | None = None
        self.runs = 0
        self.started_at = 0.0

    def start(self, *args: str) -> EngineProcess:
        self.log = self.config.parent / f"engine-{self.runs}.log"
        self.runs += 1
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen([*RATCHET, "run", "-c", str(self.config), *args],
                                         cwd=self.config.parent, env=_env(self.env),
                                         stdout=out, stderr=subprocess.STDOUT)
        self.started_at = time.monotonic()
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""

    def ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"engine exited {self.proc.returncode} before it was "
                                 f"ready:\n{self.output()[-3000:]}")
        return bool(READY.search(self.output()))

    def wait_ready(self, timeout: float = 60) -> float:
        """Wait for the boot line (printed after reconciliation); return when it was seen."""
        wait_until(self.ready, timeout=timeout, what=f"the engine to boot ({self.log})")
        return time.monotonic()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int, timeout: float = 60) -> int:
        """Send ``sig`` and wait for the process to end; return its exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)


def metric_total(url: str, name: str) -> float:
    """Sum of every sample of ``name`` on a /metrics page (0 when absent). Test display only."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])  # display: a counter sample
    return total


# Fast trading for the chaos runs: a 0.3 % trail, 50 USDT a trade, a 1 s stop-fill timeout.
CHAOS_DEFAULTS = "\n".join([
    'trail_pct = "0.3"', 'min_move_pct = "0.05"', 'limit_offset_pct = "0.2"',
    'quote_per_trade = "50"', 'stop_fill_timeout_s = "1"',
])


def write_binance_config(directory: Path, sim_url: str, syms: Sequence[str], *,
                         db_path: str = "ratchet.db", defaults: str = "",
                         engine: str = "") -> tuple[Path, int]:
    """A binance-mode config against the sim; returns it and its metrics port."""
    port = free_port()
    lines = [
        "[engine]", 'mode = "binance"', f'db_path = "{db_path}"', f"metrics_port = {port}",
        "status_interval_s = 3600", engine,
        "[exchange]", f'base_url = "{sim_url}"', 'timeout_s = "3"',
        "[feed]", 'kind = "binance"',
        "[defaults]",
        defaults or CHAOS_DEFAULTS,
    ]
    for symbol in syms:
        lines += ["[[pairs]]", f'symbol = "{symbol}"']
    path = directory / "ratchet.toml"
    path.write_text("\n".join(lines) + "\n")
    return path, port
