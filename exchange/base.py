"""The ``Exchange`` interface the Gateway actor uses, and the reports it returns.

Implementations: ``exchange.paper.PaperExchange`` (in-process, SQLite-backed) and
``exchange.binance.BinanceExchange`` (python-binance over HTTP). Calls are synchronous and are
made only from the Gateway's thread. Errors are the ``core.errors.VenueError`` tree.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from core.errors import OrderRejected, StatusUnknown, UnknownOrder
from core.types import (  # noqa: F401 - the venue report types, re-exported
    Balance,
    Execution,
    OrderReport,
    PairSettings,
    ReplaceReport,
    Side,
    SymbolFilters,
)

ExecutionListener = Callable[[OrderReport], None]
BalanceListener = Callable[[tuple[Balance, ...]], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class RateBudget:
    """What the venue says is left of its limits, read from its headers."""

    weight_used: int = 0
    weight_limit: int = 6000
    orders_used: int = 0
    orders_limit: int = 100
    extra: dict[str, int] = field(default_factory=dict)


class Exchange(ABC):
    """A spot venue, seen through Ratchet's own types. Only the Gateway calls it.

    ``landing_window_s``: how long after an order request whose outcome was unknown the order
    may still reach the matching engine (Binance: the request's ``recvWindow`` and a margin);
    until then "no such order" is not an answer. A venue in-process answers at once (0).
    """

    name: str = "exchange"
    landing_window_s: float = 0.0

    @abstractmethod
    def symbol_filters(self, symbol: str) -> SymbolFilters:
        """tick, step and min_notional of a symbol (exchangeInfo)."""

    @abstractmethod
    def market_order(
        self, *, symbol: str, side: Side, qty: Decimal, client_order_id: str
    ) -> OrderReport:
        """A MARKET order; the report carries its executions."""

    @abstractmethod
    def place_stop_limit(
        self, *, symbol: str, qty: Decimal, stop_price: Decimal | None, limit_price: Decimal,
        client_order_id: str, trailing_delta: int | None = None,
    ) -> OrderReport:
        """A STOP_LOSS_LIMIT SELL, GTC. With ``trailing_delta`` (basis points) and no
        ``stop_price`` it is a native trailing stop (DESIGN.md §3b): the venue trails it from
        the first price after placement; its limit stays where it was placed."""

    @abstractmethod
    def cancel_replace(
        self, *, symbol: str, cancel_client_order_id: str, qty: Decimal,
        stop_price: Decimal | None, limit_price: Decimal, new_client_order_id: str,
        trailing_delta: int | None = None,
    ) -> ReplaceReport:
        """Cancel a stop and place its successor in one request (STOP_ON_FAILURE); the
        successor may be a native trailing stop (``trailing_delta``, no ``stop_price``)."""

    @abstractmethod
    def cancel(self, *, symbol: str, client_order_id: str) -> OrderReport:
        """Cancel an open order. Raises ``UnknownOrder`` (-2011) if the venue has none open."""

    @abstractmethod
    def get_order(self, *, symbol: str, client_order_id: str) -> OrderReport:
        """One order by client id. Raises ``UnknownOrder`` if the venue never saw it."""

    @abstractmethod
    def open_orders(self) -> list[OrderReport]:
        """Every open order of every symbol, in one request."""

    @abstractmethod
    def balances(self) -> dict[str, Balance]:
        """Free and locked balance per asset."""

    @abstractmethod
    def last_price(self, symbol: str) -> Decimal:
        """The last traded price of a symbol."""

    def last_prices(self, symbols: Sequence[str]) -> dict[str, Decimal]:
        """The last prices of ``symbols``; a symbol the venue has no price for is left out.
        One ``last_price`` call each; a venue that lists every price in one request overrides
        this (boot reconciliation asks for every open position's symbol at once)."""
        prices: dict[str, Decimal] = {}
        for symbol in symbols:
            with contextlib.suppress(StatusUnknown, UnknownOrder, OrderRejected, KeyError,
                                     ValueError):
                prices[symbol] = self.last_price(symbol)
        return prices

    def market_open(self, symbol: str) -> bool:
        """Whether the symbol trades now (Binance: status TRADING); a venue without statuses
        always trades."""
        return True

    def refresh_filters(self, symbol: str) -> SymbolFilters:
        """The symbol's filters read again from the venue (after a filter refusal)."""
        return self.symbol_filters(symbol)

    def add_pair(self, settings: PairSettings) -> None:  # noqa: B027
        """A pair was added at run time; venues that take filters from the config learn it."""

    def connect(self) -> list[str]:
        """Check credentials and prepare (clock sync) before anything trades; returns
        warnings for the operator. Raises ``AuthError`` for a wrong key or secret."""
        return []

    def wait_ready(self) -> None:  # noqa: B027
        """Wait for what ``connect`` started and did not wait for (a venue's reference data,
        such as the symbols' filters); raises its error. Boot reads its DB meanwhile."""

    def start_streams(self) -> None:  # noqa: B027
        """Start pushing execution reports to the listener (a venue's user-data stream)."""

    def maintain(self) -> None:  # noqa: B027
        """Periodic upkeep, called by the Gateway about once a second (REST polling of orders
        while a user stream is down)."""

    def set_listener(self, listener: ExecutionListener | None) -> None:  # noqa: B027
        """Where asynchronous execution reports (fills of resting orders) go."""

    def set_balance_listener(self, listener: BalanceListener | None) -> None:  # noqa: B027
        """Where balance updates pushed by the venue go (Binance's ``outboundAccountPosition``:
        the assets that changed, free and locked). Venues without a push have none; the
        Gateway's scan of ``balances()`` covers them."""

    def set_waker(self, wake: Callable[[], None] | None) -> None:  # noqa: B027
        """Called when ``maintain`` has work due now (a catch-up after an unreadable report)."""

    def rate_budget(self) -> RateBudget:
        """The venue's limits as last seen; venues without limits report an empty budget."""
        return RateBudget()

    def close(self) -> None:  # noqa: B027
        """Release connections and files."""
