"""A commission charged in a third asset (BNB, with "use BNB for fees" on), valued in the
pair's quote asset at the price of the moment.

Binance reports such a fee as an amount of BNB and no price. P&L is in the quote asset, so the
adapter values it at the ``BNB<quote>`` last price when the fill is read, and puts that on
``Execution.fee_value`` (``core.pair_logic.fee_in_quote`` uses it). Prices are kept for
``MAX_AGE_S`` (one ticker call, weight 2, per asset and quote at most that often). A fee in the
base or quote asset needs no price; a third asset without a listed ``<asset><quote>`` symbol
stays unvalued (the engine then books ``fee_pct`` of the notional, as before).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from decimal import Decimal

from core.errors import VenueError
from core.types import OrderReport

MAX_AGE_S = 5.0


class FeeValuer:
    """Thread-safe: the Gateway's thread and the user-stream thread both value reports."""

    def __init__(self, *, assets: Callable[[str], tuple[str, str] | None],
                 price: Callable[[str], Decimal], clock: Callable[[], float] = time.monotonic):
        self._assets = assets  # symbol -> (base, quote), or None when unknown
        self._price = price  # symbol -> last price (a venue call)
        self._clock = clock
        self._lock = threading.Lock()
        self._prices: dict[str, tuple[float, Decimal]] = {}

    def value(self, report: OrderReport) -> OrderReport:
        """The report with each third-asset fee valued in the quote asset."""
        assets = self._assets(report.symbol)
        if assets is None or all(ex.fee_asset in assets or ex.fee_value is not None
                                 for ex in report.executions):
            return report
        quote = assets[1]
        executions = tuple(
            ex if ex.fee_asset in assets or ex.fee_value is not None or not ex.fee else
            dataclasses.replace(ex, fee_value=self._in_quote(ex.fee, ex.fee_asset, quote))
            for ex in report.executions)
        return dataclasses.replace(report, executions=executions)

    def _in_quote(self, amount: Decimal, asset: str, quote: str) -> Decimal | None:
        price = self._latest(asset + quote)
        return None if price is None else amount * price

    def _latest(self, symbol: str) -> Decimal | None:
        now = self._clock()
        with self._lock:
            seen = self._prices.get(symbol)
        if seen is not None and now - seen[0] < MAX_AGE_S:
            return seen[1]
        try:
            price = self._price(symbol)
        except VenueError:
            return seen[1] if seen is not None else None
        with self._lock:
            self._prices[symbol] = (now, price)
        return price
