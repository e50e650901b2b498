"""A real ``ratchet sim-exchange`` subprocess on loopback, and its ``/sim/...`` control API."""

from __future__ import annotations

import itertools
import json
import os
import re
import select
import signal
import subprocess
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

from exchange.binance import BinanceExchange

REPO = Path(__file__).resolve().parent.parent

KEY, SECRET = "K", "S"
_ids = itertools.count(1)


def cid(tag: str) -> str:
    """A client order id unique within the test session (the sim is shared)."""
    return f"rt-{tag}-{next(_ids)}"
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")


class Sim:
    """Start with ``Sim(tmp_path, "--fail-rate", "0.1")``; ``stop()`` sends SIGTERM."""

    def __init__(self, state_dir: Path, *args: str, latency_ms: int = 0,
                 start_timeout_s: float = 20.0) -> None:
        cmd = [str(REPO / ".venv" / "bin" / "ratchet"), "sim-exchange", "--port", "0",
               "--state", str(state_dir / "sim-state.db"), "--api-key", KEY,
               "--api-secret", SECRET, "--latency-ms", str(latency_ms), *args]
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.url = self._wait_listening(start_timeout_s)
        self.port = int(self.url.rsplit(":", 1)[1])

    def _wait_listening(self, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        seen: list[str] = []
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if not ready:
                if self.proc.poll() is not None:
                    break
                continue
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
            seen.append(line)
            if (m := LISTENING.search(line)) is not None:
                return m.group(1)
        self.stop()
        raise RuntimeError("sim did not start:\n" + "".join(seen))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    # --- control API ------------------------------------------------------------------------

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read().decode()
        return json.loads(text) if text else None

    def price(self, symbol: str, price: str) -> None:
        self.control("POST", "/sim/price", {"symbol": symbol, "price": price})

    def pause(self, paused: bool = True) -> None:
        self.control("POST", "/sim/pause", {"paused": paused})

    def force(self, kind: str, *, count: int = 1, retry_after_s: float = 1) -> None:
        self.control("POST", "/sim/force", {"kind": kind, "count": count,
                                            "retry_after_s": retry_after_s})

    def requests(self) -> dict[str, int]:
        return self.control("GET", "/sim/requests")["counts"]

    def reset_requests(self) -> None:
        self.control("POST", "/sim/requests/reset", {})

    def orders(self) -> list[dict[str, Any]]:
        return self.control("GET", "/sim/orders")

    def info(self) -> dict[str, Any]:
        return self.control("GET", "/sim/info")

    def exchange(self, *, secret: str = SECRET, key: str = KEY, symbols=("BTCUSDT",),
                 timeout_s: str = "2", **kw: Any) -> BinanceExchange:
        return BinanceExchange(api_key=key, api_secret=secret, base_url=self.url, testnet=False,
                               timeout_s=Decimal(timeout_s), recv_window_ms=5000,
                               symbols=symbols, **kw)
