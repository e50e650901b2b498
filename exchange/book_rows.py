"""The ``Book``'s SQLite schema, its migrations and its row types (``exchange.book``).

The schema version is ``PRAGMA user_version``. Version 1 lets a client order id be reused once
its order is closed (``client_order_id`` is indexed, no longer UNIQUE) and keeps a trailing
stop's delta, peak and tracking start, so the peak outlives a restart. Version 2 adds
``symbol_status``: a symbol's trading status when it is not TRADING (no row: TRADING), so a
halted market stays halted across a restart. Older files are migrated in place, step by step;
a newer file is refused.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from decimal import Decimal

from core.money import ZERO
from core.types import Side
from exchange.base import Execution, OrderReport

SCHEMA = """
CREATE TABLE IF NOT EXISTS balances(
    asset TEXT PRIMARY KEY, free TEXT NOT NULL, locked TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders(
    order_id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL, side TEXT NOT NULL, type TEXT NOT NULL,
    qty TEXT NOT NULL, price TEXT, stop_price TEXT,
    status TEXT NOT NULL, executed_qty TEXT NOT NULL, quote_qty TEXT NOT NULL,
    triggered_ts TEXT, created_ts TEXT NOT NULL, updated_ts TEXT NOT NULL,
    trailing_delta INTEGER, peak TEXT, trailing_ts TEXT);
CREATE INDEX IF NOT EXISTS idx_orders_status_symbol ON orders(status, symbol);
CREATE INDEX IF NOT EXISTS idx_orders_client ON orders(client_order_id);
CREATE TABLE IF NOT EXISTS trades(
    trade_id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL REFERENCES orders(order_id),
    symbol TEXT NOT NULL, side TEXT NOT NULL, price TEXT NOT NULL, qty TEXT NOT NULL,
    quote_qty TEXT NOT NULL, commission TEXT NOT NULL, commission_asset TEXT NOT NULL,
    is_maker INTEGER NOT NULL, ts TEXT NOT NULL, time TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_trades_order ON trades(order_id);
CREATE INDEX IF NOT EXISTS idx_trades_symbol ON trades(symbol, trade_id);
CREATE TABLE IF NOT EXISTS prices(
    symbol TEXT PRIMARY KEY, price TEXT NOT NULL, ts TEXT NOT NULL, time TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS symbol_status(symbol TEXT PRIMARY KEY, status TEXT NOT NULL);
"""

SCHEMA_VERSION = 2
_V0_COLUMNS = ("order_id, client_order_id, symbol, side, type, qty, price, stop_price, status, "
               "executed_qty, quote_qty, triggered_ts, created_ts, updated_ts")
# Version 0 -> 1: rebuild ``orders`` without UNIQUE(client_order_id), with the trailing columns
# (SQLite's documented way to change a constraint: new table, copy, drop, rename).
_MIGRATE_0_TO_1 = f"""
CREATE TABLE orders_v1(
    order_id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL, side TEXT NOT NULL, type TEXT NOT NULL,
    qty TEXT NOT NULL, price TEXT, stop_price TEXT,
    status TEXT NOT NULL, executed_qty TEXT NOT NULL, quote_qty TEXT NOT NULL,
    triggered_ts TEXT, created_ts TEXT NOT NULL, updated_ts TEXT NOT NULL,
    trailing_delta INTEGER, peak TEXT, trailing_ts TEXT);
INSERT INTO orders_v1({_V0_COLUMNS}) SELECT {_V0_COLUMNS} FROM orders;
DROP TABLE orders;
ALTER TABLE orders_v1 RENAME TO orders;
"""

# Version 1 -> 2: a new table, nothing else changes.
_MIGRATE_1_TO_2 = """
CREATE TABLE IF NOT EXISTS symbol_status(symbol TEXT PRIMARY KEY, status TEXT NOT NULL);
"""

ORDER_COLUMNS = f"{_V0_COLUMNS}, trailing_delta, peak, trailing_ts"


def open_schema(conn: sqlite3.Connection) -> None:
    """Create a new file's schema, or migrate an older one to ``SCHEMA_VERSION``, one version
    at a time, each step in a transaction of its own."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"book schema version {version} is newer than this code's {SCHEMA_VERSION}")
    old = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='orders'").fetchone()
    if old is not None and version == 0:
        conn.execute("PRAGMA foreign_keys=OFF")  # trades reference orders while it is rebuilt
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE;{_MIGRATE_0_TO_1}PRAGMA user_version=1;COMMIT;")
        finally:
            conn.execute("PRAGMA foreign_keys=ON")
        version = 1
    if old is not None and version == 1:
        conn.executescript(f"BEGIN IMMEDIATE;{_MIGRATE_1_TO_2}PRAGMA user_version=2;COMMIT;")
    conn.executescript(SCHEMA)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


@dataclass(frozen=True, slots=True, kw_only=True)
class BookOrder(OrderReport):
    """An ``OrderReport`` with what the sim needs to speak Binance: ids, times, quote volume."""

    order_id: int = 0
    quote_qty: Decimal = ZERO  # cummulativeQuoteQty
    created_ts: Decimal = ZERO
    updated_ts: Decimal = ZERO
    # ``type`` is STOP_LOSS_LIMIT for both kinds of SELL stop-limit: the engine's OrderType has
    # no take-profit; ``take_profit`` keeps the venue's TAKE_PROFIT_LIMIT apart.
    take_profit: bool = False
    peak: Decimal | None = None  # a trailing stop's highest price since tracking started
    trailing_ts: Decimal | None = None  # when a trailing stop started tracking

    def plain(self) -> OrderReport:
        """The same report as a plain ``OrderReport``."""
        return OrderReport(**{name: getattr(self, name) for name in OrderReport.__slots__})


@dataclass(frozen=True, slots=True, kw_only=True)
class BookTrade:
    """One row of ``trades``: what ``GET /api/v3/myTrades`` returns."""

    trade_id: int
    order_id: int
    client_order_id: str
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    is_maker: bool
    ts: Decimal
    time: str

    def execution(self) -> Execution:
        return Execution(
            trade_id=str(self.trade_id), price=self.price, qty=self.qty, fee=self.commission,
            fee_asset=self.commission_asset, ts=self.ts, time=self.time,
        )


def trade_from_row(row: tuple) -> BookTrade:
    (trade_id, order_id, client_order_id, symbol, side, price, qty, quote_qty, commission,
     commission_asset, is_maker, ts, time) = row
    return BookTrade(
        trade_id=trade_id, order_id=order_id, client_order_id=client_order_id, symbol=symbol,
        side=Side(side), price=Decimal(price), qty=Decimal(qty), quote_qty=Decimal(quote_qty),
        commission=Decimal(commission), commission_asset=commission_asset,
        is_maker=bool(is_maker), ts=Decimal(ts), time=time,
    )


def dec_or_none(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def str_or_none(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
