"""The ``Book``'s order rules: Binance's symbol filters and the matching engine's refusals.

Binance refuses an order in one of two places, and the code says which:

- the API's filter checks, before anything reaches the matching engine: -1013
  ``Filter failure: NAME`` (PRICE_FILTER, PERCENT_PRICE_BY_SIDE, LOT_SIZE, MARKET_LOT_SIZE,
  NOTIONAL, TRAILING_DELTA). cancelReplace runs these before its cancel, so a failure leaves the
  old order in place (``check_stop_limit``, ``check_market``).
- the matching engine, which knows the account: -2010 with its message (a duplicate client id,
  a stop that would trigger immediately, too many open orders or algo orders, too little
  balance). In a cancelReplace these come after the cancel (Binance's 409).

``VenueRules`` holds the values Binance lists for BTCUSDT (they are in the sim's exchangeInfo),
and the wording of the one refusal whose live text differs from errors.md (``LIVE_RULES``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from core.errors import OrderRejected
from core.money import ZERO, on_grid
from core.types import Side, SymbolFilters

CODE_FILTER_FAILURE = -1013
CODE_NEW_ORDER_REJECTED = -2010
INSUFFICIENT = "Account has insufficient balance for requested action."
DUPLICATE = "Duplicate order sent."
# A SELL stop the last price already meets, refused by the matching engine (-2010), in two
# wordings: errors.md's, and the live venue's (ccxt/ccxt#8194 and PR #8105 record it in
# {"code":-2010,"msg":"Stop price would trigger immediately."}). The Book says the docs' one
# unless its ``VenueRules`` say otherwise; the sim says the live one (``LIVE_RULES``).
WOULD_TRIGGER_DOCS = "Order would trigger immediately."
WOULD_TRIGGER_LIVE = "Stop price would trigger immediately."


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueRules:
    """Every symbol's limits beyond ``SymbolFilters`` (tick, step, min_notional).

    ``minPrice`` is the tick and ``minQty`` the step, as in the sim's exchangeInfo.
    """

    max_price: Decimal = Decimal("1000000")
    max_qty: Decimal = Decimal("9000")
    max_notional: Decimal = Decimal("9000000")
    bid_multiplier_up: Decimal = Decimal("5")
    bid_multiplier_down: Decimal = Decimal("0.2")
    ask_multiplier_up: Decimal = Decimal("5")
    ask_multiplier_down: Decimal = Decimal("0.2")
    avg_price_mins: int = 5
    min_trailing_above_delta: int = 10
    max_trailing_above_delta: int = 2000
    min_trailing_below_delta: int = 10
    max_trailing_below_delta: int = 2000
    max_num_orders: int = 200
    max_num_algo_orders: int = 5
    # The matching engine's words for a stop the last price already meets (not a limit: the
    # docs and the live venue word it differently).
    would_trigger_msg: str = WOULD_TRIGGER_DOCS


DEFAULT_RULES = VenueRules()
LIVE_RULES = VenueRules(would_trigger_msg=WOULD_TRIGGER_LIVE)


def filter_failure(name: str) -> OrderRejected:
    return OrderRejected(f"Filter failure: {name}", code=CODE_FILTER_FAILURE, http_status=400)


def rejected(message: str) -> OrderRejected:
    """A refusal of the matching engine (-2010, HTTP 400)."""
    return OrderRejected(message, code=CODE_NEW_ORDER_REJECTED, http_status=400)


def check_price(f: SymbolFilters, rules: VenueRules, price: Decimal) -> None:
    """PRICE_FILTER, for ``price`` and ``stopPrice`` alike: minPrice (the tick), maxPrice and
    the tick grid."""
    if price < f.tick or price > rules.max_price or not on_grid(price, f.tick):
        raise filter_failure("PRICE_FILTER")


def check_lot(f: SymbolFilters, rules: VenueRules, qty: Decimal, name: str = "LOT_SIZE") -> None:
    """LOT_SIZE (or MARKET_LOT_SIZE, whose limits the sim lists equal): minQty (the step),
    maxQty and the step grid."""
    if qty < f.step or qty > rules.max_qty or not on_grid(qty, f.step):
        raise filter_failure(name)


def check_percent_price(
    rules: VenueRules, side: Side, price: Decimal, average: Decimal | None
) -> None:
    """PERCENT_PRICE_BY_SIDE against the average price (no prices yet: nothing to check)."""
    if average is None:
        return
    if side is Side.SELL:
        up, down = rules.ask_multiplier_up, rules.ask_multiplier_down
    else:
        up, down = rules.bid_multiplier_up, rules.bid_multiplier_down
    if price > average * up or price < average * down:
        raise filter_failure("PERCENT_PRICE_BY_SIDE")


def check_trailing_delta(rules: VenueRules, delta: int, *, take_profit: bool,
                         f: SymbolFilters | None = None) -> None:
    """TRAILING_DELTA: a SELL take-profit trails above the market, a SELL stop-loss below it.
    A stop-loss's bounds are the symbol's own (``f``: the paper exchange takes them from each
    pair's ``min_trailing_delta``/``max_trailing_delta``) within the venue's."""
    if take_profit:
        low, high = rules.min_trailing_above_delta, rules.max_trailing_above_delta
    else:
        low, high = rules.min_trailing_below_delta, rules.max_trailing_below_delta
        if f is not None:
            low, high = max(low, f.min_trailing_delta), min(high, f.max_trailing_delta)
    if not low <= delta <= high:
        raise filter_failure("TRAILING_DELTA")


def check_stop_limit(
    f: SymbolFilters, rules: VenueRules, *, qty: Decimal, stop: Decimal | None, limit: Decimal,
    trailing_delta: int | None, take_profit: bool, average: Decimal | None,
) -> None:
    """The filters of a STOP_LOSS_LIMIT / TAKE_PROFIT_LIMIT SELL, in this order: PRICE_FILTER
    (stop, then limit), PERCENT_PRICE_BY_SIDE (limit), LOT_SIZE, NOTIONAL (at the limit),
    TRAILING_DELTA."""
    if stop is not None:
        check_price(f, rules, stop)
    check_price(f, rules, limit)
    check_percent_price(rules, Side.SELL, limit, average)
    check_lot(f, rules, qty)
    notional = qty * limit
    if notional < f.min_notional or notional > rules.max_notional:
        raise filter_failure("NOTIONAL")
    if trailing_delta is not None:
        check_trailing_delta(rules, trailing_delta, take_profit=take_profit, f=f)


@dataclass(frozen=True, slots=True)
class StopRequest:
    """A SELL stop-limit as asked for: ``stop`` may be ``None`` only with a trailing delta;
    ``take_profit`` makes it a TAKE_PROFIT_LIMIT, which (**sim**) needs a trailing delta."""

    qty: Decimal
    stop: Decimal | None
    limit: Decimal
    trailing_delta: int | None = None
    take_profit: bool = False


def check_stop_request(f: SymbolFilters, rules: VenueRules, request: StopRequest,
                       average: Decimal | None) -> None:
    """What the API checks before the matching engine sees a stop-limit: -1102, -1116, then
    the -1013 filters (``check_stop_limit``)."""
    if request.stop is None and request.trailing_delta is None:
        raise OrderRejected("Param 'stopPrice' or 'trailingDelta' must be sent, but both were "
                            "empty/null!", code=-1102, http_status=400)
    if request.take_profit and request.trailing_delta is None:
        raise OrderRejected("Invalid orderType.", code=-1116, http_status=400)
    check_stop_limit(f, rules, qty=request.qty, stop=request.stop, limit=request.limit,
                     trailing_delta=request.trailing_delta, take_profit=request.take_profit,
                     average=average)


def check_market(f: SymbolFilters, rules: VenueRules, qty: Decimal, price: Decimal) -> None:
    """A MARKET order: LOT_SIZE, MARKET_LOT_SIZE, and NOTIONAL's minimum at ``price``
    (``applyMinToMarket`` true, ``applyMaxToMarket`` false)."""
    check_lot(f, rules, qty)
    check_lot(f, rules, qty, "MARKET_LOT_SIZE")
    if qty * price < f.min_notional:
        raise filter_failure("NOTIONAL")


def check_limit(f: SymbolFilters, rules: VenueRules, side: Side, qty: Decimal, price: Decimal,
                average: Decimal | None) -> None:
    """The filters of a LIMIT order, in this order: PRICE_FILTER, PERCENT_PRICE_BY_SIDE (by
    side), LOT_SIZE, NOTIONAL (minimum and maximum at the limit price)."""
    check_price(f, rules, price)
    check_percent_price(rules, side, price, average)
    check_lot(f, rules, qty)
    notional = qty * price
    if notional < f.min_notional or notional > rules.max_notional:
        raise filter_failure("NOTIONAL")


def limit_lock(f: SymbolFilters, side: Side, qty: Decimal, price: Decimal) -> tuple[str, Decimal]:
    """What an open LIMIT order holds: a BUY its quote at the limit price, a SELL its base."""
    return (f.quote_asset, qty * price) if side is Side.BUY else (f.base_asset, qty)


def limit_fills(side: Side, limit: Decimal, price: Decimal) -> bool:
    """Whether ``price`` reaches a LIMIT order: at or below a BUY's limit, at or above a
    SELL's."""
    return price <= limit if side is Side.BUY else price >= limit


def would_trigger(stop: Decimal, last: Decimal | None, *, take_profit: bool) -> bool:
    """Whether the last price already meets a SELL stop price: at or below it for a stop-loss
    (``stopPrice >= last``), at or above it for a take-profit. Binance refuses such an order
    (-2010); with no price yet there is nothing to compare."""
    if last is None:
        return False
    return last >= stop if take_profit else last <= stop


class AveragePrice:
    """The average of a symbol's prices over the last ``minutes`` of price time.

    Every price of the sim's path is one trade of one size, so the plain average is Binance's
    volume-weighted average price. With ``minutes == 0`` it is the last price, as on Binance.
    The division is not money (the result is only compared with a band), so its rounding to the
    context's 28 digits does no harm.
    """

    def __init__(self, minutes: int) -> None:
        self._span = Decimal(minutes * 60)
        self._prices: deque[tuple[Decimal, Decimal]] = deque()
        self._sum = ZERO

    def add(self, ts: Decimal, price: Decimal) -> None:
        self._prices.append((ts, price))
        self._sum += price
        cutoff = ts - self._span  # the window is (ts - span, ts]; the last price always stays
        while len(self._prices) > 1 and (self._span == 0 or self._prices[0][0] <= cutoff):
            self._sum -= self._prices.popleft()[1]

    def value(self) -> Decimal | None:
        return self._sum / len(self._prices) if self._prices else None
