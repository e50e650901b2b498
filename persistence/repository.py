"""The repository the engine reads and writes through: positions, orders, fills and kv.

Rows hold the dataclasses of ``core.types`` as JSON (``value``), plus the few columns the
queries filter on. A unit of work (``actors.messages.Persist``) is applied by ``apply``; the
DBWriter applies a whole group of units with ``apply_batch`` inside its own transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from peewee import Database

from actors.messages import Persist
from core.types import Fill, Order, OrderState, Position, PositionState, Side
from persistence.models import bind_models

_CHUNK = 500  # rows per multi-row INSERT, well under SQLite's bound-variable limit
TABLES = ("positions", "orders", "trades", "kv")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def trade_id(fill: Fill) -> str:
    """Primary key of a ``trades`` row: unique per (symbol, exchange trade id)."""
    return f"{fill.symbol}:{fill.exchange_trade_id}"


def collapse_units(units: Iterable[Persist]) -> Persist:
    """Merge units into one, keeping only the last save of each position, order and kv key.

    Every row is written whole, so the last save of a key carries everything the earlier ones
    did. Fills are kept in order; recording one twice is a no-op anyway.
    """
    positions: dict[str, Position] = {}
    orders: dict[str, Order] = {}
    kv: dict[str, str] = {}
    fills: list[Fill] = []
    for unit in units:
        for position in unit.positions:
            positions.pop(position.position_id, None)
            positions[position.position_id] = position
        for order in unit.orders:
            orders.pop(order.client_order_id, None)
            orders[order.client_order_id] = order
        fills.extend(unit.fills)
        for key, value in unit.kv:
            kv[key] = value
    return Persist(positions=tuple(positions.values()), orders=tuple(orders.values()),
                   fills=tuple(fills), kv=tuple(kv.items()))


class Repository:
    """Typed access to one open database. Not thread-safe: one owner thread (the DBWriter)."""

    def __init__(self, db: Database):
        self.db = db
        self._m = bind_models(db)

    def transaction(self) -> Any:
        """A ``BEGIN IMMEDIATE`` transaction (a savepoint when one is already open)."""
        return self.db.atomic("IMMEDIATE")

    # --- units of work --------------------------------------------------------------------

    def apply(self, persist: Persist) -> None:
        """Apply one unit atomically: in the current transaction, or in its own."""
        with self.transaction():
            self.apply_batch([persist])

    def apply_batch(self, units: Sequence[Persist]) -> None:
        """Apply units in the caller's transaction, collapsing repeated saves to the last."""
        merged = collapse_units(units)
        now = utc_now()
        self._save_positions(merged.positions, now)
        self._save_orders(merged.orders, now)
        self._record_fills(merged.fills)
        self._kv_set_many(merged.kv, now)

    # --- positions ------------------------------------------------------------------------

    def save_position(self, position: Position) -> None:
        self._save_positions([position], utc_now())

    def load_position(self, position_id: str) -> Position | None:
        P = self._m.positions
        row = P.select(P.value).where(P.position_id == position_id).tuples().first()
        return None if row is None else Position.from_json(row[0])

    def list_positions(self, *, symbol: str | None = None,
                       open_only: bool = False) -> list[Position]:
        P = self._m.positions
        query = P.select(P.value).order_by(P.position_id).tuples()
        if symbol is not None:
            query = query.where(P.symbol == symbol)
        if open_only:
            query = query.where(P.state != PositionState.FLAT.value)
        return [Position.from_json(value) for (value,) in query]

    def _save_positions(self, positions: Sequence[Position], now: str) -> None:
        P = self._m.positions
        rows = [
            {"position_id": p.position_id, "symbol": p.symbol, "state": str(p.state),
             "value": p.to_json(), "updated_at": now}
            for p in positions
        ]
        for chunk in _chunks(rows):
            P.insert_many(chunk).on_conflict(
                conflict_target=[P.position_id],
                preserve=[P.symbol, P.state, P.value, P.updated_at],
            ).execute()

    # --- orders ---------------------------------------------------------------------------

    def save_order(self, order: Order) -> None:
        self._save_orders([order], utc_now())

    def get_order(self, client_order_id: str) -> Order | None:
        Ord = self._m.orders
        row = Ord.select(Ord.value).where(Ord.order_id == client_order_id).tuples().first()
        return None if row is None else Order.from_json(row[0])

    def list_orders(
        self,
        *,
        position_id: str | None = None,
        state: OrderState | str | Iterable[OrderState | str] | None = None,
        symbol: str | None = None,
    ) -> list[Order]:
        """Orders in creation order, filtered by position, state(s) and symbol."""
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
        Ord = self._m.orders
        ids = list(dict.fromkeys(position_ids))
        found: list[Order] = []
        for start in range(0, len(ids), _CHUNK):
            query = (Ord.select(Ord.value)
                     .where(Ord.position_id.in_(ids[start:start + _CHUNK]))
                     .order_by(Ord.created_at, Ord.order_id).tuples())
            found.extend(Order.from_json(value) for (value,) in query)
        return found

    def _save_orders(self, orders: Sequence[Order], now: str) -> None:
        Ord = self._m.orders
        rows = [
            {"order_id": o.client_order_id, "position_id": o.position_id, "symbol": o.symbol,
             "state": str(o.state), "value": o.to_json(), "created_at": now, "updated_at": now}
            for o in orders
        ]
        for chunk in _chunks(rows):
            Ord.insert_many(chunk).on_conflict(
                conflict_target=[Ord.order_id],  # created_at keeps its first value
                preserve=[Ord.position_id, Ord.symbol, Ord.state, Ord.value, Ord.updated_at],
            ).execute()

    # --- fills ----------------------------------------------------------------------------

    def record_fill(self, fill: Fill) -> bool:
        """Record a fill; False when (symbol, exchange_trade_id) was already there."""
        return self._record_fills([fill]) == 1

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
                 client_order_id=r.client_order_id, position_id=r.position_id, side=Side(r.side),
                 price=r.price, qty=r.qty, fee=r.fee, fee_asset=r.fee_asset, ts=r.ts, pnl=r.pnl)
            for r in query
        ]

    def realized_pnl(self, symbol: str | None = None) -> Decimal:
        """Sum of ``trades.pnl``, added as Decimals (SQL's SUM would go through floats)."""
        T = self._m.trades
        query = T.select(T.pnl).where(T.pnl.is_null(False)).tuples()
        if symbol is not None:
            query = query.where(T.symbol == symbol)
        return sum((pnl for (pnl,) in query), Decimal(0))

    def _record_fills(self, fills: Sequence[Fill]) -> int:
        T = self._m.trades
        rows = [
            {"trade_id": trade_id(f), "position_id": f.position_id, "symbol": f.symbol,
             "exchange_trade_id": f.exchange_trade_id, "client_order_id": f.client_order_id,
             "side": str(f.side), "price": f.price, "qty": f.qty, "fee": f.fee,
             "fee_asset": f.fee_asset, "pnl": f.pnl, "ts": f.ts}
            for f in fills
        ]
        added = 0
        for chunk in _chunks(rows):
            added += T.insert_many(chunk).on_conflict_ignore().as_rowcount().execute()
        return added

    # --- kv -------------------------------------------------------------------------------

    def kv_get(self, key: str) -> str | None:
        K = self._m.kv
        row = K.select(K.value).where(K.key == key).tuples().first()
        return None if row is None else row[0]

    def kv_set(self, key: str, value: str) -> None:
        self._kv_set_many([(key, value)], utc_now())

    def _kv_set_many(self, items: Sequence[tuple[str, str]], now: str) -> None:
        K = self._m.kv
        rows = [{"key": k, "value": v, "updated_at": now} for k, v in items]
        for chunk in _chunks(rows):
            K.insert_many(chunk).on_conflict(
                conflict_target=[K.key], preserve=[K.value, K.updated_at]
            ).execute()

    # --- inspection -----------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Row count of each table present (a legacy file may hold only ``kv``)."""
        present = {name for (name,) in self.db.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
        return {
            table: int(self.db.execute_sql(f"SELECT count(*) FROM {table}").fetchone()[0])
            for table in TABLES if table in present
        }


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), _CHUNK):
        yield rows[start:start + _CHUNK]
