"""Numbers as a trader reads them: prices to the symbol's tick, quantities to its step, P&L in
the quote asset with its code (``-41.61 USDT``).

Binance writes every price with eight decimals (``50144.97000000``); a Decimal carries that
exponent along, and a P&L computed from it carries more (``0.0331369365000000``). What a person
reads is the tick's places for a price, the step's for a quantity, and for money the quote's
places: at least two, more when the tick is finer (a P&L in BTC needs them). Rounding happens
here only, in Decimal; a value that rounds to zero never shows a sign (``0.00``, not ``-0.00``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

MONEY_PLACES = 2


def places_of(increment: Decimal | None) -> int | None:
    """The decimal places of a tick or step (``0.01000000`` → 2, ``1`` → 0); None for none."""
    if increment is None or increment <= 0:
        return None
    exponent = increment.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else None


def to_places(value: Decimal, places: int | None) -> str:
    """``value`` with exactly ``places`` decimals (rounded half-even), or as few as it needs
    when ``places`` is None; never ``-0``."""
    if places is None:
        text = format(value.normalize() if value == value.to_integral() else value, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    if rounded == 0:
        rounded = abs(rounded)
    return format(rounded, "f")


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolFormat:
    """How one symbol's numbers read. ``tick``/``step`` None: as many places as the value needs
    (the DB alone, no venue to ask); ``quote`` empty: P&L without a code (unknown)."""

    tick: Decimal | None = None
    step: Decimal | None = None
    quote: str = ""

    def price(self, value: Decimal | None) -> str:
        return "-" if value is None else to_places(value, places_of(self.tick))

    def qty(self, value: Decimal | None) -> str:
        return "-" if value is None else to_places(value, places_of(self.step))

    def money(self, value: Decimal | None, *, code: bool = True) -> str:
        """P&L or a notional in the quote asset: ``-41.61 USDT``."""
        if value is None:
            return "-"
        tick_places = places_of(self.tick)
        places = max(MONEY_PLACES, tick_places if tick_places is not None else 0)
        text = to_places(value, places)
        return f"{text} {self.quote}" if code and self.quote else text


PLAIN = SymbolFormat()


def money(value: Decimal, quote: str, places: int = MONEY_PLACES) -> str:
    """A total in one quote asset, e.g. a replay's P&L: ``-41.61 USDT``."""
    return f"{to_places(value, places)} {quote}".rstrip()
