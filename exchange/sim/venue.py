"""The sim's venue: the Book plus a clock, and the events every change sends out.

Every change of an order (placed, triggered, filled, canceled, expired), from REST, from a price
or from a control endpoint, becomes a user-data ``executionReport``, followed, when it moved a
balance, by an ``outboundAccountPosition`` with the symbol's base and quote asset (and a
commission's asset); every price becomes a market-data frame, sent after the book has matched
it.

A symbol that is not TRADING has no trades: its prices are held back (the last one is kept as
the "true" price), neither matched nor published; when it trades again that price is matched
and published at once.
"""

from __future__ import annotations

import itertools
import threading
import time
from decimal import Decimal

from core.types import Side
from exchange.base import ReplaceReport
from exchange.book import Book, BookOrder, BookTrade
from exchange.book_status import TRADING
from exchange.sim import wire
from exchange.sim.tickers import DayStats, RollingDay
from exchange.sim.ws import WsHub


class SimClock:
    """The server clock: wall clock plus a shift (``/sim/clock``)."""

    def __init__(self) -> None:
        self.shift_ms = 0

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.shift_ms

    def now_ts(self) -> Decimal:
        return Decimal(self.now_ms()) / 1000


class SimVenue:
    """Book operations that also publish what they changed."""

    def __init__(self, book: Book, clock: SimClock, hub: WsHub) -> None:
        self.book = book
        self.clock = clock
        self.hub = hub
        self._trade_ids = itertools.count(1)
        self._days: dict[str, RollingDay] = {}
        self._tick_lock = threading.Lock()
        # symbol -> (price, ts, time) last sent while it was not TRADING
        self._held: dict[str, tuple[Decimal, Decimal | None, str]] = {}

    # --- prices --------------------------------------------------------------------------

    def on_price(self, symbol: str, price: Decimal, ts: Decimal | None, time_: str = "") -> bool:
        """One price: match the book, send the user events, then the market-data frame. A
        symbol that is not TRADING only keeps it for later (returns False)."""
        with self._tick_lock:  # prices of one symbol reach the book and the feed in order
            if self.book.status(symbol) != TRADING:
                self._held[symbol] = (price, ts, time_)
                return False
            self._trade(symbol, price, ts, time_)
            return True

    def _trade(self, symbol: str, price: Decimal, ts: Decimal | None, time_: str) -> None:
        ts = self.clock.now_ts() if ts is None else ts
        for order in self.book.on_price(symbol, price, ts, time_):
            if order.executions:
                self._emit_fills(order)
                self._emit_balances(order)
            else:
                self._emit(order, "NEW")
        self._publish_price(symbol, price, ts)

    def set_status(self, symbol: str, status: str, *, expire_orders: bool = False,
                   ) -> list[BookOrder]:
        """A symbol's trading status; ``expire_orders`` expires its open orders (their
        executionReports and balances go out). Back to TRADING, the held price trades."""
        with self._tick_lock:
            expired = self.book.set_status(symbol, status, expire_orders=expire_orders,
                                           ts=self.clock.now_ts())
            for order in expired:
                self._emit(order, "EXPIRED")
                self._emit_balances(order)
            held = self._held.pop(symbol, None) if status == TRADING else None
            if held is not None:
                self._trade(symbol, *held)
            return expired

    def held_prices(self) -> dict[str, Decimal]:
        """The prices held back from symbols that are not TRADING."""
        with self._tick_lock:
            return {symbol: held[0] for symbol, held in self._held.items()}

    def _publish_price(self, symbol: str, price: Decimal, ts: Decimal) -> None:
        trade_id, event_ms, price_ms = next(self._trade_ids), self.clock.now_ms(), wire.ms(ts)
        day = self._days.setdefault(symbol, RollingDay())
        day.add(trade_id, price, price_ms)
        stats: list[DayStats | None] = []  # at most once a price, and only for a subscriber:
        # a day's statistics walk up to 1,440 minute buckets, 0.2 ms a price

        def data_for(kind: str) -> dict:
            if not stats:
                stats.append(day.stats())
            return wire.trade_event(kind, symbol, trade_id, price, price_ms, event_ms, stats[0])

        self.hub.publish_market(symbol, data_for)

    def day_stats(self, symbol: str) -> DayStats | None:
        """The symbol's last 24 hours of prints (``None`` before its first price)."""
        with self._tick_lock:
            day = self._days.get(symbol)
            return None if day is None else day.stats()

    # --- orders --------------------------------------------------------------------------

    def market(self, symbol: str, side: Side, qty: Decimal, client_id: str) -> BookOrder:
        order = self.book.market_order(symbol, side, qty, client_id, self.clock.now_ts())
        self._emit(order, "NEW", as_new=True)
        self._emit_fills(order)
        self._emit_balances(order)
        return order

    def stop_limit(
        self, symbol: str, qty: Decimal, stop: Decimal | None, limit: Decimal, client_id: str,
        *, trailing_delta: int | None = None, take_profit: bool = False,
    ) -> BookOrder:
        order = self.book.place_stop_limit(symbol, qty, stop, limit, client_id,
                                           self.clock.now_ts(), trailing_delta=trailing_delta,
                                           take_profit=take_profit)
        self._emit(order, "NEW")
        self._emit_balances(order)
        return order

    def limit(self, symbol: str, side: Side, qty: Decimal, price: Decimal,
              client_id: str) -> BookOrder:
        """A LIMIT order (GTC): NEW, then its fill if it crossed the last price."""
        order = self.book.place_limit(symbol, side, qty, price, client_id, self.clock.now_ts())
        self._emit(order, "NEW", as_new=bool(order.executions))
        self._emit_fills(order)
        self._emit_balances(order)
        return order

    def cancel(self, symbol: str, client_id: str | None, order_id: int | None) -> BookOrder:
        order = self.book.cancel(symbol, client_id, order_id=order_id, ts=self.clock.now_ts())
        self._emit(order, "CANCELED")
        self._emit_balances(order)
        return order

    def cancel_replace(
        self, symbol: str, client_id: str | None, order_id: int | None, qty: Decimal,
        stop: Decimal | None, limit: Decimal, new_client_id: str, *,
        trailing_delta: int | None = None, take_profit: bool = False,
    ) -> ReplaceReport:
        """The Book's cancel_replace; a filter failure raises ``OrderRejected`` (-1013)."""
        report = self.book.cancel_replace(
            symbol, client_id, qty, stop, limit, new_client_id, self.clock.now_ts(),
            cancel_order_id=order_id, trailing_delta=trailing_delta, take_profit=take_profit,
        )
        if report.canceled is not None:
            self._emit(report.canceled, "CANCELED")
        if report.new is not None:
            self._emit(report.new, "NEW")
        if report.canceled is not None:
            self._emit_balances(report.canceled)
        return report

    def set_balance(self, asset: str, free: Decimal) -> None:
        """An asset's free balance set from outside (a deposit, a sale elsewhere)."""
        self.book.set_balance(asset, free)
        self._publish_balances([asset])

    def trades_of(self, order: BookOrder) -> list[BookTrade]:
        return self.book.trades(order_id=order.order_id)

    # --- events --------------------------------------------------------------------------

    def _emit_fills(self, order: BookOrder) -> None:
        if not self.hub.has_user_subscribers():
            return
        for trade in self.trades_of(order):
            self.hub.publish_user(wire.execution_report(
                order, self.clock.now_ms(), execution="TRADE", trade=trade))

    def _emit_balances(self, order: BookOrder) -> None:
        f = self.book.filters(order.symbol)
        assets = [f.base_asset, f.quote_asset]
        assets += [e.fee_asset for e in order.executions if e.fee_asset not in assets]
        self._publish_balances(assets)

    def _publish_balances(self, assets: list[str]) -> None:
        if not self.hub.has_user_subscribers():
            return
        held = self.book.balances()
        rows = [(a, held[a].free, held[a].locked) if a in held else (a, Decimal(0), Decimal(0))
                for a in assets]
        self.hub.publish_user(wire.account_position(rows, self.clock.now_ms()))

    def _emit(self, order: BookOrder, execution: str, *, as_new: bool = False) -> None:
        if not self.hub.has_user_subscribers():
            return
        event = wire.execution_report(order, self.clock.now_ms(), execution=execution)
        if as_new:  # a market order's NEW event precedes its fill
            event.update({"X": "NEW", "z": wire.ZERO8, "Z": wire.ZERO8, "w": True})
        self.hub.publish_user(event)
