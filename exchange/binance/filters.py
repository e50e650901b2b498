"""Symbol filters from ``exchangeInfo``, and the local check that refuses a bad order unsent.

Read: PRICE_FILTER (``tickSize``, ``minPrice``, ``maxPrice``), LOT_SIZE (``stepSize``,
``minQty``, ``maxQty``) and NOTIONAL (``minNotional``, ``maxNotional``) or, on older
listings, MIN_NOTIONAL (``minNotional``). A zero bound means "no bound", as on Binance. Also,
when listed: PERCENT_PRICE_BY_SIDE (the SELL band ``askMultiplierDown``/``Up``),
MAX_NUM_ALGO_ORDERS (``maxNumAlgoOrders``) and TRAILING_DELTA (the STOP_LOSS side bounds,
``minTrailingBelowDelta``/``maxTrailingBelowDelta``: a SELL stop trails below the price).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.errors import OrderRejected
from core.types import SymbolFilters
from exchange.binance.dto import SymbolDTO, dec
from exchange.binance.errors import CODE_FILTER_FAILURE, MalformedResponse

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolRules:
    """Everything the local check needs about one symbol."""

    symbol: str
    base_asset: str
    quote_asset: str
    tick: Decimal
    min_price: Decimal = ZERO
    max_price: Decimal = ZERO
    step: Decimal
    min_qty: Decimal = ZERO
    max_qty: Decimal = ZERO
    min_notional: Decimal = ZERO
    max_notional: Decimal = ZERO
    notional_applies_to_market: bool = True
    ask_multiplier_down: Decimal | None = None
    ask_multiplier_up: Decimal | None = None
    max_algo_orders: int = 5
    min_trailing_delta: int = 10
    max_trailing_delta: int = 2000

    def to_core(self) -> SymbolFilters:
        return SymbolFilters(
            symbol=self.symbol, base_asset=self.base_asset, quote_asset=self.quote_asset,
            tick=self.tick, step=self.step, min_notional=self.min_notional,
            min_price=self.min_price, max_price=self.max_price, min_qty=self.min_qty,
            max_qty=self.max_qty, ask_multiplier_down=self.ask_multiplier_down,
            ask_multiplier_up=self.ask_multiplier_up, max_algo_orders=self.max_algo_orders,
            min_trailing_delta=self.min_trailing_delta,
            max_trailing_delta=self.max_trailing_delta,
        )


def rules_from_symbol(sym: SymbolDTO) -> SymbolRules:
    """Parse one ``exchangeInfo.symbols[]`` entry. PRICE_FILTER and LOT_SIZE are required."""
    price = sym.filters.get("PRICE_FILTER")
    lot = sym.filters.get("LOT_SIZE")
    if price is None or lot is None:
        raise MalformedResponse(f"binance: {sym.symbol} lacks PRICE_FILTER or LOT_SIZE")
    notional = sym.filters.get("NOTIONAL")
    legacy = sym.filters.get("MIN_NOTIONAL")
    min_notional = max_notional = ZERO
    applies_to_market = True
    if notional is not None:
        min_notional = dec(notional, "minNotional")
        max_notional = dec(notional, "maxNotional") if "maxNotional" in notional else ZERO
        applies_to_market = bool(notional.get("applyMinToMarket", True))
    elif legacy is not None:
        min_notional = dec(legacy, "minNotional")
        applies_to_market = bool(legacy.get("applyToMarket", True))
    band = sym.filters.get("PERCENT_PRICE_BY_SIDE")
    algo = sym.filters.get("MAX_NUM_ALGO_ORDERS")
    trailing = sym.filters.get("TRAILING_DELTA")
    extra: dict = {}
    if band is not None:
        extra.update(ask_multiplier_down=dec(band, "askMultiplierDown"),
                     ask_multiplier_up=dec(band, "askMultiplierUp"))
    if algo is not None:
        extra["max_algo_orders"] = _int(algo, "maxNumAlgoOrders", sym.symbol)
    if trailing is not None:
        extra.update(min_trailing_delta=_int(trailing, "minTrailingBelowDelta", sym.symbol),
                     max_trailing_delta=_int(trailing, "maxTrailingBelowDelta", sym.symbol))
    return SymbolRules(
        **extra,
        symbol=sym.symbol, base_asset=sym.baseAsset, quote_asset=sym.quoteAsset,
        tick=dec(price, "tickSize"), min_price=dec(price, "minPrice"),
        max_price=dec(price, "maxPrice"), step=dec(lot, "stepSize"),
        min_qty=dec(lot, "minQty"), max_qty=dec(lot, "maxQty"),
        min_notional=min_notional, max_notional=max_notional,
        notional_applies_to_market=applies_to_market,
    )


def _int(raw: dict, key: str, symbol: str) -> int:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedResponse(f"binance: {symbol} filter {key} is not an integer: {value!r}")
    return value


def check_order(
    rules: SymbolRules, *, qty: Decimal, price: Decimal | None = None,
    stop_price: Decimal | None = None, market_price: Decimal | None = None,
) -> None:
    """Raise ``OrderRejected(code=-1013)`` naming the first filter the order breaks.

    ``price``/``stop_price`` are a limit order's prices; a MARKET order passes neither and,
    when a recent ``market_price`` is known, its notional is checked against that.
    """
    problem = _first_problem(rules, qty=qty, price=price, stop_price=stop_price,
                             market_price=market_price)
    if problem is not None:
        raise OrderRejected(
            f"order refused locally: {rules.symbol} {problem}", code=CODE_FILTER_FAILURE
        )


def _first_problem(
    rules: SymbolRules, *, qty: Decimal, price: Decimal | None, stop_price: Decimal | None,
    market_price: Decimal | None,
) -> str | None:
    if qty <= 0:
        return f"LOT_SIZE: quantity {qty} is not positive"
    if rules.step > 0 and qty % rules.step != 0:
        return f"LOT_SIZE: quantity {qty} is not a multiple of step {rules.step}"
    if rules.min_qty > 0 and qty < rules.min_qty:
        return f"LOT_SIZE: quantity {qty} is below minQty {rules.min_qty}"
    if rules.max_qty > 0 and qty > rules.max_qty:
        return f"LOT_SIZE: quantity {qty} is above maxQty {rules.max_qty}"
    for name, p in (("price", price), ("stop price", stop_price)):
        if p is None:
            continue
        if p <= 0:
            return f"PRICE_FILTER: {name} {p} is not positive"
        if rules.tick > 0 and p % rules.tick != 0:
            return f"PRICE_FILTER: {name} {p} is not a multiple of tick {rules.tick}"
        if rules.min_price > 0 and p < rules.min_price:
            return f"PRICE_FILTER: {name} {p} is below minPrice {rules.min_price}"
        if rules.max_price > 0 and p > rules.max_price:
            return f"PRICE_FILTER: {name} {p} is above maxPrice {rules.max_price}"
    reference = price
    if reference is None and rules.notional_applies_to_market:
        reference = market_price
    if reference is not None:
        notional = qty * reference
        if rules.min_notional > 0 and notional < rules.min_notional:
            return f"NOTIONAL: {qty} × {reference} = {notional} is below {rules.min_notional}"
        if price is not None and rules.max_notional > 0 and notional > rules.max_notional:
            return f"NOTIONAL: {qty} × {reference} = {notional} is above {rules.max_notional}"
    return None
