"""Builders and process helpers shared by the persistence and DBWriter tests."""

from __future__ import annotations

import ctypes
import hashlib
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from core.types import (
    Fill,
    Order,
    OrderState,
    OrderType,
    Position,
    PositionState,
    Side,
)

REPO = Path(__file__).resolve().parents[2]  # not tests.conftest: the crash child skips pytest


def position(pid: str = "p1", *, symbol: str = "BTCUSDT", seq: int = 0,
             state: PositionState = PositionState.OPEN) -> Position:
    """A position whose JSON is about 300 bytes, like a live one."""
    return Position(
        position_id=pid, symbol=symbol, state=state, qty=Decimal("0.00215"),
        entry_price=Decimal("46319.12"), entry_time="2022-01-03T10:15:00Z",
        entry_fee=Decimal("0.09958610"), highest=Decimal("47210.55"),
        stop=Decimal("45794.23"), limit=Decimal("45565.25"), stop_order_id=f"rt-{pid}-{seq}",
        seq=seq, stop_moves=seq,
    )


def order(cid: str = "rt-p1-1", *, pid: str = "p1", symbol: str = "BTCUSDT",
          state: OrderState = OrderState.PENDING_NEW, stop: str = "45794.23") -> Order:
    return Order(
        client_order_id=cid, position_id=pid, symbol=symbol, side=Side.SELL,
        type=OrderType.STOP_LOSS_LIMIT, qty=Decimal("0.00215"), state=state,
        stop_price=Decimal(stop), limit_price=Decimal(stop) * Decimal("0.995"),
    )


def fill(trade: str = "1001", *, cid: str = "rt-p1-1", pid: str = "p1",
         symbol: str = "BTCUSDT", pnl: Decimal | None = None) -> Fill:
    return Fill(
        symbol=symbol, exchange_trade_id=trade, client_order_id=cid, position_id=pid,
        side=Side.SELL, price=Decimal("45794.23"), qty=Decimal("0.00215"),
        fee=Decimal("0.09845759"), fee_asset="USDT", ts="2022-01-05T08:00:00Z", pnl=pnl,
    )


def write_config(directory: Path, db_path: Path) -> Path:
    config = directory / "ratchet.toml"
    config.write_text(
        f'[engine]\nmode = "paper"\ndb_path = "{db_path}"\n\n[[pairs]]\nsymbol = "BTCUSDT"\n'
    )
    return config


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RATCHET_DB_PASSWORD", "DB_PASSWORD", "RATCHET_DB_NEW_PASSWORD")}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def ratchet(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            honour_file_modes: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a child process.

    ``honour_file_modes`` drops CAP_DAC_OVERRIDE in the child, so that even root is refused by
    a read-only directory, as any other user would be.
    """
    preexec = _drop_dac_override if honour_file_modes and os.geteuid() == 0 else None
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True,
        env=env if env is not None else child_env(), cwd=cwd or REPO, timeout=60,
        preexec_fn=preexec,
    )


def _drop_dac_override() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, cap_dac_override, cap_dac_read_search = 24, 1, 2
    for cap in (cap_dac_override, cap_dac_read_search):
        if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def file_digests(directory: Path) -> dict[str, str]:
    """sha256 of every file in ``directory`` (one level)."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir()) if p.is_file()
    }


def run_main(argv, capsys, monkeypatch, env=None):
    """``ratchet ARGV`` in this process: (exit code, stdout, stderr)."""
    for name in ("RATCHET_DB_PASSWORD", "DB_PASSWORD", "RATCHET_DB_NEW_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    from cli.main import main

    code = main(argv)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, out, err)


REFUSE_POISON = ("CREATE TRIGGER refuse BEFORE INSERT ON kv WHEN NEW.key = 'poison' "
                 "BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END")


def refuse_poison_rows(db_path: Path) -> None:
    """A real SQLite trigger that refuses any kv row keyed ``poison``: a unit holding one fails
    at its last statement, so its transaction must roll back whole."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute(REFUSE_POISON)
    finally:
        conn.close()
