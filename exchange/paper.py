"""``PaperExchange``: the in-process venue of paper mode and replay, over a ``Book``.

Its state (balances, open stop orders, trades) lives in its own SQLite file, so after a restart
its stop orders are still there, as they would be on Binance. Filters come from each pair's
``tick``, ``step`` and ``min_notional``; an order that breaks one is refused with
``OrderRejected(code=-1013)``, and the book's other Binance rules apply as on the sim (a stop
that would trigger immediately, five algo orders per symbol, ...; see ``exchange.book``). Fees
are each pair's ``fee_pct`` % of the notional, charged in the quote asset on both sides unless
``fee_mode`` says otherwise (``FeeMode.RECEIVED``: Binance's base-asset fee on a BUY), so that
replay keeps its reference results; ``fee_asset="BNB"`` pays in BNB when it can.

The Gateway calls ``on_price`` with every price before the pair decides (DESIGN.md §3 step 1);
fills of resting stops come back from that call, so no listener is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

from core.errors import VenueError
from core.symbols import paper_filters
from core.types import Balance, PairSettings, Side, SymbolFilters
from exchange.base import Exchange, OrderReport, ReplaceReport
from exchange.book import Book
from exchange.book_fees import FeeMode

#: What every quote asset of a configured pair starts with, unless ``balances`` names it.
DEFAULT_QUOTE_BALANCE = Decimal(1_000_000)


class PaperExchange(Exchange):
    """A simulated spot venue with the DESIGN.md §3 fill model, persisted in ``path``.

    The account holds ``DEFAULT_QUOTE_BALANCE`` of every configured pair's quote asset, and
    what ``balances`` (``[paper] balances``) names, which wins for the assets it names. That
    seeds a new state file; a reopened file keeps its own balances, and an asset it has never
    held (the quote of a pair added since) is funded the same way.
    """

    name = "paper"

    def __init__(
        self,
        path: str | Path,
        *,
        settings: Mapping[str, PairSettings],
        balances: Mapping[str, Decimal] | None = None,
        fee_mode: FeeMode = FeeMode.QUOTE,
        fee_asset: str | None = None,
    ) -> None:
        filters = {symbol: paper_filters(s) for symbol, s in settings.items()}
        self._seed = dict(balances or {})
        self._book = Book(
            path,
            fee_pct=Decimal("0.1"),
            filters=filters,
            balances=self._seed,
            symbol_fee_pct={symbol: s.fee_pct for symbol, s in settings.items()},
            fee_mode=fee_mode,
            fee_asset=fee_asset,
        )
        self._fund_new_assets(filters.values())

    def _fund_new_assets(self, filters) -> None:
        held = self._book.balances()
        for f in filters:
            for asset in (f.quote_asset, f.base_asset):
                if asset in held:
                    continue
                if asset in self._seed:
                    self._book.set_balance(asset, self._seed[asset])
                elif asset == f.quote_asset:
                    self._book.set_balance(asset, DEFAULT_QUOTE_BALANCE)
                held = self._book.balances()

    @property
    def book(self) -> Book:
        """The underlying book (tests, and changes "from outside" while the engine is down)."""
        return self._book

    def on_price(
        self, symbol: str, price: Decimal, ts: Decimal, time: str = ""
    ) -> list[OrderReport]:
        """Match resting and triggered stops against ``price``; reports of what changed."""
        return [r.plain() for r in self._book.on_price(symbol, price, ts, time)]

    def add_pair(self, settings: PairSettings) -> None:
        filters = paper_filters(settings)
        self._book.add_symbol(filters, settings.fee_pct)
        self._fund_new_assets((filters,))

    def symbol_filters(self, symbol: str) -> SymbolFilters:
        return self._book.filters(symbol)

    def market_order(
        self, *, symbol: str, side: Side, qty: Decimal, client_order_id: str
    ) -> OrderReport:
        return self._book.market_order(symbol, side, qty, client_order_id).plain()

    def place_stop_limit(
        self, *, symbol: str, qty: Decimal, stop_price: Decimal | None, limit_price: Decimal,
        client_order_id: str, trailing_delta: int | None = None,
    ) -> OrderReport:
        return self._book.place_stop_limit(
            symbol, qty, stop_price, limit_price, client_order_id,
            trailing_delta=trailing_delta,
        ).plain()

    def cancel_replace(
        self, *, symbol: str, cancel_client_order_id: str, qty: Decimal,
        stop_price: Decimal | None, limit_price: Decimal, new_client_order_id: str,
        trailing_delta: int | None = None,
    ) -> ReplaceReport:
        report = self._book.cancel_replace(
            symbol, cancel_client_order_id, qty, stop_price, limit_price, new_client_order_id,
            trailing_delta=trailing_delta,
        )
        return ReplaceReport(
            canceled=None if report.canceled is None else report.canceled.plain(),
            new=None if report.new is None else report.new.plain(),
            cancel_error=report.cancel_error, new_error=report.new_error,
            cancel_error_code=report.cancel_error_code, new_error_code=report.new_error_code,
        )

    def cancel(self, *, symbol: str, client_order_id: str) -> OrderReport:
        return self._book.cancel(symbol, client_order_id).plain()

    def get_order(self, *, symbol: str, client_order_id: str) -> OrderReport:
        return self._book.get_order(symbol, client_order_id).plain()

    def open_orders(self) -> list[OrderReport]:
        return [r.plain() for r in self._book.open_orders()]

    def balances(self) -> dict[str, Balance]:
        return self._book.balances()

    def last_price(self, symbol: str) -> Decimal:
        price = self._book.last_price(symbol)
        if price is None:
            raise VenueError(f"{symbol}: no price yet")
        return price

    def close(self) -> None:
        self._book.close()
