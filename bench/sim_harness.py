"""The real engine (``ratchet run``, binance mode) against a real ``ratchet sim-exchange``
subprocess, through python-binance HTTP on loopback.

Builds on ``tests.exchange.binance.simproc.Sim`` (the sim and its ``/sim/...`` control API) and
``tests.integration.engine`` (start, stop, wait_for, read, write).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench import engine_process as engine
from bench.sim_process import Sim
from core.types import Order, OrderState, Position

# Longer than one letter: the log redactor replaces every occurrence of a secret's value.
API_KEY, API_SECRET = "sim-engine-key", "sim-engine-secret"
CREDENTIALS = {"RATCHET_API_KEY": API_KEY, "RATCHET_API_SECRET": API_SECRET}

ORDER_POST = "POST /api/v3/order"
ORDER_GET = "GET /api/v3/order"
ORDER_DELETE = "DELETE /api/v3/order"
REPLACE = "POST /api/v3/order/cancelReplace"
OPEN_ORDERS = "GET /api/v3/openOrders"
MY_TRADES = "GET /api/v3/myTrades"
TICKER = "GET /api/v3/ticker/price"
ORDER_OPS = (ORDER_POST, REPLACE, ORDER_DELETE, ORDER_GET)
UNLIMITED = ("--orders-10s", "1000000", "--orders-1d", "100000000", "--weight-1m", "100000000")
SHM = Path("/dev/shm")


@contextmanager
def fast_dir(fallback: Path) -> Iterator[Path]:
    """A directory on tmpfs when there is one: the sim and the engine fsync every commit."""
    if not (SHM.is_dir() and os.access(SHM, os.W_OK)):
        yield fallback
        return
    with tempfile.TemporaryDirectory(dir=SHM, prefix="ratchet-sim-engine-") as path:
        yield Path(path)


def start_sim(state_dir: Path, *args: str, latency_ms: int = 0) -> Sim:
    """A sim accepting ``CREDENTIALS`` (later flags win over ``Sim``'s own key flags)."""
    return Sim(state_dir, "--api-key", API_KEY, "--api-secret", API_SECRET, *args,
               latency_ms=latency_ms)


def write_config(directory: Path, base_url: str, symbols: Iterable[str], *,
                 defaults: Mapping[str, str] | None = None,
                 exchange: Mapping[str, str] | None = None,
                 engine_keys: Mapping[str, str] | None = None) -> Path:
    """A binance-mode config: REST at ``base_url``, the sim's websocket as the feed.

    ``exchange`` and ``engine_keys`` add or override ``[exchange]`` and ``[engine]`` keys,
    with TOML values (``{"live": "true"}``, ``{"client_id_prefix": '"rtb"'}``).
    """
    exchange_keys = {"base_url": f'"{base_url}"', "timeout_s": '"2"', **(exchange or {})}
    lines = [
        "[engine]", 'mode = "binance"', 'db_path = "ratchet.db"',
        f"metrics_port = {engine.free_port()}", "status_interval_s = 3600",
        *(f"{k} = {v}" for k, v in (engine_keys or {}).items()),
        "[exchange]", *(f"{k} = {v}" for k, v in exchange_keys.items()),
        "[feed]", 'kind = "binance"',
        "[defaults]", *(f'{k} = "{v}"' for k, v in (defaults or {}).items()),
    ]
    for symbol in symbols:
        lines += ["[[pairs]]", f'symbol = "{symbol}"']
    path = directory / "ratchet.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def start_engine(config: Path, *args: str) -> subprocess.Popen:
    """``ratchet run`` writing to ``engine.log`` beside the config, not to a pipe: a busy
    engine logs more than a pipe holds, and would block on a full one."""
    log = (config.parent / "engine.log").open("a")
    try:
        return subprocess.Popen(
            [*engine.RATCHET, "run", "-c", str(config), *args], cwd=config.parent,
            env={**os.environ, "PYTHONPATH": str(engine.REPO), **CREDENTIALS},
            stdout=log, stderr=subprocess.STDOUT, text=True,
        )
    finally:
        log.close()


def stop_engine(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> str:
    """Stop the engine with ``sig``; return what this run wrote to its log."""
    config_dir = Path(proc.args[proc.args.index("-c") + 1]).parent
    if proc.poll() is None:
        proc.send_signal(sig)
    proc.wait(timeout)
    log = config_dir / "engine.log"
    text = log.read_text()
    log.unlink()
    return text


def run_engine(config: Path, *args: str, env: Mapping[str, str] | None = None,
               timeout: float = 30) -> subprocess.CompletedProcess:
    """Run ``ratchet run`` to its end with stdout and stderr apart; ``env`` overrides."""
    return subprocess.run(
        [*engine.RATCHET, "run", "-c", str(config), *args], cwd=config.parent,
        env={**os.environ, "PYTHONPATH": str(engine.REPO), **CREDENTIALS, **(env or {})},
        capture_output=True, text=True, timeout=timeout,
    )


# --- reading both sides ---------------------------------------------------------------------


def open_positions(db: Path) -> dict[str, Position]:
    return {p.symbol: p for p in engine.read(db, lambda r: r.list_positions(open_only=True))}


def db_orders(db: Path) -> dict[str, Order]:
    return {o.client_order_id: o for o in engine.read(db, lambda r: r.list_orders())}


def ours(sim_orders: Iterable[dict[str, Any]], prefix: str = "rt-") -> list[dict[str, Any]]:
    return [o for o in sim_orders if o["clientOrderId"].startswith(prefix)]


def open_on_sim(sim: Sim) -> dict[str, dict[str, Any]]:
    """Our open orders on the sim by client id."""
    return {o["clientOrderId"]: o for o in ours(sim.orders()) if o["status"] == "NEW"}


def order_ops(counts: Mapping[str, int]) -> int:
    """Order operations attempted: order POST, cancelReplace, cancel and order queries."""
    return sum(counts.get(k, 0) for k in ORDER_OPS)


def accepted_twice(sim_orders: Iterable[dict[str, Any]]) -> list[str]:
    """Client ids the sim holds more than one order for."""
    counts = Counter(o["clientOrderId"] for o in sim_orders)
    return [cid for cid, n in counts.items() if n > 1]


def protected(db: Path, sim: Sim, symbols: Iterable[str]) -> dict[str, Position] | None:
    """Every symbol holds an OPEN position whose stop is NEW in the DB and open, untriggered,
    for its whole quantity on the sim, and the sim holds no other open order of ours."""
    positions = open_positions(db)
    orders = db_orders(db)
    on_sim = open_on_sim(sim)
    for symbol in symbols:
        p = positions.get(symbol)
        if p is None or p.state.value != "OPEN" or p.stop_order_id is None:
            return None
        row, venue = orders.get(p.stop_order_id), on_sim.get(p.stop_order_id)
        if row is None or row.state is not OrderState.NEW or venue is None:
            return None
        if venue["isWorking"] or Decimal(venue["origQty"]) != p.qty:
            return None
    if set(on_sim) != {p.stop_order_id for p in positions.values()}:
        return None
    return positions


def settled(db: Path, sim: Sim, symbols: Iterable[str], *, timeout: float = 30) -> dict:
    """Wait until ``protected`` holds twice in a row, 0.3 s apart, with the same stops."""
    symbols = tuple(symbols)

    def same_twice():
        first = protected(db, sim, symbols)
        if first is None:
            return None
        time.sleep(0.3)
        second = protected(db, sim, symbols)
        return second if second == first else None

    return engine.wait_for(same_twice, timeout=timeout, what="every position protected")


def traceback_in(text: str) -> bool:
    return "Traceback" in text
