"""Driving the engine's prices by hand: the sim's random walk is paused and the test sends each
price through ``POST /sim/price`` (the book matches it, then the feed streams it)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.exchange.binance.simproc import Sim
from tests.integration import engine
from tests.sim_engine import harness as h

# Wide stops: nothing fills unless a test sends a price to fill it.
DEFAULTS = {"trail_pct": "5", "min_move_pct": "0.2", "limit_offset_pct": "0.5",
            "quote_per_trade": "50", "stop_fill_timeout_s": "600", "fee_pct": "0.1"}


@contextmanager
def paused_market(sim_dir: Path, symbols: list[str], *sim_args: str,
                  defaults: Mapping[str, str] = DEFAULTS,
                  listed: tuple[str, ...] = ()) -> Iterator[tuple[Sim, Path, Path]]:
    """A sim whose random walk is paused (the test sends every price), with no order limits, and
    the config of an engine trading ``symbols`` against it: ``(sim, config, db)``.
    ``listed``: more symbols the sim lists that no pair trades (BNBUSDT for its price)."""
    sim = h.start_sim(sim_dir, "--symbols", *symbols, *listed, *h.UNLIMITED, *sim_args)
    try:
        sim.pause()
        yield sim, h.write_config(sim_dir, sim.url, symbols, defaults=defaults), \
            sim_dir / "ratchet.db"
    finally:
        sim.stop()


def drive(sim: Sim, prices: Mapping[str, str], until: Callable[[], Any], *,
          timeout: float = 30, what: str = "") -> Any:
    """Send ``prices`` again and again until ``until()`` is truthy; return its value.

    Resending the same price is harmless (it raises no high and moves no stop), and it covers
    a feed that is still connecting when the first one goes out.
    """
    deadline = time.monotonic() + timeout
    while True:
        for symbol, price in prices.items():
            sim.price(symbol, price)
        time.sleep(0.15)
        try:
            value = until()
        except Exception:  # noqa: BLE001 - the DB may not exist yet
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or until}")


def stops_at(db, stop: str, symbols):
    """The open positions, once every one of ``symbols`` has its stop at ``stop``."""
    positions = h.open_positions(db)
    if all(s in positions and positions[s].stop == Decimal(stop) for s in symbols):
        return positions
    return None


def trades_by_client_id(sim: Sim) -> dict[str, list[dict[str, Any]]]:
    """The sim's trades grouped by the client id of their order."""
    by_order_id = {o["orderId"]: o["clientOrderId"] for o in sim.orders()}
    grouped: dict[str, list[dict[str, Any]]] = {}
    for t in sim.control("GET", "/sim/trades"):
        grouped.setdefault(by_order_id[t["orderId"]], []).append(t)
    return grouped


def closed_pnl(entry_trades: list[dict[str, Any]], exit_trades: list[dict[str, Any]]) -> Decimal:
    """(exit − entry) × qty − both commissions, from the sim's own trade rows. ``qty`` is what
    was sold (the buy's base-asset commission is not held); each commission is valued in the
    quote asset at its fill's price, as Binance charges a buy's in the base asset."""
    bought = sum(Decimal(t["qty"]) for t in entry_trades)
    qty = sum(Decimal(t["qty"]) for t in exit_trades)
    entry = sum(Decimal(t["price"]) * Decimal(t["qty"]) for t in entry_trades) / bought
    exit_ = sum(Decimal(t["price"]) * Decimal(t["qty"]) for t in exit_trades) / qty
    fees = sum(Decimal(t["commission"]) * (Decimal(t["price"]) if t["isBuyer"] else 1)
               for t in (*entry_trades, *exit_trades))
    return (exit_ - entry) * qty - fees


def read_report(db) -> dict | None:
    import json

    raw = engine.read(db, lambda r: r.kv_get("reconcile:last"))
    return json.loads(raw) if raw else None
