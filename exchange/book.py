"""One venue's state and matching engine, in its own SQLite file.

The ``Book`` is shared by the in-process ``PaperExchange`` and the Binance-compatible sim server.
It holds balances (free/locked per asset), orders, trades and the last price per symbol, and
matches STOP_LOSS_LIMIT SELL orders exactly per DESIGN.md §3 through ``core.fill_model``.

Choices, written down:
- Fees are ``fee_pct`` % of the notional, charged in the **quote** asset on both sides, so base
  quantities stay exact (a bought 0.002 BTC can be sold as 0.002 BTC). ``fee_places`` rounds a
  fee down to that many decimals (the sim uses 8, like Binance); ``None`` keeps it exact.
- A client order id is unique among *all* orders of the account, stricter than Binance (unique
  among open orders): reusing one is refused with -2010 "Duplicate order sent." A rejected
  order is not stored, as on Binance.
- The stop-fill timeout is the engine's job; the book only triggers and fills.
- The last price and the open stops are also kept in memory: a price that changes no order
  costs no query and no fsync. The last price is written with every order change and at
  ``close``.

Every public method may be called from any thread; one lock guards the one connection.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

from core.errors import OrderRejected, UnknownOrder
from core.fill_model import StopMatch, StopState, match_stop
from core.money import HUNDRED, ZERO, on_grid
from core.types import Balance, OrderState, OrderType, Side, SymbolFilters
from exchange.base import ReplaceReport
from exchange.book_rows import (  # noqa: F401 - BookOrder, BookTrade: part of this API
    ORDER_COLUMNS,
    SCHEMA,
    BookOrder,
    BookTrade,
    dec_or_none,
    str_or_none,
    trade_from_row,
)

INSUFFICIENT = "Account has insufficient balance for requested action."
DUPLICATE = "Duplicate order sent."
_OPEN = (OrderState.NEW.value, OrderState.PARTIALLY_FILLED.value)

class Book:
    """A spot venue: balances, orders, trades and last prices, persisted in ``path``.

    ``balances`` seeds a new file only; a reopened file keeps its own. ``fee_pct`` applies to
    every symbol not named in ``symbol_fee_pct``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        fee_pct: Decimal,
        filters: Mapping[str, SymbolFilters],
        balances: Mapping[str, Decimal] | None = None,
        symbol_fee_pct: Mapping[str, Decimal] | None = None,
        fee_places: int | None = None,
    ) -> None:
        self.path = Path(path)
        self._filters = dict(filters)
        self._fee_pct = fee_pct
        self._symbol_fee_pct = dict(symbol_fee_pct or {})
        self._fee_quantum = None if fee_places is None else Decimal(1).scaleb(-fee_places)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._prices: dict[str, tuple[Decimal, Decimal, str]] = {}
        # symbol -> order id -> (stop state, qty): the open stops, so a price that changes
        # nothing costs no query; refreshed from the file after every change.
        self._stops: dict[str, dict[int, tuple[StopState, Decimal]]] = {}
        self._conn.executescript(SCHEMA)
        with self._tx() as cur:
            seeded = cur.execute("SELECT value FROM meta WHERE key='seeded'").fetchone()
            if seeded is None:
                for asset, amount in (balances or {}).items():
                    self._move(cur, asset, free=Decimal(amount))
                cur.execute("INSERT INTO meta(key, value) VALUES ('seeded', '1')")
            for symbol, price, ts, time in cur.execute("SELECT * FROM prices"):
                self._prices[symbol] = (Decimal(price), Decimal(ts), time)
        self._load_stops()

    # --- market data ---------------------------------------------------------------------

    def symbols(self) -> list[str]:
        return list(self._filters)

    def add_symbol(self, filters: SymbolFilters, fee_pct: Decimal | None = None) -> None:
        """List a new symbol (a pair added by a config reload)."""
        with self._lock:
            self._filters[filters.symbol] = filters
            if fee_pct is not None:
                self._symbol_fee_pct[filters.symbol] = fee_pct

    def filters(self, symbol: str) -> SymbolFilters:
        try:
            return self._filters[symbol]
        except KeyError:
            raise OrderRejected("Invalid symbol.", code=-1121, http_status=400) from None

    def last_price(self, symbol: str) -> Decimal | None:
        with self._lock:
            last = self._prices.get(symbol)
        return None if last is None else last[0]

    def last_prices(self) -> dict[str, Decimal]:
        with self._lock:
            return {symbol: last[0] for symbol, last in self._prices.items()}

    def on_price(
        self, symbol: str, price: Decimal, ts: Decimal, time: str = ""
    ) -> list[BookOrder]:
        """Set the last price, then trigger and fill this symbol's stops (§3 fill model).

        Returns a report for every order that triggered or filled on this price, in order id
        order.
        """
        self.filters(symbol)
        with self._lock:
            self._prices[symbol] = (price, ts, time)
            stops = self._stops.get(symbol)
            if not stops:
                return []
            matches = [(order_id, qty, state, match_stop(state, price, ts))
                       for order_id, (state, qty) in stops.items()]
            changed = [m for m in matches if m[3].fill_price is not None or m[3].state != m[2]]
            if not changed:
                return []
            with self._tx() as cur:
                for order_id, qty, state, result in changed:
                    self._apply_match(cur, symbol, order_id, qty, state, result, ts, time)
                self._save_price(cur, symbol)
            self._load_stops(symbol)
            return [self._order_by_id(m[0]) for m in changed]

    # --- orders --------------------------------------------------------------------------

    def market_order(
        self, symbol: str, side: Side, qty: Decimal, client_order_id: str,
        ts: Decimal | None = None,
    ) -> BookOrder:
        """A MARKET order, filled in full at the last price (and its timestamp)."""
        f = self.filters(symbol)
        with self._lock:
            last = self._prices.get(symbol)
            if last is None:
                raise OrderRejected(f"No price for {symbol} yet.", code=-2010, http_status=400)
            price, price_ts, time = last
            ts = price_ts if ts is None else ts
            self._check_filters(f, qty, price)
            notional = price * qty
            fee = self._fee(symbol, notional)
            with self._tx() as cur:
                self._check_new_id(cur, client_order_id)
                if side is Side.BUY:
                    self._move(cur, f.quote_asset, free=-(notional + fee))
                else:
                    self._move(cur, f.base_asset, free=-qty)
                order_id = self._insert_order(
                    cur, client_order_id, symbol, side, OrderType.MARKET, qty, None, None, ts
                )
                self._fill(cur, order_id, f, side, price, qty, ts, time, is_maker=False)
                self._save_price(cur, symbol)
            return self._order_by_id(order_id)

    def place_stop_limit(
        self, symbol: str, qty: Decimal, stop_price: Decimal, limit_price: Decimal,
        client_order_id: str, ts: Decimal | None = None,
    ) -> BookOrder:
        """A STOP_LOSS_LIMIT SELL, GTC. Locks ``qty`` of the base asset."""
        f = self.filters(symbol)
        return self._change(symbol, ts, lambda cur, now: self._place_stop(
            cur, f, qty, stop_price, limit_price, client_order_id, now))

    def cancel(
        self, symbol: str, client_order_id: str | None = None, *, order_id: int | None = None,
        ts: Decimal | None = None,
    ) -> BookOrder:
        """Cancel an open order and unlock its balance; -2011 if there is no such open order."""
        self.filters(symbol)
        return self._change(symbol, ts, lambda cur, now: self._cancel(
            cur, symbol, client_order_id, order_id, now))

    def cancel_replace(
        self, symbol: str, cancel_client_order_id: str | None, qty: Decimal,
        stop_price: Decimal, limit_price: Decimal, new_client_order_id: str,
        ts: Decimal | None = None, *, cancel_order_id: int | None = None,
    ) -> ReplaceReport:
        """Cancel a stop and place its successor atomically, STOP_ON_FAILURE.

        If the cancel fails nothing is placed (``cancel_error_code`` -2011). If the cancel
        succeeds and the new order is refused, the cancel stands (Binance's 409).
        """
        f = self.filters(symbol)
        with self._lock:
            ts = self._now(symbol, ts)
            with self._tx() as cur:
                try:
                    canceled_id = self._cancel(
                        cur, symbol, cancel_client_order_id, cancel_order_id, ts
                    )
                except UnknownOrder as exc:
                    return ReplaceReport(
                        canceled=None, new=None, cancel_error=str(exc), cancel_error_code=exc.code
                    )
                try:
                    new_id = self._place_stop(
                        cur, f, qty, stop_price, limit_price, new_client_order_id, ts
                    )
                except OrderRejected as exc:
                    new_id, new_error, new_code = None, str(exc), exc.code
                else:
                    new_error, new_code = None, None
            self._load_stops(symbol)
            canceled = self._order_by_id(canceled_id)
            new = None if new_id is None else self._order_by_id(new_id)
            return ReplaceReport(
                canceled=canceled, new=new, new_error=new_error, new_error_code=new_code
            )

    # --- queries -------------------------------------------------------------------------

    def get_order(
        self, symbol: str, client_order_id: str | None = None, *, order_id: int | None = None
    ) -> BookOrder:
        """One order, open or not, with all its executions; -2013 if the book never had it."""
        self.filters(symbol)
        with self._lock:
            row = self._find(self._conn, symbol, client_order_id, order_id)
            if row is None:
                raise UnknownOrder("Order does not exist.", code=-2013, http_status=400)
            return self._report(row)

    def open_orders(self, symbol: str | None = None) -> list[BookOrder]:
        return self._orders("status IN (?, ?)", _OPEN, symbol)

    def all_orders(self, symbol: str | None = None) -> list[BookOrder]:
        return self._orders("1=1", (), symbol)

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
        where, args = ["1=1"], []
        for clause, value in (("t.symbol=?", symbol), ("t.order_id=?", order_id),
                              ("t.trade_id>=?", from_id)):
            if value is not None:
                where.append(clause)
                args.append(value)
        sql = (
            "SELECT t.trade_id, t.order_id, o.client_order_id, t.symbol, t.side, t.price, "
            "t.qty, t.quote_qty, t.commission, t.commission_asset, t.is_maker, t.ts, t.time "
            "FROM trades t JOIN orders o USING (order_id) "
            f"WHERE {' AND '.join(where)} ORDER BY t.trade_id"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [trade_from_row(row) for row in rows]

    def set_balance(self, asset: str, free: Decimal) -> None:
        """Set an asset's free balance (tests and the sim's control endpoints)."""
        with self._lock:
            current = self.balances().get(asset)
            with self._tx() as cur:
                self._move(cur, asset, free=free - (current.free if current else ZERO))

    def close(self) -> None:
        with self._lock:
            with self._tx() as cur:
                for symbol in self._prices:
                    self._save_price(cur, symbol)
            self._conn.close()

    # --- internals -----------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Cursor]:
        cur = self._conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        else:
            cur.execute("COMMIT")

    def _change(self, symbol: str, ts: Decimal | None,
                change: Callable[[sqlite3.Cursor, Decimal], int]) -> BookOrder:
        """Run ``change`` (returning an order id) in one transaction; report that order."""
        with self._lock:
            ts = self._now(symbol, ts)
            with self._tx() as cur:
                order_id = change(cur, ts)
            self._load_stops(symbol)
            return self._order_by_id(order_id)

    def _now(self, symbol: str, ts: Decimal | None) -> Decimal:
        if ts is not None:
            return ts
        last = self._prices.get(symbol)
        return ZERO if last is None else last[1]

    def _fee(self, symbol: str, notional: Decimal) -> Decimal:
        fee = notional * self._symbol_fee_pct.get(symbol, self._fee_pct) / HUNDRED
        if self._fee_quantum is not None:
            fee = fee.quantize(self._fee_quantum, rounding=ROUND_DOWN)
        return fee

    @staticmethod
    def _check_filters(f: SymbolFilters, qty: Decimal, price: Decimal) -> None:
        """LOT_SIZE and NOTIONAL (at ``price``); -1013 as Binance words it."""
        if qty <= 0 or not on_grid(qty, f.step):
            raise OrderRejected("Filter failure: LOT_SIZE", code=-1013, http_status=400)
        if qty * price < f.min_notional:
            raise OrderRejected("Filter failure: NOTIONAL", code=-1013, http_status=400)

    @staticmethod
    def _check_new_id(cur: sqlite3.Cursor, client_order_id: str) -> None:
        if cur.execute(
            "SELECT 1 FROM orders WHERE client_order_id=?", (client_order_id,)
        ).fetchone():
            raise OrderRejected(DUPLICATE, code=-2010, http_status=400)

    def _place_stop(
        self, cur: sqlite3.Cursor, f: SymbolFilters, qty: Decimal, stop_price: Decimal,
        limit_price: Decimal, client_order_id: str, ts: Decimal,
    ) -> int:
        for price in (stop_price, limit_price):
            if price <= 0 or not on_grid(price, f.tick):
                raise OrderRejected("Filter failure: PRICE_FILTER", code=-1013, http_status=400)
        self._check_filters(f, qty, limit_price)
        self._check_new_id(cur, client_order_id)
        self._move(cur, f.base_asset, free=-qty, locked=qty)
        return self._insert_order(
            cur, client_order_id, f.symbol, Side.SELL, OrderType.STOP_LOSS_LIMIT, qty,
            limit_price, stop_price, ts,
        )

    def _cancel(
        self, cur: sqlite3.Cursor, symbol: str, client_order_id: str | None,
        order_id: int | None, ts: Decimal,
    ) -> int:
        row = self._find(cur, symbol, client_order_id, order_id)
        if row is None or row[8] not in _OPEN:
            raise UnknownOrder("Unknown order sent.", code=-2011, http_status=400)
        found, side, qty, executed = row[0], Side(row[3]), Decimal(row[5]), Decimal(row[9])
        if row[4] == OrderType.STOP_LOSS_LIMIT.value and side is Side.SELL:
            base = self._filters[symbol].base_asset
            self._move(cur, base, free=qty - executed, locked=executed - qty)
        cur.execute(
            "UPDATE orders SET status=?, updated_ts=? WHERE order_id=?",
            (OrderState.CANCELED.value, str(ts), found),
        )
        return found

    def _apply_match(
        self, cur: sqlite3.Cursor, symbol: str, order_id: int, qty: Decimal, state: StopState,
        result: StopMatch, ts: Decimal, time: str,
    ) -> None:
        """Write what matching one price did to one stop: its trigger, its fill."""
        newly_triggered = state.triggered_ts is None and result.state.triggered_ts is not None
        if newly_triggered:
            cur.execute(
                "UPDATE orders SET triggered_ts=?, updated_ts=? WHERE order_id=?",
                (str(result.state.triggered_ts), str(ts), order_id),
            )
        if result.fill_price is not None:
            f = self._filters[symbol]
            self._move(cur, f.base_asset, locked=-qty)  # sold out of the locked balance
            self._fill(cur, order_id, f, Side.SELL, result.fill_price, qty, ts, time,
                       is_maker=not newly_triggered)

    def _load_stops(self, symbol: str | None = None) -> None:
        """Refresh the in-memory index of open stops (of one symbol) from the file."""
        sql = ("SELECT order_id, symbol, qty, price, stop_price, triggered_ts FROM orders "
               "WHERE status IN (?, ?) AND type=?")
        args: tuple = (*_OPEN, OrderType.STOP_LOSS_LIMIT.value)
        if symbol is None:
            self._stops.clear()
        else:
            self._stops.pop(symbol, None)
            sql, args = sql + " AND symbol=?", (*args, symbol)
        for order_id, sym, qty, limit, stop, triggered in self._conn.execute(
            sql + " ORDER BY order_id", args
        ):
            state = StopState(stop=Decimal(stop), limit=Decimal(limit),
                              triggered_ts=dec_or_none(triggered))
            self._stops.setdefault(sym, {})[order_id] = (state, Decimal(qty))

    def _fill(
        self, cur: sqlite3.Cursor, order_id: int, f: SymbolFilters, side: Side, price: Decimal,
        qty: Decimal, ts: Decimal, time: str, *, is_maker: bool,
    ) -> None:
        """Record one full fill: the trade row, the order's totals and the balances."""
        notional = price * qty
        fee = self._fee(f.symbol, notional)
        if side is Side.BUY:
            self._move(cur, f.base_asset, free=qty)
        else:
            self._move(cur, f.quote_asset, free=notional - fee)
        cur.execute(
            "INSERT INTO trades(order_id, symbol, side, price, qty, quote_qty, commission, "
            "commission_asset, is_maker, ts, time) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (order_id, f.symbol, side.value, str(price), str(qty), str(notional), str(fee),
             f.quote_asset, int(is_maker), str(ts), time),
        )
        cur.execute(
            "UPDATE orders SET status=?, executed_qty=?, quote_qty=?, updated_ts=? "
            "WHERE order_id=?",
            (OrderState.FILLED.value, str(qty), str(notional), str(ts), order_id),
        )

    def _insert_order(
        self, cur: sqlite3.Cursor, client_order_id: str, symbol: str, side: Side,
        type_: OrderType, qty: Decimal, price: Decimal | None, stop: Decimal | None,
        ts: Decimal,
    ) -> int:
        cur.execute(
            "INSERT INTO orders(client_order_id, symbol, side, type, qty, price, stop_price, "
            "status, executed_qty, quote_qty, created_ts, updated_ts) "
            "VALUES (?,?,?,?,?,?,?,?,'0','0',?,?)",
            (client_order_id, symbol, side.value, type_.value, str(qty), str_or_none(price),
             str_or_none(stop), OrderState.NEW.value, str(ts), str(ts)),
        )
        return int(cur.lastrowid)

    @staticmethod
    def _move(
        cur: sqlite3.Cursor, asset: str, *, free: Decimal = ZERO, locked: Decimal = ZERO
    ) -> None:
        """Add ``free`` and ``locked`` (either may be negative) to a balance; -2010 when the
        free balance would go below zero."""
        row = cur.execute("SELECT free, locked FROM balances WHERE asset=?", (asset,)).fetchone()
        old_free, old_locked = (ZERO, ZERO) if row is None else map(Decimal, row)
        if old_free + free < 0:
            raise OrderRejected(INSUFFICIENT, code=-2010, http_status=400)
        cur.execute(
            "INSERT INTO balances(asset, free, locked) VALUES (?,?,?) ON CONFLICT(asset) "
            "DO UPDATE SET free=excluded.free, locked=excluded.locked",
            (asset, str(old_free + free), str(old_locked + locked)),
        )

    def _save_price(self, cur: sqlite3.Cursor, symbol: str) -> None:
        last = self._prices.get(symbol)
        if last is not None:
            cur.execute(
                "INSERT OR REPLACE INTO prices(symbol, price, ts, time) VALUES (?,?,?,?)",
                (symbol, str(last[0]), str(last[1]), last[2]),
            )

    def _find(self, cur: sqlite3.Cursor | sqlite3.Connection, symbol: str,
              client_order_id: str | None, order_id: int | None) -> tuple | None:
        """An order of ``symbol`` by id and/or client id (both must match when both given)."""
        where = " AND ".join(clause for clause, value in (
            ("order_id=?", order_id), ("client_order_id=?", client_order_id)) if value is not None)
        args = [v for v in (order_id, client_order_id) if v is not None]
        return cur.execute(f"SELECT {ORDER_COLUMNS} FROM orders WHERE {where} AND symbol=?",
                           (*args, symbol)).fetchone()

    def _order_by_id(self, order_id: int) -> BookOrder:
        row = self._conn.execute(
            f"SELECT {ORDER_COLUMNS} FROM orders WHERE order_id=?", (order_id,)
        ).fetchone()
        return self._report(row)

    def _orders(self, where: str, args: tuple, symbol: str | None) -> list[BookOrder]:
        if symbol is not None:
            self.filters(symbol)
            where, args = f"{where} AND symbol=?", (*args, symbol)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {ORDER_COLUMNS} FROM orders WHERE {where} ORDER BY order_id", args
            ).fetchall()
            return [self._report(row) for row in rows]

    def _report(self, row: tuple) -> BookOrder:
        (order_id, client_order_id, symbol, side, type_, qty, price, stop, status, executed,
         quote_qty, triggered, created, updated) = row
        executions = ()
        if Decimal(executed) > 0:
            executions = tuple(t.execution() for t in self.trades(order_id=order_id))
        return BookOrder(
            client_order_id=client_order_id, symbol=symbol, side=Side(side),
            type=OrderType(type_), state=OrderState(status), qty=Decimal(qty),
            executed_qty=Decimal(executed), stop_price=dec_or_none(stop), limit_price=dec_or_none(price),
            exchange_order_id=str(order_id), executions=executions,
            triggered=triggered is not None, triggered_ts=dec_or_none(triggered),
            order_id=order_id, quote_qty=Decimal(quote_qty), created_ts=Decimal(created),
            updated_ts=Decimal(updated),
        )
