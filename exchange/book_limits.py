"""LIMIT orders in the ``Book``: GTC, either side, as another client on the same account places
them (a web or app order, another bot). Mixed into ``exchange.book.Book``; it needs
``_change``, ``_fill``, ``_prices``, ``_check_trading``, ``rules``, ``average_price`` and
``filters`` on the instance.

A LIMIT order locks what it may spend: a BUY its quote at the limit price, a SELL its base. One
that crosses the last price when placed fills at once, in full, at the last price (a taker);
a resting one fills in full at its limit price on the first price at or through it (a maker),
in ``Book.on_price``.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from core.types import OrderType, Side, SymbolFilters
from exchange import book_sql as sql
from exchange.book_rows import BookOrder
from exchange.book_rules import check_limit, limit_fills, limit_lock


class BookLimits:
    def place_limit(
        self, symbol: str, side: Side, qty: Decimal, price: Decimal, client_order_id: str,
        ts: Decimal | None = None,
    ) -> BookOrder:
        """A LIMIT order, GTC, either side: it locks what it may spend, fills at once at the
        last price if it crosses it, else rests until a price reaches ``price``."""
        f = self.filters(symbol)
        return self._change(symbol, ts, lambda cur, now: self._place_limit(
            cur, f, side, qty, price, client_order_id, now))

    def _place_limit(self, cur: sqlite3.Cursor, f: SymbolFilters, side: Side, qty: Decimal,
                     price: Decimal, client_order_id: str, ts: Decimal) -> int:
        self._check_trading(f.symbol)
        check_limit(f, self.rules, side, qty, price, self.average_price(f.symbol))
        last = self._prices.get(f.symbol)
        sql.check_new_order(cur, self.rules, f.symbol, client_order_id, stop=None,
                            last=None if last is None else last[0])
        asset, amount = limit_lock(f, side, qty, price)
        sql.move(cur, asset, free=-amount, locked=amount)
        order_id = sql.insert_order(cur, client_order_id, f.symbol, side,
                                    OrderType.LIMIT.value, qty, price, None, ts)
        if last is not None and limit_fills(side, price, last[0]):  # crosses: taker, now
            self._fill_limit(cur, order_id, f, side, qty, price, last[0], ts, last[2],
                             is_maker=False)
        return order_id

    def _fill_limit(
        self, cur: sqlite3.Cursor, order_id: int, f: SymbolFilters, side: Side, qty: Decimal,
        limit: Decimal, price: Decimal, ts: Decimal, time: str, *, is_maker: bool,
    ) -> None:
        """Fill a LIMIT order in full at ``price``: its lock is spent (a BUY filled below its
        limit gets the difference back), then the proceeds and the commission."""
        asset, amount = limit_lock(f, side, qty, limit)
        spent = qty * price if side is Side.BUY else amount
        sql.move(cur, asset, free=amount - spent, locked=-amount)
        self._fill(cur, order_id, f, side, price, qty, ts, time, is_maker=is_maker)

    def _unlock_limit(self, cur: sqlite3.Cursor, f: SymbolFilters, side: Side, qty: Decimal,
                      price: Decimal) -> None:
        """Give back what an open LIMIT order of ``qty`` left at ``price`` holds."""
        asset, amount = limit_lock(f, side, qty, price)
        sql.move(cur, asset, free=amount, locked=-amount)
