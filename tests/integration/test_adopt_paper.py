"""Coins already held, in paper mode (``entry = "adopt"``, DESIGN.md §3b), through the real
engine: the paper account is seeded with BTC; the engine protects it (less ``keep_qty``) within
the first balance read, grows the stop when coins are deposited, protects what is left when
coins are sold by hand while it is down (and says so in ``status``), never buys, and a kill -9
right after adoption leaves exactly one stop once it is back."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import time
from decimal import Decimal as D
from pathlib import Path

import pytest

from core.config import load_config
from core.types import OrderState, Position, Side
from exchange.paper import PaperExchange
from tests.integration import engine

SYM = "BTCUSDT"


def write_config(directory: Path, *, scan_s: str, stop_mode: str = "replace") -> Path:
    lines = [
        "[engine]", 'mode = "paper"', 'db_path = "ratchet.db"', 'paper_state_path = "paper.db"',
        f"metrics_port = {engine.free_port()}", "status_interval_s = 1",
        "[paper]", 'balances = { USDT = "1000", BTC = "0.05" }',
        "[feed]", 'kind = "simulated"', "interval_ms = 50", 'volatility_pct = "0.02"',
        "[feed.start_prices]", f"{SYM} = 50000",
        "[[pairs]]", f'symbol = "{SYM}"', 'entry = "adopt"', 'keep_qty = "0.01"',
        f'adopt_scan_s = "{scan_s}"', 'trail_pct = "5"', 'stop_fill_timeout_s = "600"',
        f'stop_mode = "{stop_mode}"',
    ]
    path = directory / "ratchet.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def protected(db: Path, qty: D) -> tuple[Position, object] | None:
    """The adopted position of ``qty`` with its stop NEW for all of it, else None."""
    positions = engine.read(db, lambda r: r.list_positions(open_only=True))
    if len(positions) != 1:
        return None
    p = positions[0]
    stop = engine.read(db, lambda r: r.get_order(p.stop_order_id or ""))
    if p.qty != qty or stop is None or stop.state is not OrderState.NEW or stop.qty != qty:
        return None
    return p, stop


def buys(db: Path) -> list:
    return [o for o in engine.read(db, lambda r: r.list_orders()) if o.side is Side.BUY]


def book(config: Path) -> PaperExchange:
    cfg = load_config(config)
    return PaperExchange(cfg.engine.paper_state_path, settings={p.symbol: p for p in cfg.pairs},
                         balances=cfg.paper.balances)


def deposit(config: Path, asset: str, amount: D) -> None:
    """Coins bought by hand while the engine runs: the paper account's free balance grows
    (the venue's own file; the engine reads it on its next balance scan)."""
    conn = sqlite3.connect(config.parent / "paper.db", timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        (free,) = conn.execute("SELECT free FROM balances WHERE asset=?", (asset,)).fetchone()
        conn.execute("UPDATE balances SET free=? WHERE asset=?", (str(D(free) + amount), asset))
        conn.execute("COMMIT")
    finally:
        conn.close()


def status(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*engine.RATCHET, "status", "-c", str(config)], cwd=config.parent,
                          capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(engine.REPO), "PATH": "/usr/bin:/bin"})


def test_held_coins_are_protected_at_the_first_balance_read_less_keep_qty(tmp_path):
    config = write_config(tmp_path, scan_s="60")
    db = tmp_path / "ratchet.db"
    started = time.monotonic()
    proc = engine.start(config)
    try:
        p, stop = engine.wait_for(lambda: protected(db, D("0.04")), timeout=40,
                                  what="0.05 BTC less keep_qty 0.01 protected")
        protected_after = time.monotonic() - started
        shown = status(config)
    finally:
        out = engine.stop(proc)
    venue = book(config)
    try:
        open_orders = venue.open_orders()
        trades = venue.book.trades(SYM)
        btc = venue.balances()["BTC"]
    finally:
        venue.close()

    assert proc.returncode == 0, out
    assert protected_after < 40  # the read at boot, long before the 60 s scan
    assert (p.entry_kind, p.entry_fee, p.highest) == ("adopted", D(0), p.entry_price)
    assert stop.stop_price == (p.entry_price * D("0.95")).quantize(D("0.01"), "ROUND_DOWN")
    assert [o.client_order_id for o in open_orders] == [p.stop_order_id]
    assert (btc.free, btc.locked) == (D("0.01"), D("0.04"))  # keep_qty is left alone
    assert trades == [] and buys(db) == []  # nothing was ever bought
    assert "OPEN adopted" in shown.stdout, shown.stdout + shown.stderr


