"""The Gateway's view of the pairs that adopt coins (``entry = "adopt"``): their base assets,
and when their balances are read next.

When such a pair registers, the next upkeep reads ``balances()`` (one account call, weight 20)
and again every ``adopt_scan_s`` (the shortest of the adopting pairs'), or once a pause (a ban,
a rate limit) is over. Each adopting pair is told its base asset's balance (``BalanceSeen``);
the venue's own balance updates (Binance's ``outboundAccountPosition``) are passed on the same
way, by base asset.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from decimal import Decimal

from actors.messages import BalanceSeen
from core.types import Balance


class Adopters:
    def __init__(self) -> None:
        self.by_symbol: dict[str, tuple[str, float]] = {}  # symbol -> (base asset, scan every)
        self.scan_at: float | None = None  # when the balances are read next for them

    def register(self, symbol: str, base: str | None, scan_s: float, now: float) -> None:
        if base is None:
            self.by_symbol.pop(symbol, None)
        else:
            self.by_symbol[symbol] = (base, scan_s)
            self.scan_at = now  # read the balances for it at the next upkeep

    def forget(self, symbol: str) -> None:
        self.by_symbol.pop(symbol, None)

    def scan_due(self, now: float, paused_until: float) -> bool:
        """Whether to read the balances now; if so, the next read is scheduled."""
        if not self.by_symbol or self.scan_at is None or now < self.scan_at:
            return False
        if now < paused_until:
            self.scan_at = paused_until
            return False
        self.scan_at = now + min(every for _, every in self.by_symbol.values())
        return True

    def seen(self, balances: Iterable[Balance], *, every: bool) -> list[tuple[str, BalanceSeen]]:
        """What to tell each adopting pair. ``every``: a full read, where an asset not listed
        has none; otherwise an update names only what changed."""
        by_asset = {b.asset: b for b in balances}
        ts = Decimal(time.time_ns()) / 1_000_000_000
        told = []
        for symbol, (base, _) in self.by_symbol.items():
            balance = by_asset.get(base)
            if balance is None and not every:
                continue
            balance = balance or Balance(asset=base, free=Decimal(0))
            told.append((symbol, BalanceSeen(asset=base, free=balance.free,
                                             locked=balance.locked, ts=ts)))
        return told
