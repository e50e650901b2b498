"""The Book's reads: one order, the open ones, all of them, the balances and the trades. Mixed
into ``exchange.book.Book``; it needs ``_conn``, ``_lock`` and ``filters`` on the instance."""

from __future__ import annotations

from decimal import Decimal

from core.errors import UnknownOrder
from core.types import Balance
from exchange import book_sql as sql
from exchange.book_rows import BookOrder, BookTrade


class BookReads:
    def get_order(
        self, symbol: str, client_order_id: str | None = None, *, order_id: int | None = None
    ) -> BookOrder:
        """One order, open or not, with all its executions; -2013 if the book never had it."""
        self.filters(symbol)
        with self._lock:
            row = sql.find(self._conn, symbol, client_order_id, order_id)
            if row is None:
                raise UnknownOrder("Order does not exist.", code=-2013, http_status=400)
            return sql.order_report(self._conn, row)

    def open_orders(self, symbol: str | None = None) -> list[BookOrder]:
        return self._orders("status IN (?, ?)", sql.OPEN, symbol)

    def all_orders(
        self, symbol: str | None = None, *, from_order_id: int | None = None,
        start_ts: Decimal | None = None, end_ts: Decimal | None = None,
        limit: int | None = None,
    ) -> list[BookOrder]:
        """Orders in order id order: the first ``limit`` from ``from_order_id`` or ``start_ts``
        on, else the latest ``limit``; ``start_ts``/``end_ts`` bound their creation time
        (inclusive)."""
        where, args = ("order_id>=?", (from_order_id,)) if from_order_id else ("1=1", ())
        orders = [o for o in self._orders(where, args, symbol)
                  if (start_ts is None or o.created_ts >= start_ts)
                  and (end_ts is None or o.created_ts <= end_ts)]
        if limit is not None:
            oldest_first = from_order_id is not None or start_ts is not None
            orders = orders[:limit] if oldest_first else orders[-limit:]
        return orders

    def balances(self) -> dict[str, Balance]:
        with self._lock:
            rows = self._conn.execute("SELECT asset, free, locked FROM balances").fetchall()
        return {
            asset: Balance(asset=asset, free=Decimal(free), locked=Decimal(locked))
            for asset, free, locked in rows
        }

    def trades(
        self, symbol: str | None = None, *, order_id: int | None = None,
        from_id: int | None = None, limit: int | None = None,
    ) -> list[BookTrade]:
        """Trades in trade id order, optionally of one symbol or order, from ``from_id`` on."""
        with self._lock:
            return sql.trades(self._conn, symbol, order_id, from_id, limit)

    def _orders(self, where: str, args: tuple, symbol: str | None) -> list[BookOrder]:
        if symbol is not None:
            self.filters(symbol)
        with self._lock:
            return sql.orders(self._conn, where, args, symbol)

