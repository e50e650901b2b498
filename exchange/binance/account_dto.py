"""User-data ``outboundAccountPosition``, with Binance's one-letter keys (beside
``dto.ExecutionReportDTO``, the stream's other event Ratchet reads)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exchange.binance.dto import BalanceDTO, dec, integer, items, text


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountPositionDTO:
    """User-data ``outboundAccountPosition``: the balances an account update changed.

    e event type · E event time · u time of the last account update ·
    B balances, each ``{"a": asset, "f": free, "l": locked}``.
    """

    e: str
    E: int
    u: int
    B: tuple[BalanceDTO, ...]

    @classmethod
    def parse(cls, raw: Any) -> AccountPositionDTO:
        balances = tuple(
            BalanceDTO(asset=text(b, "a"), free=dec(b, "f"), locked=dec(b, "l"))
            for b in items(raw, "B"))
        return cls(e=text(raw, "e"), E=integer(raw, "E"), u=integer(raw, "u"), B=balances)
