"""Which base and quote assets a symbol trades, where no venue says so (paper mode, replay).

Binance names both assets in exchangeInfo, and binance mode takes them from there. The paper
exchange and replay take them from the pair's ``base``/``quote`` settings when given, otherwise
from a known quote suffix (``BTCUSDT`` → BTC, USDT; ``ETHBTC`` → ETH, BTC). A symbol that fits
neither (``GOOG``) needs ``quote`` set; the error says so.
"""

from __future__ import annotations

from core.errors import ConfigError
from core.types import PairSettings, SymbolFilters

#: Quote assets tried, longest first, when a symbol is split by its suffix.
KNOWN_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "DAI", "EUR", "USD", "TRY", "BTC",
                "ETH", "BNB")


def split_symbol(symbol: str, *, base: str | None = None,
                 quote: str | None = None) -> tuple[str, str]:
    """``(base, quote)`` of ``symbol``. Given assets win; a missing one is what the symbol has
    left once the other is taken off its end (quote) or start (base), else the whole symbol
    (``GOOG`` with ``quote = "USD"`` trades GOOG for USD)."""
    if base and quote:
        return base, quote
    if quote:
        rest = symbol[: -len(quote)] if symbol.endswith(quote) and symbol != quote else symbol
        return rest, quote
    if base:
        rest = symbol[len(base):] if symbol.startswith(base) and symbol != base else ""
        if rest:
            return base, rest
        raise ConfigError(f"{symbol}: cannot tell its quote asset from base {base}; set quote")
    for known in KNOWN_QUOTES:
        if symbol.endswith(known) and len(symbol) > len(known):
            return symbol[: -len(known)], known
    raise ConfigError(f"{symbol}: cannot tell its quote asset; set quote (and base) in its "
                      f"[[pairs]] entry (known quote suffixes: {', '.join(KNOWN_QUOTES)})")


def paper_filters(settings: PairSettings) -> SymbolFilters:
    """The paper exchange's filters for a pair: its assets, ``tick``, ``step``, ``min_notional``
    and the TRAILING_DELTA bounds ``min_trailing_delta``/``max_trailing_delta``."""
    base, quote = split_symbol(settings.symbol, base=settings.base, quote=settings.quote)
    return SymbolFilters(
        symbol=settings.symbol, base_asset=base, quote_asset=quote, tick=settings.tick,
        step=settings.step, min_notional=settings.min_notional,
        min_trailing_delta=settings.min_trailing_delta,
        max_trailing_delta=settings.max_trailing_delta,
    )
