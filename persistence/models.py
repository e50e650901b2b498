"""peewee models of the four tables (DESIGN.md §5).

The tables themselves are created by numbered migrations (``persistence.migrations``), never by
``create_tables``: the schema on disk is what the migrations say it is. The models here only
describe it for queries. They are declared unbound; ``bind_models(db)`` returns subclasses bound
to one database, so several databases can be open in one process (tests, benchmarks, backups).
"""

from __future__ import annotations

from dataclasses import dataclass

from peewee import Database, Model, TextField

from persistence.fields import DecimalText, JsonText


class _Row(Model):
    class Meta:
        database = None
        legacy_table_names = False


class PositionRow(_Row):
    """``positions``: one row per position; ``value`` is ``Position.to_json()``."""

    position_id = TextField(primary_key=True)
    symbol = TextField()
    state = TextField()
    value = JsonText()
    updated_at = TextField()

    class Meta:
        table_name = "positions"


class OrderRow(_Row):
    """``orders``: one row per order, keyed by client order id; never deleted."""

    order_id = TextField(primary_key=True)
    position_id = TextField()
    symbol = TextField()
    state = TextField()
    value = JsonText()
    created_at = TextField()
    updated_at = TextField()

    class Meta:
        table_name = "orders"


class TradeRow(_Row):
    """``trades``: one row per fill; ``pnl`` is set on the fill that closes a position."""

    trade_id = TextField(primary_key=True)
    position_id = TextField()
    symbol = TextField()
    exchange_trade_id = TextField()
    client_order_id = TextField()
    side = TextField()
    price = DecimalText()
    qty = DecimalText()
    fee = DecimalText()
    fee_asset = TextField()
    pnl = DecimalText(null=True)
    ts = TextField()

    class Meta:
        table_name = "trades"


class KvRow(_Row):
    """``kv``: small named values (reconcile reports, markers)."""

    key = TextField(primary_key=True)
    value = TextField()
    updated_at = TextField()

    class Meta:
        table_name = "kv"


ALL_MODELS = (PositionRow, OrderRow, TradeRow, KvRow)


@dataclass(frozen=True, slots=True)
class BoundModels:
    positions: type[PositionRow]
    orders: type[OrderRow]
    trades: type[TradeRow]
    kv: type[KvRow]


def bind_models(db: Database) -> BoundModels:
    """Subclasses of the four models bound to ``db`` (the originals stay unbound)."""

    def bound(model: type[Model]) -> type[Model]:
        meta = type("Meta", (), {"database": db, "table_name": model._meta.table_name})
        return type(model.__name__, (model,), {"Meta": meta, "__module__": __name__})

    return BoundModels(
        positions=bound(PositionRow),
        orders=bound(OrderRow),
        trades=bound(TradeRow),
        kv=bound(KvRow),
    )
