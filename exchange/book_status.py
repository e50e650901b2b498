"""A symbol's trading status in the ``Book`` (exchangeInfo's ``status``) and what it allows.

The statuses are Binance's (enums.md): TRADING, END_OF_DAY, HALT, BREAK, CANCEL_ONLY. While a
symbol is not TRADING:

- a new order (POST order, a cancelReplace's new order) is refused before its filters and
  before anything is canceled: 400 -1013 "Market is closed.". errors.md lists the text among
  the matching engine's -2010 messages; the live venue answers it with -1013, the code of a
  request the API refused before the matching engine (ccxt/ccxt PR #6570,
  Drakkar-Software/OctoBot#986, sammchardy/python-binance#1329, fj317/PumpBot#46);
- a cancel goes through in CANCEL_ONLY ("users can only cancel and amend orders", the
  glossary); in HALT, BREAK and END_OF_DAY it is refused, 400 -2011 "Market is closed."
  (**sim**: errors.md's table of -2011 messages holds the text; no live answer is on record).

``set_status(..., expire_orders=True)`` expires every open order of the symbol (EXPIRED, its
lock given back), as Binance does for a maintenance or a delisting. A status other than TRADING
is a row of ``symbol_status``, so it outlives a restart. Prices are the venue's business: the
sim holds a closed symbol's prices back (``exchange.sim.venue``).

Mixed into ``exchange.book.Book``; it needs ``_lock``, ``_tx``, ``_conn``, ``_now``,
``_close``, ``_load_open`` and ``filters`` on the instance.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from core.errors import OrderRejected
from core.types import OrderState
from exchange import book_sql as sql
from exchange.book_rows import BookOrder

TRADING = "TRADING"
SYMBOL_STATUSES = ("TRADING", "END_OF_DAY", "HALT", "BREAK", "CANCEL_ONLY")
CANCELS_ALLOWED = frozenset({"TRADING", "CANCEL_ONLY"})
MARKET_CLOSED = "Market is closed."
CODE_MARKET_CLOSED = -1013  # the live venue's (errors.md would have -2010)
CODE_CANCEL_REFUSED = -2011


class BookStatus:
    """Per symbol: TRADING unless set otherwise."""

    _status: dict[str, str]

    def status(self, symbol: str) -> str:
        self.filters(symbol)
        return self._status.get(symbol, TRADING)

    def statuses(self) -> dict[str, str]:
        """Every listed symbol's status."""
        return {symbol: self._status.get(symbol, TRADING) for symbol in self.symbols()}

    def set_status(self, symbol: str, status: str, *, expire_orders: bool = False,
                   ts: Decimal | None = None) -> list[BookOrder]:
        """Set ``symbol``'s status; with ``expire_orders`` expire its open orders. Returns the
        expired orders, in order id order."""
        self.filters(symbol)
        if status not in SYMBOL_STATUSES:
            raise ValueError(f"status must be one of {list(SYMBOL_STATUSES)}, not {status!r}")
        with self._lock:
            ts = self._now(symbol, ts)
            with self._tx() as cur:
                sql.save_status(cur, symbol, status, TRADING)
                expired = [self._close(cur, symbol, None, order_id, ts, OrderState.EXPIRED)
                           for order_id in sql.open_order_ids(cur, symbol)] if expire_orders else []
            self._status[symbol] = status
            self._load_open(symbol)
            return [sql.order_by_id(self._conn, order_id) for order_id in expired]

    def _load_statuses(self, cur: sqlite3.Cursor) -> None:
        self._status = dict(cur.execute("SELECT symbol, status FROM symbol_status").fetchall())

    def _check_trading(self, symbol: str) -> None:
        """A new order: refused unless the symbol is TRADING."""
        if self._status.get(symbol, TRADING) != TRADING:
            raise OrderRejected(MARKET_CLOSED, code=CODE_MARKET_CLOSED, http_status=400)

    def _check_cancel(self, symbol: str) -> None:
        """A cancel: refused in HALT, BREAK and END_OF_DAY."""
        if self._status.get(symbol, TRADING) not in CANCELS_ALLOWED:
            raise OrderRejected(MARKET_CLOSED, code=CODE_CANCEL_REFUSED, http_status=400)