@pytest.mark.parametrize("stop_mode", ["replace", "native"])
def test_a_deposit_grows_the_stop_and_what_a_sale_by_hand_leaves_is_protected(tmp_path,
                                                                              stop_mode):
    config = write_config(tmp_path, scan_s="1", stop_mode=stop_mode)
    db = tmp_path / "ratchet.db"
    proc = engine.start(config)
    try:
        first, first_stop = engine.wait_for(lambda: protected(db, D("0.04")), timeout=40,
                                            what="the held coins protected")
        deposit(config, "BTC", D("0.03"))
        grown, grown_stop = engine.wait_for(lambda: protected(db, D("0.07")), timeout=30,
                                            what="the stop grown to 0.07")
    finally:
        out = engine.stop(proc)
    assert proc.returncode == 0, out

    assert grown.position_id == first.position_id and grown.stop_moves == 0
    assert grown_stop.replaces == first_stop.client_order_id
    assert (grown_stop.stop_price, grown_stop.limit_price, grown_stop.trailing_delta) == (
        first_stop.stop_price, first_stop.limit_price, first_stop.trailing_delta)
    assert (grown_stop.trailing_delta is not None) is (stop_mode == "native")
    added_at = (grown.entry_price * D("0.07") - first.entry_price * D("0.04")) / D("0.03")
    assert abs(added_at - first.entry_price) < first.entry_price * D("0.02")  # a price seen

    # While it is down, the stop is canceled and 0.05 BTC sold by hand: 0.03 are left, of which
    # keep_qty (0.01) is the user's own.
    venue = book(config)
    try:
        venue.book.cancel(SYM, grown.stop_order_id)
        venue.book.market_order(SYM, Side.SELL, D("0.05"), "by-hand-1")
    finally:
        venue.close()
    proc = engine.start(config)
    try:
        rest, rest_stop = engine.wait_for(lambda: protected(db, D("0.02")), timeout=40,
                                          what="the 0.02 BTC left under a stop")
    finally:
        out = engine.stop(proc)
    shown = status(config)

    assert (rest.position_id, rest.sold_outside, rest.halted) == (
        grown.position_id, D("0.05"), False)
    assert rest_stop.trailing_delta == grown_stop.trailing_delta
    assert re.search(rf"sold outside Ratchet {SYM} +0\.050*", shown.stdout), shown.stdout
    assert "halted" not in shown.stdout
    assert buys(db) == []


def test_kill_9_right_after_adoption_leaves_exactly_one_stop_after_restart(tmp_path):
    config = write_config(tmp_path, scan_s="1")
    db = tmp_path / "ratchet.db"
    proc = engine.start(config)
    try:
        engine.wait_for(lambda: engine.read(db, lambda r: r.list_positions(open_only=True)),
                        timeout=40, what="the adopted position written ahead")
    finally:
        engine.stop(proc, signal.SIGKILL)

    before = engine.read(db, lambda r: r.kv_get("reconcile:last"))
    proc = engine.start(config)
    try:
        engine.wait_for(lambda: engine.read(db, lambda r: r.kv_get("reconcile:last")) != before,
                        timeout=40, what="the restart's reconciliation")
        p, _ = engine.wait_for(lambda: protected(db, D("0.04")), timeout=40,
                               what="the adopted position protected after the restart")
        time.sleep(2.5)  # two more balance scans: nothing is adopted twice
    finally:
        out = engine.stop(proc)
    venue = book(config)
    try:
        open_orders = venue.open_orders()
    finally:
        venue.close()

    assert proc.returncode == 0, out
    assert [(o.client_order_id, o.qty) for o in open_orders] == [(p.stop_order_id, D("0.04"))]
    assert len(engine.read(db, lambda r: r.list_positions(open_only=True))) == 1
