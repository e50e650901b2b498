"""Who pays a trade's commission, and in which asset (the ``Book``'s fee modes).

- ``FeeMode.RECEIVED`` (Binance): the commission is taken from what the trade received. A BUY
  pays ``qty × rate`` in the **base** asset (buy 0.002 BTC at 0.1 %, receive 0.001998), a SELL
  pays ``notional × rate`` in the **quote** asset.
- ``FeeMode.QUOTE``: both sides pay ``notional × rate`` in the quote asset, so base quantities
  stay exact. ``ratchet replay``'s reference results (DESIGN.md §3) are computed this way.
- A fee asset (``fee_asset="BNB"``, Binance's "use BNB for fees") pays instead, when it can: the
  commission's value in the quote asset, ``notional × rate``, divided by the fee asset's price
  in the quote asset at that moment (1 when the quote *is* the fee asset). When there is no
  such price, or the free fee-asset balance is too small, the mode's normal asset pays, as
  Binance falls back when BNB runs out. **sim**: Binance also gives a BNB discount; the sim
  charges the full value.

Commissions are rounded down to ``places`` decimals (8 on the sim, like Binance's commission
precision); ``None`` keeps them exact. A fee-asset commission is always rounded to 8, since the
division rarely ends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

from core.money import HUNDRED
from core.types import Side, SymbolFilters

FEE_ASSET_PLACES = 8


class FeeMode(StrEnum):
    RECEIVED = "received"
    QUOTE = "quote"


@dataclass(frozen=True, slots=True)
class Commission:
    asset: str
    amount: Decimal


def round_down(value: Decimal, places: int | None) -> Decimal:
    if places is None:
        return value
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)


def normal_commission(
    mode: FeeMode, f: SymbolFilters, side: Side, qty: Decimal, price: Decimal, pct: Decimal,
    places: int | None,
) -> Commission:
    """The commission (``pct`` % of what it is taken from) in the mode's own asset. Computed
    as ``amount × pct / 100``, so a quote fee has the exact Decimal form replay has always
    reported."""
    if mode is FeeMode.RECEIVED and side is Side.BUY:
        return Commission(f.base_asset, round_down(qty * pct / HUNDRED, places))
    return Commission(f.quote_asset, round_down(price * qty * pct / HUNDRED, places))


def fee_asset_commission(
    fee_asset: str, qty: Decimal, price: Decimal, pct: Decimal, conversion: Decimal,
) -> Commission:
    """The commission paid in ``fee_asset``; ``conversion`` is its price in the quote asset."""
    value = price * qty * pct / HUNDRED
    return Commission(fee_asset, round_down(value / conversion, FEE_ASSET_PLACES))


class FeeSchedule:
    """A venue's commission rule: ``fee_pct`` % (per symbol: ``symbol_fee_pct``), ``mode``,
    an optional ``fee_asset``, and the rounding ``places``."""

    def __init__(self, fee_pct: Decimal, *, mode: FeeMode = FeeMode.RECEIVED,
                 fee_asset: str | None = None, places: int | None = None,
                 symbol_fee_pct: Mapping[str, Decimal] | None = None) -> None:
        self.fee_pct = fee_pct
        self.mode = FeeMode(mode)
        self.fee_asset = fee_asset
        self.places = places
        self._symbol_fee_pct = dict(symbol_fee_pct or {})

    def set_symbol_fee(self, symbol: str, fee_pct: Decimal) -> None:
        self._symbol_fee_pct[symbol] = fee_pct

    def commission(
        self, f: SymbolFilters, side: Side, price: Decimal, qty: Decimal, *,
        price_of: Callable[[str], Decimal | None], free_of: Callable[[str], Decimal],
    ) -> Commission:
        """The commission of one fill. ``price_of(symbol)`` is a last price, ``free_of(asset)``
        a free balance after the fill's proceeds were credited."""
        pct = self._symbol_fee_pct.get(f.symbol, self.fee_pct)
        asset = self.fee_asset
        if asset is not None:
            conversion = (Decimal(1) if f.quote_asset == asset
                          else price_of(asset + f.quote_asset))
            if conversion is not None and conversion > 0:
                fee = fee_asset_commission(asset, qty, price, pct, conversion)
                if free_of(asset) >= fee.amount:
                    return fee
        return normal_commission(self.mode, f, side, qty, price, pct, self.places)
