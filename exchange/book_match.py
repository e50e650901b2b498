"""The ``Book``'s prices: each one triggers and fills the open stops (§3, §3b) and fills the
LIMIT orders it reaches; the in-memory index of open orders that keeps a price that changes
nothing free of queries; and the record of a fill. Mixed into ``exchange.book.Book``; it needs
``_lock``, ``_tx``, ``_conn``, ``_prices``, ``_averages``, ``_stops``, ``_limits``,
``_filters``, ``fees``, ``rules``, ``_fill_limit`` and ``filters`` on the instance.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from core.fill_model import StopMatch, TrailingMatch, VenueStop, match_order
from core.types import Side, SymbolFilters
from exchange import book_sql as sql
from exchange.book_rows import BookOrder
from exchange.book_rules import AveragePrice, limit_fills


class BookMatching:
    def on_price(
        self, symbol: str, price: Decimal, ts: Decimal, time: str = ""
    ) -> list[BookOrder]:
        """Set the last price, then trigger and fill this symbol's stops (§3, §3b) and fill
        the LIMIT orders it reaches.

        Returns a report for every order that triggered or filled on this price, in order id
        order. A trailing stop's new peak is saved but not reported.
        """
        f = self.filters(symbol)
        with self._lock:
            self._prices[symbol] = (price, ts, time)
            if symbol not in self._averages:
                self._averages[symbol] = AveragePrice(self.rules.avg_price_mins)
            self._averages[symbol].add(ts, price)
            stops, limits = self._stops.get(symbol, {}), self._limits.get(symbol, {})
            if not stops and not limits:
                return []
            matches = [(order_id, qty, state, match_order(state, price, ts))
                       for order_id, (state, qty) in stops.items()]
            changed = [m for m in matches if m[3].fill_price is not None or m[3].state != m[2]]
            reached = [(order_id, *rest) for order_id, rest in limits.items()
                       if limit_fills(rest[0], rest[1], price)]
            if not changed and not reached:
                return []
            with self._tx() as cur:
                for order_id, qty, state, result in changed:
                    self._apply_match(cur, symbol, order_id, qty, state, result, ts, time)
                for order_id, side, limit, qty in reached:  # resting: at its price, maker
                    self._fill_limit(cur, order_id, f, side, qty, limit, limit, ts, time,
                                     is_maker=True)
                sql.save_price(cur, symbol, self._prices.get(symbol))
            for order_id, qty, _, result in changed:
                if result.fill_price is None:
                    stops[order_id] = (result.state, qty)
                else:
                    del stops[order_id]
            for order_id, *_ in reached:
                del limits[order_id]
            reported = sorted(
                [order_id for order_id, _, state, result in changed
                 if result.fill_price is not None or result.state.triggered != state.triggered]
                + [order_id for order_id, *_ in reached])
            return [sql.order_by_id(self._conn, order_id) for order_id in reported]

    def _apply_match(
        self, cur: sqlite3.Cursor, symbol: str, order_id: int, qty: Decimal, state: VenueStop,
        result: StopMatch | TrailingMatch, ts: Decimal, time: str,
    ) -> None:
        """Write what matching one price did to one stop: its trigger (or a trailing stop's
        new peak), its fill."""
        newly_triggered = not state.triggered and result.state.triggered
        if result.state != state:
            sql.save_match(cur, order_id, result.state, ts if newly_triggered else None)
        if result.fill_price is not None:
            f = self._filters[symbol]
            sql.move(cur, f.base_asset, locked=-qty)  # sold out of the locked balance
            self._fill(cur, order_id, f, Side.SELL, result.fill_price, qty, ts, time,
                       is_maker=not newly_triggered)

    def _load_open(self, symbol: str | None = None) -> None:
        """Refresh the in-memory index of open stops and limits (of one symbol) from the
        file."""
        for index in (self._stops, self._limits):
            if symbol is None:
                index.clear()
            else:
                index.pop(symbol, None)
        for row in sql.open_stop_rows(self._conn, symbol):
            self._stops.setdefault(row[1], {})[row[0]] = (sql.stop_state(row), Decimal(row[2]))
        for order_id, sym, side, qty, price in sql.open_limit_rows(self._conn, symbol):
            self._limits.setdefault(sym, {})[order_id] = (Side(side), Decimal(price),
                                                          Decimal(qty))

    def _fill(
        self, cur: sqlite3.Cursor, order_id: int, f: SymbolFilters, side: Side, price: Decimal,
        qty: Decimal, ts: Decimal, time: str, *, is_maker: bool,
    ) -> None:
        """Record one full fill: the proceeds, the commission, the trade row, the totals."""
        if side is Side.BUY:
            sql.move(cur, f.base_asset, free=qty)
        else:
            sql.move(cur, f.quote_asset, free=price * qty)
        fee = self.fees.commission(f, side, price, qty, price_of=self.last_price,
                                   free_of=lambda asset: sql.free_balance(cur, asset))
        sql.move(cur, fee.asset, free=-fee.amount)
        sql.record_fill(cur, order_id, f.symbol, side, price, qty, fee.amount, fee.asset, ts,
                        time, is_maker=is_maker)
