"""The repository the engine reads and writes through: positions, orders, fills and kv.

Rows hold the dataclasses of ``core.types`` as JSON (``value``), plus the few columns the
queries filter on. A unit of work (``persistence.unit.Persist``) is applied by ``apply``; the
DBWriter applies a whole group of units with ``apply_batch`` inside its own transaction.

Hot paths (every save, the lookups by key) run statements that peewee compiles once per
repository from the models, with ``?`` placeholders: building a peewee query costs about
100 µs a row on this kind of machine, several times the cost of running it. A group commit
writes each table's rows with one multi-row statement (``MultiRow``: peewee's one-row INSERT,
its ``VALUES`` group repeated), so SQLite steps once per table and batch, not once per row:
under a thousand threads each step that releases the GIL costs a thread switch. Filters that
vary (``list_orders`` by state, ``list_fills``...) use peewee's query builder as usual.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from peewee import SQL, Database, Model, PeeweeException

from core.types import Fill, Order, OrderState, Position, PositionState, Side
from persistence.fields import decimal_to_text, row_json
from persistence.models import bind_models
from persistence.unit import Persist, collapse_units

_ARG = SQL("?")
_CHUNK = 500  # ids per IN (...) list, well under SQLite's bound-variable limit
_ROWS_PER_STATEMENT = 250  # x 12 columns at most: far under SQLite's 32,766 variables
TABLES = ("positions", "orders", "trades", "kv")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def trade_id(fill: Fill) -> str:
    """Primary key of a ``trades`` row: unique per (symbol, exchange trade id)."""
    return f"{fill.symbol}:{fill.exchange_trade_id}"


def _insert_sql(model: type[Model], columns: tuple[str, ...], **conflict: Any) -> str:
    """An INSERT of one whole row, compiled once; parameters go in the order of ``columns``."""
    fields = model._meta.sorted_fields
    assert tuple(f.name for f in fields) == columns, f"{model.__name__} columns moved"
    query = model.insert({f: _ARG for f in fields})
    query = query.on_conflict(**conflict) if conflict else query.on_conflict_ignore()
    return query.sql()[0]


class MultiRow:
    """A compiled one-row INSERT, run for many rows as one statement per chunk of rows."""

    def __init__(self, one_row_sql: str, width: int):
        group = "(" + ", ".join(["?"] * width) + ")"
        head, found, tail = one_row_sql.partition(f"VALUES {group}")
        assert found, f"unexpected INSERT form: {one_row_sql}"
        self.width, self._head, self._group, self._tail = width, head + "VALUES ", group, tail
        self._sql: dict[int, str] = {}

    def sql(self, rows: int) -> str:
        sql = self._sql.get(rows)
        if sql is None:
            sql = self._sql[rows] = self._head + ", ".join([self._group] * rows) + self._tail
        return sql

    def run(self, db: Database, rows: Sequence[tuple]) -> None:
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            chunk = rows[start:start + _ROWS_PER_STATEMENT]
            db.execute_sql(self.sql(len(chunk)), [v for row in chunk for v in row])


class Repository:
    """Typed access to one open database. Not thread-safe: one owner thread (the DBWriter)."""

    def __init__(self, db: Database):
        self.db = db
        self._m = m = bind_models(db)
        P, Ord, T, K = m.positions, m.orders, m.trades, m.kv
        self._upsert_position = _insert_sql(
            P, ("position_id", "symbol", "state", "value", "updated_at"),
            conflict_target=[P.position_id], preserve=[P.symbol, P.state, P.value, P.updated_at])
        self._upsert_order = _insert_sql(  # created_at keeps its first value
            Ord, ("order_id", "position_id", "symbol", "state", "value", "created_at",
                  "updated_at"),
            conflict_target=[Ord.order_id],
            preserve=[Ord.position_id, Ord.symbol, Ord.state, Ord.value, Ord.updated_at])
        self._insert_trade = _insert_sql(  # OR IGNORE: a fill recorded twice is a no-op
            T, ("trade_id", "position_id", "symbol", "exchange_trade_id", "client_order_id",
                "side", "price", "qty", "fee", "fee_asset", "pnl", "ts"))
        self._upsert_kv = _insert_sql(K, ("key", "value", "updated_at"),
                                      conflict_target=[K.key], preserve=[K.value, K.updated_at])
        self._position_by_id = P.select(P.value).where(P.position_id == _ARG).sql()[0]
        self._order_by_id = Ord.select(Ord.value).where(Ord.order_id == _ARG).sql()[0]
        self._orders_by_position = (Ord.select(Ord.value).where(Ord.position_id == _ARG)
                                    .order_by(Ord.created_at, Ord.order_id).sql()[0])
        self._kv_by_key = K.select(K.value).where(K.key == _ARG).sql()[0]
        self._many_positions = MultiRow(self._upsert_position, 5)
        self._many_orders = MultiRow(self._upsert_order, 7)
        self._many_trades = MultiRow(self._insert_trade, 12)
        self._many_kv = MultiRow(self._upsert_kv, 3)
        self._positions_sql: dict[tuple[bool, bool], str] = {}
        self._orders_in: dict[int, str] = {}

    def transaction(self) -> Any:
        """A ``BEGIN IMMEDIATE`` transaction (a savepoint when one is already open)."""
        return self.db.atomic("IMMEDIATE")

    # A transaction driven step by step, for the DBWriter, which begins the next group's
    # before it answers the last one's waiters.

    def begin(self) -> None:
        self.db.begin("IMMEDIATE")

    def try_begin(self) -> bool:
        """``begin``, or False if it failed (the caller's next ``begin`` raises it)."""
        try:
            self.begin()
        except PeeweeException:
            return False
        return True

    def commit(self) -> None:
        self.db.commit()

    def abandon(self) -> None:
        """Roll back what is open, if anything (SQLite has already rolled back a COMMIT that
        failed with a full disk)."""
        if self.db.connection().in_transaction:
            with contextlib.suppress(PeeweeException):
                self.db.rollback()

    # --- units of work --------------------------------------------------------------------

    def apply(self, persist: Persist) -> None:
        """Apply one unit atomically: in the current transaction, or in its own."""
        with self.transaction():
            self.apply_batch([persist])

    def apply_batch(self, units: Sequence[Persist]) -> None:
        """Apply units in the caller's transaction, collapsing repeated saves to the last."""
        merged = collapse_units(units)
        now = utc_now()
        if merged.positions:
            self._many_positions.run(self.db, [_position_row(p, now) for p in merged.positions])
        if merged.orders:
            self._many_orders.run(self.db, [_order_row(o, now) for o in merged.orders])
        if merged.fills:
            self._many_trades.run(self.db, [_trade_row(f) for f in merged.fills])
        if merged.kv:
            self._many_kv.run(self.db, [(key, value, now) for key, value in merged.kv])

    # --- positions ------------------------------------------------------------------------

    def save_position(self, position: Position) -> None:
        self._save_position(position, utc_now())

    def load_position(self, position_id: str) -> Position | None:
        value = self._scalar(self._position_by_id, position_id)
        return None if value is None else Position.from_json(json.loads(value))

    def list_positions(self, *, symbol: str | None = None,
                       open_only: bool = False) -> list[Position]:
        key = (symbol is not None, open_only)
        sql = self._positions_sql.get(key)
        if sql is None:  # compiled once per filter shape: boot loads every position
            P = self._m.positions
            query = P.select(P.value).order_by(P.position_id)
            if symbol is not None:
                query = query.where(P.symbol == _ARG)
            if open_only:
                query = query.where(P.state != _ARG)
            sql = self._positions_sql[key] = query.sql()[0]
        args = ((symbol,) if symbol is not None else ()) + (
            (PositionState.FLAT.value,) if open_only else ())
        rows = self.db.execute_sql(sql, args).fetchall()
        return [Position.from_json(json.loads(value)) for (value,) in rows]

    def latest_positions(self) -> list[Position]:
        """Each symbol's most recently written position (a halted pair's shows why)."""
        cursor = self.db.execute_sql(
            "SELECT value FROM positions AS p WHERE updated_at = (SELECT MAX(updated_at) "
            "FROM positions AS q WHERE q.symbol = p.symbol) ORDER BY symbol")
        latest: dict[str, Position] = {}
        for (value,) in cursor.fetchall():
            position = Position.from_json(json.loads(value))
            latest.setdefault(position.symbol, position)
        return list(latest.values())

    def _save_position(self, p: Position, now: str) -> None:
        self.db.execute_sql(self._upsert_position, _position_row(p, now))

    # --- orders ---------------------------------------------------------------------------

    def save_order(self, order: Order) -> None:
        self._save_order(order, utc_now())

    def get_order(self, client_order_id: str) -> Order | None:
        value = self._scalar(self._order_by_id, client_order_id)
        return None if value is None else Order.from_json(json.loads(value))

    def list_orders(
        self,
        *,
        position_id: str | None = None,
        state: OrderState | str | Iterable[OrderState | str] | None = None,
        symbol: str | None = None,
    ) -> list[Order]:
        """Orders in creation order, filtered by position, state(s) and symbol."""
        if position_id is not None and state is None and symbol is None:
            rows = self.db.execute_sql(self._orders_by_position, (position_id,)).fetchall()
            return [Order.from_json(json.loads(value)) for (value,) in rows]
        Ord = self._m.orders
        query = Ord.select(Ord.value).order_by(Ord.created_at, Ord.order_id).tuples()
        if position_id is not None:
            query = query.where(Ord.position_id == position_id)
        if symbol is not None:
            query = query.where(Ord.symbol == symbol)
        if state is not None:
            states = [state] if isinstance(state, str) else list(state)
            query = query.where(Ord.state.in_([str(s) for s in states]))
        return [Order.from_json(value) for (value,) in query]

    def orders_of(self, position_ids: Iterable[str]) -> list[Order]:
        """Every order of the given positions, in creation order (one query per 500 ids)."""
        ids = list(dict.fromkeys(position_ids))
        found: list[Order] = []
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            rows = self.db.execute_sql(self._orders_of_sql(len(chunk)), chunk).fetchall()
            found.extend(Order.from_json(json.loads(value)) for (value,) in rows)
        return found

    def known_order_ids(self, client_order_ids: Iterable[str]) -> frozenset[str]:
        """Which of these client ids the DB has a row for, in any state."""
        ids = list(dict.fromkeys(client_order_ids))
        found: set[str] = set()
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = self.db.execute_sql(
                f"SELECT order_id FROM orders WHERE order_id IN ({marks})", chunk).fetchall()
            found.update(order_id for (order_id,) in rows)
        return frozenset(found)

    def intents_written(self) -> dict[str, str]:
        """When each intent still ``PENDING_NEW`` was first written (ISO 8601, UTC): an order
        request whose answer was lost may still reach the venue until its recvWindow has
        passed, so boot does not believe "no such order" for a young one."""
        rows = self.db.execute_sql(
            "SELECT order_id, created_at FROM orders WHERE state = ?",
            (OrderState.PENDING_NEW.value,)).fetchall()
        return dict(rows)

    def _orders_of_sql(self, n: int) -> str:
        sql = self._orders_in.get(n)
        if sql is None:
            Ord = self._m.orders
            sql = self._orders_in[n] = (Ord.select(Ord.value)
                                        .where(Ord.position_id.in_([_ARG] * n))
                                        .order_by(Ord.created_at, Ord.order_id).sql()[0])
        return sql

    def _save_order(self, o: Order, now: str) -> None:
        self.db.execute_sql(self._upsert_order, _order_row(o, now))

    # --- fills ----------------------------------------------------------------------------

    def record_fill(self, fill: Fill) -> bool:
        """Record a fill; False when (symbol, exchange_trade_id) was already there."""
        return self._record_fill(fill)

    def list_fills(self, *, symbol: str | None = None,
                   position_id: str | None = None) -> list[Fill]:
        T = self._m.trades
        query = T.select().order_by(T.ts, T.trade_id)
        if symbol is not None:
            query = query.where(T.symbol == symbol)
        if position_id is not None:
            query = query.where(T.position_id == position_id)
        return [
            Fill(symbol=r.symbol, exchange_trade_id=r.exchange_trade_id,
                 client_order_id=r.client_order_id, position_id=r.position_id,
                 side=Side(r.side), price=r.price, qty=r.qty, fee=r.fee,
                 fee_asset=r.fee_asset, ts=r.ts, pnl=r.pnl)
            for r in query
        ]

    def realized_pnl(self, symbol: str | None = None) -> Decimal:
        """Sum of ``trades.pnl``, added as Decimals (SQL's SUM would go through floats)."""
        T = self._m.trades
        query = T.select(T.pnl).where(T.pnl.is_null(False)).tuples()
        if symbol is not None:
            query = query.where(T.symbol == symbol)
        return sum((pnl for (pnl,) in query), Decimal(0))

    def realized_pnl_by_symbol(self) -> dict[str, Decimal]:
        """``realized_pnl`` of every symbol with a closed trade, in one query."""
        T = self._m.trades
        totals: dict[str, Decimal] = {}
        for symbol, pnl in T.select(T.symbol, T.pnl).where(T.pnl.is_null(False)).tuples():
            totals[symbol] = totals.get(symbol, Decimal(0)) + pnl
        return totals

    def _record_fill(self, f: Fill) -> bool:
        return self.db.execute_sql(self._insert_trade, _trade_row(f)).rowcount == 1

    # --- kv -------------------------------------------------------------------------------

    def kv_get(self, key: str) -> str | None:
        return self._scalar(self._kv_by_key, key)

    def kv_with_prefix(self, prefix: str) -> dict[str, str]:
        """Every non-empty ``kv`` value whose key starts with ``prefix``, by key."""
        rows = self.db.execute_sql(
            "SELECT key, value FROM kv WHERE substr(key, 1, ?) = ? AND value != ''",
            (len(prefix), prefix)).fetchall()
        return dict(rows)

    def kv_set(self, key: str, value: str) -> None:
        self._kv_set(key, value, utc_now())

    def _kv_set(self, key: str, value: str, now: str) -> None:
        self.db.execute_sql(self._upsert_kv, (key, value, now))

    # --- inspection -----------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Row count of each table present (a legacy file may hold only ``kv``)."""
        present = {name for (name,) in self.db.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
        return {
            table: int(self.db.execute_sql(f"SELECT count(*) FROM {table}").fetchone()[0])
            for table in TABLES if table in present
        }

    def _scalar(self, sql: str, arg: str) -> Any:
        row = self.db.execute_sql(sql, (arg,)).fetchone()
        return None if row is None else row[0]


def _position_row(p: Position, now: str) -> tuple:
    return (p.position_id, p.symbol, str(p.state), row_json(p), now)


def _order_row(o: Order, now: str) -> tuple:  # created_at, updated_at: an update keeps the first
    return (o.client_order_id, o.position_id, o.symbol, str(o.state), row_json(o), now, now)


def _trade_row(f: Fill) -> tuple:
    return (trade_id(f), f.position_id, f.symbol, f.exchange_trade_id, f.client_order_id,
            str(f.side), decimal_to_text(f.price), decimal_to_text(f.qty),
            decimal_to_text(f.fee), f.fee_asset, _text_or_none(f.pnl), f.ts)


def _text_or_none(value: Decimal | None) -> str | None:
    return None if value is None else decimal_to_text(value)
