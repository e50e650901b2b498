"""One venue's state and matching engine, in its own SQLite file.

The ``Book`` is shared by the in-process ``PaperExchange`` and the Binance-compatible sim server.
It holds balances (free/locked per asset), orders, trades and the last price per symbol, and
matches SELL stop-limits exactly per DESIGN.md §3, and trailing ones per §3b, through
``core.fill_model``. LIMIT orders (GTC, either side: another client's on the same account) rest
at their price and fill there when a price reaches it. Its order rules are Binance's
(``exchange.book_rules``); its fees follow one of the modes of ``exchange.book_fees``. Parts of
it live in mixins: prices and matching (``book_match``), LIMIT orders (``book_limits``), a
symbol's trading status (``book_status``), reads (``book_reads``).

Choices, written down:
- Fees are ``fee_pct`` % (per symbol: ``symbol_fee_pct``). ``fee_mode`` is ``FeeMode.RECEIVED``
  by default, as on Binance: a BUY pays in the base asset, a SELL in the quote asset.
  ``FeeMode.QUOTE`` charges the quote asset on both sides (the paper exchange's default, which
  keeps replay's reference results). ``fee_asset="BNB"`` pays in BNB when it can.
  ``fee_places`` rounds a fee down to that many decimals (the sim uses 8, like Binance);
  ``None`` keeps it exact.
- A client order id is unique among *open* orders, as on Binance: an open order's id is
  refused with -2010 "Duplicate order sent."; a closed order's id may be used again, and then
  names the open order by that id, else the newest. A rejected order is not stored.
- A symbol that is not TRADING refuses new orders before anything else (``book_status``).
- Refusals come in Binance's order: filters (-1013), then the matching engine (-2010):
  duplicate id, a stop price already met by the last price, MAX_NUM_ORDERS,
  MAX_NUM_ALGO_ORDERS, balance. ``cancel_replace`` checks the new order's filters before it
  cancels, so a filter failure leaves the old order in place.
- PERCENT_PRICE_BY_SIDE compares with the average of the last ``avg_price_mins`` of prices,
  kept in memory: after a restart it is rebuilt from the prices that follow.
- The stop-fill timeout is the engine's job; the book only triggers and fills.
- A LIMIT order locks its quote at the limit price (BUY) or its base (SELL). One that crosses
  the last price when placed fills at once at the last price (taker); a resting one fills at
  its limit price on the first price at or through it (maker). Every fill is in full.
- The last price and the open stops and limits are also kept in memory: a price that changes
  no order costs no query and no fsync. The last price is written with every order change and
  at ``close``; a trailing stop's new peak is written when it happens, so it outlives a
  restart.

Every public method may be called from any thread; one lock guards the one connection.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from core.errors import OrderRejected, UnknownOrder
from core.fill_model import VenueStop
from core.money import ZERO
from core.types import OrderState, OrderType, Side, SymbolFilters
from exchange import book_sql as sql
from exchange.base import ReplaceReport
from exchange.book_fees import FeeMode, FeeSchedule
from exchange.book_limits import BookLimits
from exchange.book_match import BookMatching
from exchange.book_reads import BookReads
from exchange.book_rows import BookOrder, BookTrade, open_schema  # noqa: F401 - part of this API
from exchange.book_rules import (  # noqa: F401 - DUPLICATE, INSUFFICIENT: part of this API
    DEFAULT_RULES,
    DUPLICATE,
    INSUFFICIENT,
    AveragePrice,
    StopRequest,
    VenueRules,
    check_market,
    check_stop_request,
    rejected,
)
from exchange.book_status import BookStatus


class Book(BookMatching, BookReads, BookLimits, BookStatus):
    """A spot venue: balances, orders, trades and last prices, persisted in ``path``.

    ``balances`` seeds a new file only; a reopened file keeps its own. ``fee_pct`` applies to
    every symbol not named in ``symbol_fee_pct``. ``rules`` are every symbol's limits beyond
    its ``SymbolFilters`` (Binance's usual values by default).
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
        fee_mode: FeeMode = FeeMode.RECEIVED,
        fee_asset: str | None = None,
        rules: VenueRules = DEFAULT_RULES,
    ) -> None:
        self.path = Path(path)
        self.rules = rules
        self._filters = dict(filters)
        self.fees = FeeSchedule(fee_pct, mode=fee_mode, fee_asset=fee_asset, places=fee_places,
                                symbol_fee_pct=symbol_fee_pct)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        open_schema(self._conn)
        self._prices: dict[str, tuple[Decimal, Decimal, str]] = {}
        self._averages: dict[str, AveragePrice] = {}
        # symbol -> order id -> (fill-model state, qty): the open stops, so a price that
        # changes nothing costs no query.
        self._stops: dict[str, dict[int, tuple[VenueStop, Decimal]]] = {}
        # symbol -> order id -> (side, limit price, qty): the open LIMIT orders.
        self._limits: dict[str, dict[int, tuple[Side, Decimal, Decimal]]] = {}
        with self._tx() as cur:
            seeded = cur.execute("SELECT value FROM meta WHERE key='seeded'").fetchone()
            if seeded is None:
                for asset, amount in (balances or {}).items():
                    sql.move(cur, asset, free=Decimal(amount))
                cur.execute("INSERT INTO meta(key, value) VALUES ('seeded', '1')")
            for symbol, price, ts, time in cur.execute("SELECT * FROM prices"):
                self._prices[symbol] = (Decimal(price), Decimal(ts), time)
            self._load_statuses(cur)
        self._load_open()

    # --- market data ---------------------------------------------------------------------

    def symbols(self) -> list[str]:
        return list(self._filters)

    def add_symbol(self, filters: SymbolFilters, fee_pct: Decimal | None = None) -> None:
        """List a new symbol (a pair added by a config reload)."""
        with self._lock:
            self._filters[filters.symbol] = filters
            if fee_pct is not None:
                self.fees.set_symbol_fee(filters.symbol, fee_pct)

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

    def average_price(self, symbol: str) -> Decimal | None:
        """PERCENT_PRICE_BY_SIDE's reference: the average of the last ``avg_price_mins``."""
        with self._lock:
            average = self._averages.get(symbol)
            if average is None:
                return self.last_price(symbol)
            return average.value()

    # --- orders --------------------------------------------------------------------------

    def market_order(
        self, symbol: str, side: Side, qty: Decimal, client_order_id: str,
        ts: Decimal | None = None,
    ) -> BookOrder:
        """A MARKET order, filled in full at the last price (and its timestamp)."""
        f = self.filters(symbol)
        with self._lock:
            self._check_trading(symbol)
            last = self._prices.get(symbol)
            if last is None:
                raise rejected(f"No price for {symbol} yet.")
            price, price_ts, time = last
            ts = price_ts if ts is None else ts
            check_market(f, self.rules, qty, price)
            with self._tx() as cur:
                sql.check_new_order(cur, self.rules, symbol, client_order_id, stop=None,
                                    last=price)
                if side is Side.BUY:
                    sql.move(cur, f.quote_asset, free=-(price * qty))
                else:
                    sql.move(cur, f.base_asset, free=-qty)
                order_id = sql.insert_order(cur, client_order_id, symbol, side,
                                            OrderType.MARKET.value, qty, None, None, ts)
                self._fill(cur, order_id, f, side, price, qty, ts, time, is_maker=False)
                sql.save_price(cur, symbol, self._prices.get(symbol))
            return sql.order_by_id(self._conn, order_id)

    def place_stop_limit(
        self, symbol: str, qty: Decimal, stop_price: Decimal | None, limit_price: Decimal,
        client_order_id: str, ts: Decimal | None = None, *, trailing_delta: int | None = None,
        take_profit: bool = False,
    ) -> BookOrder:
        """A STOP_LOSS_LIMIT SELL, GTC (a TAKE_PROFIT_LIMIT SELL with ``take_profit``, which
        needs ``trailing_delta``). Locks ``qty`` of the base asset.

        With ``trailing_delta`` (basis points) it is a native trailing stop (§3b); then
        ``stop_price`` may be ``None``, and if given, tracking starts once a price reaches it.
        """
        f = self.filters(symbol)
        request = StopRequest(qty, stop_price, limit_price, trailing_delta, take_profit)
        return self._change(symbol, ts, lambda cur, now: self._place_stop(
            cur, f, request, client_order_id, now))

    def cancel(
        self, symbol: str, client_order_id: str | None = None, *, order_id: int | None = None,
        ts: Decimal | None = None,
    ) -> BookOrder:
        """Cancel an open order and unlock its balance; -2011 if there is no such open order
        (or its market takes no cancels)."""
        self.filters(symbol)
        return self._change(symbol, ts, lambda cur, now: self._cancel(
            cur, symbol, client_order_id, order_id, now, check_status=True))

    def cancel_replace(
        self, symbol: str, cancel_client_order_id: str | None, qty: Decimal,
        stop_price: Decimal | None, limit_price: Decimal, new_client_order_id: str,
        ts: Decimal | None = None, *, cancel_order_id: int | None = None,
        trailing_delta: int | None = None, take_profit: bool = False,
    ) -> ReplaceReport:
        """Cancel a stop and place its successor atomically, STOP_ON_FAILURE.

        The new order's filters come first: a failure raises ``OrderRejected`` (-1013) and
        nothing changes. If the cancel fails nothing is placed (``cancel_error_code`` -2011).
        If the cancel succeeds and the matching engine refuses the new order (-2010), the
        cancel stands (Binance's 409).
        """
        f = self.filters(symbol)
        request = StopRequest(qty, stop_price, limit_price, trailing_delta, take_profit)
        with self._lock:
            ts = self._now(symbol, ts)
            self._check_trading(symbol)
            check_stop_request(f, self.rules, request, self.average_price(symbol))
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
                    new_id = self._place_stop(cur, f, request, new_client_order_id, ts)
                except OrderRejected as exc:
                    new_id, new_error, new_code = None, str(exc), exc.code
                else:
                    new_error, new_code = None, None
            self._load_open(symbol)
            canceled = sql.order_by_id(self._conn, canceled_id)
            new = None if new_id is None else sql.order_by_id(self._conn, new_id)
            return ReplaceReport(
                canceled=canceled, new=new, new_error=new_error, new_error_code=new_code
            )

    # --- queries -------------------------------------------------------------------------

    def set_balance(self, asset: str, free: Decimal) -> None:
        """Set an asset's free balance (tests and the sim's control endpoints)."""
        with self._lock:
            current = self.balances().get(asset)
            with self._tx() as cur:
                sql.move(cur, asset, free=free - (current.free if current else ZERO))

    def close(self) -> None:
        with self._lock:
            with self._tx() as cur:
                for symbol in self._prices:
                    sql.save_price(cur, symbol, self._prices.get(symbol))
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
            self._load_open(symbol)
            return sql.order_by_id(self._conn, order_id)

    def _now(self, symbol: str, ts: Decimal | None) -> Decimal:
        if ts is not None:
            return ts
        last = self._prices.get(symbol)
        return ZERO if last is None else last[1]

    def _place_stop(self, cur: sqlite3.Cursor, f: SymbolFilters, request: StopRequest,
                    client_order_id: str, ts: Decimal) -> int:
        self._check_trading(f.symbol)
        check_stop_request(f, self.rules, request, self.average_price(f.symbol))
        sql.check_new_order(cur, self.rules, f.symbol, client_order_id, stop=request,
                            last=self.last_price(f.symbol))
        sql.move(cur, f.base_asset, free=-request.qty, locked=request.qty)
        type_ = sql.TAKE_PROFIT_LIMIT if request.take_profit else OrderType.STOP_LOSS_LIMIT.value
        return sql.insert_order(cur, client_order_id, f.symbol, Side.SELL, type_, request.qty,
                                request.limit, request.stop, ts, request.trailing_delta)

    def _cancel(
        self, cur: sqlite3.Cursor, symbol: str, client_order_id: str | None,
        order_id: int | None, ts: Decimal, *, check_status: bool = False,
    ) -> int:
        if check_status:
            self._check_cancel(symbol)
        return self._close(cur, symbol, client_order_id, order_id, ts, OrderState.CANCELED)

    def _close(
        self, cur: sqlite3.Cursor, symbol: str, client_order_id: str | None,
        order_id: int | None, ts: Decimal, state: OrderState,
    ) -> int:
        """Close an open order as ``state`` (CANCELED, EXPIRED) and give back its lock."""
        row = sql.find(cur, symbol, client_order_id, order_id)
        if row is None or row[8] not in sql.OPEN:
            raise UnknownOrder("Unknown order sent.", code=-2011, http_status=400)
        found, side, qty, executed = row[0], Side(row[3]), Decimal(row[5]), Decimal(row[9])
        if row[4] in sql.STOP_TYPES and side is Side.SELL:
            base = self._filters[symbol].base_asset
            sql.move(cur, base, free=qty - executed, locked=executed - qty)
        elif row[4] == OrderType.LIMIT.value:
            self._unlock_limit(cur, self._filters[symbol], side, qty - executed,
                               Decimal(row[6]))
        sql.set_status(cur, found, state, ts)
        return found
