"""Numbered schema migrations, recorded in ``PRAGMA user_version`` (DESIGN.md §5).

Each migration runs in its own ``BEGIN IMMEDIATE`` transaction together with the bump of
``user_version``, so it either happens whole or not at all. The version is re-read under the
write lock, and every statement is ``IF NOT EXISTS``/``OR IGNORE``, so running a migration twice,
or from two processes at once, is harmless. The schema is never inferred from its columns.

- v1: the tables. A version-0 file is either new, or the seed's store: its ``positions`` and
  ``orders`` tables are rebuilt with the indexed columns, and legacy ``kv`` rows keyed
  ``position:<id>`` are imported into ``positions``. The ``kv`` rows are kept.
- v2: the indices the queries need.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from peewee import Database

from core.errors import SchemaTooNew, StoreError

SCHEMA_VERSION = 2

_V1_TABLES = {
    "positions": """CREATE TABLE IF NOT EXISTS positions (
        position_id TEXT PRIMARY KEY NOT NULL,
        symbol TEXT NOT NULL,
        state TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL)""",
    "orders": """CREATE TABLE IF NOT EXISTS orders (
        order_id TEXT PRIMARY KEY NOT NULL,
        position_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        state TEXT NOT NULL,
        value TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL)""",
    "trades": """CREATE TABLE IF NOT EXISTS trades (
        trade_id TEXT PRIMARY KEY NOT NULL,
        position_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        exchange_trade_id TEXT NOT NULL,
        client_order_id TEXT NOT NULL,
        side TEXT NOT NULL,
        price TEXT NOT NULL,
        qty TEXT NOT NULL,
        fee TEXT NOT NULL,
        fee_asset TEXT NOT NULL,
        pnl TEXT,
        ts TEXT NOT NULL)""",
    "kv": """CREATE TABLE IF NOT EXISTS kv (
        key TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL)""",
}

_V2_INDICES = (
    "CREATE INDEX IF NOT EXISTS idx_orders_position ON orders (position_id, created_at)",
    "CREATE INDEX IF NOT EXISTS idx_orders_state ON orders (state)",
    "CREATE INDEX IF NOT EXISTS idx_orders_symbol ON orders (symbol)",
    "CREATE INDEX IF NOT EXISTS idx_positions_updated ON positions (updated_at)",
    "CREATE INDEX IF NOT EXISTS idx_positions_symbol ON positions (symbol, state)",
    "CREATE UNIQUE INDEX IF NOT EXISTS idx_trades_symbol_trade ON trades (symbol, exchange_trade_id)",
    "CREATE INDEX IF NOT EXISTS idx_trades_position ON trades (position_id)",
)

LEGACY_POSITION_PREFIX = "position:"


def user_version(db: Database) -> int:
    return int(db.execute_sql("PRAGMA user_version").fetchone()[0])


def _tables(db: Database) -> set[str]:
    rows = db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def _v1_tables(db: Database) -> None:
    existing = _tables(db)
    seed_rows = {
        "positions": _take_seed_table(db, "positions", "position_id, value, updated_at", existing),
        "orders": _take_seed_table(
            db, "orders", "order_id, position_id, value, state, created_at, updated_at", existing
        ),
    }
    for ddl in _V1_TABLES.values():
        db.execute_sql(ddl)
    for position_id, value, updated_at in seed_rows["positions"]:
        _insert_position(db, position_id, value, updated_at, origin=f"positions row {position_id!r}")
    for order_id, position_id, value, state, created_at, updated_at in seed_rows["orders"]:
        data = _json_object(value, origin=f"orders row {order_id!r}")
        db.execute_sql(
            "INSERT OR IGNORE INTO orders VALUES (?, ?, ?, ?, ?, ?, ?)",
            (order_id, position_id, data.get("symbol", ""), state, value, created_at,
             updated_at),
        )
    _import_legacy_kv_positions(db)


def _take_seed_table(db: Database, table: str, columns: str, existing: set[str]) -> list[tuple]:
    """A version-0 table from the seed store: read its rows and drop it, to be rebuilt."""
    if table not in existing:
        return []
    rows = db.execute_sql(f"SELECT {columns} FROM {table}").fetchall()
    db.execute_sql(f"DROP TABLE {table}")
    return rows


def _import_legacy_kv_positions(db: Database) -> None:
    rows = db.execute_sql(
        "SELECT key, value, updated_at FROM kv WHERE substr(key, 1, ?) = ?",
        (len(LEGACY_POSITION_PREFIX), LEGACY_POSITION_PREFIX),
    ).fetchall()
    for key, value, updated_at in rows:
        position_id = key[len(LEGACY_POSITION_PREFIX):]
        _insert_position(db, position_id, value, updated_at, origin=f"kv row {key!r}")


def _insert_position(db: Database, position_id: str, value: str, updated_at: str, *,
                     origin: str) -> None:
    data = _json_object(value, origin=origin)
    symbol = data.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise StoreError(f"cannot migrate {origin}: the position has no symbol")
    data.setdefault("position_id", position_id)
    data.setdefault("state", "OPEN")  # it was stored as a live position: look at it, not past it
    db.execute_sql(
        "INSERT OR IGNORE INTO positions VALUES (?, ?, ?, ?, ?)",
        (position_id, symbol, str(data["state"]),
         json.dumps(data, separators=(",", ":"), sort_keys=True), str(updated_at or "")),
    )


def _json_object(value: str, *, origin: str) -> dict:
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        raise StoreError(f"cannot migrate {origin}: its value is not JSON") from None
    if not isinstance(data, dict):
        raise StoreError(f"cannot migrate {origin}: its value is not a JSON object")
    return data


def _v2_indices(db: Database) -> None:
    for ddl in _V2_INDICES:
        db.execute_sql(ddl)


MIGRATIONS: tuple[tuple[int, Callable[[Database], None]], ...] = (
    (1, _v1_tables),
    (2, _v2_indices),
)
assert MIGRATIONS[-1][0] == SCHEMA_VERSION


def check_not_newer(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"database {where} has schema version {version}, newer than this Ratchet knows "
            f"({SCHEMA_VERSION}); upgrade Ratchet. The file was not changed"
        )


def migrate(db: Database, *, target: int = SCHEMA_VERSION, where: str = "") -> tuple[int, int]:
    """Bring ``db`` up to ``target``. Returns (version before, version after)."""
    before = user_version(db)
    check_not_newer(before, where or str(db.database))
    for version, step in MIGRATIONS:
        if version > target:
            break
        with db.atomic("IMMEDIATE"):
            if user_version(db) >= version:  # re-read under the write lock
                continue
            step(db)
            db.execute_sql(f"PRAGMA user_version = {int(version)}")
    return before, user_version(db)
