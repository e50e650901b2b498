"""Binance response and event shapes, with Binance's own field names.

python-binance decodes bodies with ``json``, so a price arrives as the ``str`` Binance sent and
is parsed straight into ``Decimal``. A float where Binance sends a decimal string means the
answer is not what we think it is: parsing refuses it with ``MalformedResponse``. Ids and
times are ints. Nothing here knows Ratchet's types; ``translate`` maps these to them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exchange.binance.fields import (  # noqa: F401 - the readers, used by the adapter too
    _need,
    dec,
    flag,
    integer,
    items,
    opt_dec,
    opt_int,
    opt_text,
    text,
)
from exchange.binance.order_dto import (  # noqa: F401 - part of this module's API
    CancelReplaceDTO,
    ErrorDTO,
    ExecutionReportDTO,
    FillDTO,
    MyTradeDTO,
    OrderDTO,
    TradeEventDTO,
)

# --- REST: general --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerTimeDTO:
    """``GET /api/v3/time``."""

    serverTime: int

    @classmethod
    def parse(cls, raw: Any) -> ServerTimeDTO:
        return cls(serverTime=integer(raw, "serverTime"))


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitDTO:
    """One entry of ``exchangeInfo.rateLimits``."""

    rateLimitType: str
    interval: str
    intervalNum: int
    limit: int

    @classmethod
    def parse(cls, raw: Any) -> RateLimitDTO:
        return cls(
            rateLimitType=text(raw, "rateLimitType"), interval=text(raw, "interval"),
            intervalNum=integer(raw, "intervalNum"), limit=integer(raw, "limit"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolDTO:
    """One entry of ``exchangeInfo.symbols``. ``filters`` is keyed by ``filterType``; the
    values stay raw objects that ``filters.py`` reads."""

    symbol: str
    status: str
    baseAsset: str
    quoteAsset: str
    orderTypes: tuple[str, ...]
    filters: dict[str, dict[str, Any]]

    @classmethod
    def parse(cls, raw: Any) -> SymbolDTO:
        filters: dict[str, dict[str, Any]] = {}
        for f in items(raw, "filters"):
            filters[text(f, "filterType")] = f
        return cls(
            symbol=text(raw, "symbol"), status=text(raw, "status"),
            baseAsset=text(raw, "baseAsset"), quoteAsset=text(raw, "quoteAsset"),
            orderTypes=tuple(str(t) for t in raw.get("orderTypes", ())), filters=filters,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ExchangeInfoDTO:
    """``GET /api/v3/exchangeInfo``."""

    timezone: str
    serverTime: int
    rateLimits: tuple[RateLimitDTO, ...]
    symbols: tuple[SymbolDTO, ...]

    @classmethod
    def parse(cls, raw: Any, *, only: Collection[str] = ()) -> ExchangeInfoDTO:
        """``only``: parse just these symbols (Binance lists over 3,000; a config names a few).
        Empty: every symbol."""
        listed = items(raw, "symbols")
        if only:
            listed = [s for s in listed if not isinstance(s, dict) or s.get("symbol") in only]
        return cls(
            timezone=str(raw.get("timezone", "UTC")) if isinstance(raw, dict) else "UTC",
            serverTime=integer(raw, "serverTime"),
            rateLimits=tuple(RateLimitDTO.parse(r) for r in items(raw, "rateLimits")),
            symbols=tuple(SymbolDTO.parse(s) for s in listed),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TickerPriceDTO:
    """``GET /api/v3/ticker/price?symbol=``."""

    symbol: str
    price: Decimal

    @classmethod
    def parse(cls, raw: Any) -> TickerPriceDTO:
        return cls(symbol=text(raw, "symbol"), price=dec(raw, "price"))


# --- REST: account --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BalanceDTO:
    asset: str
    free: Decimal
    locked: Decimal

    @classmethod
    def parse(cls, raw: Any) -> BalanceDTO:
        return cls(asset=text(raw, "asset"), free=dec(raw, "free"), locked=dec(raw, "locked"))


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountDTO:
    """``GET /api/v3/account``."""

    canTrade: bool
    canWithdraw: bool
    accountType: str
    balances: tuple[BalanceDTO, ...]

    @classmethod
    def parse(cls, raw: Any, *, balances: bool = True) -> AccountDTO:
        """``balances=False``: the flags alone (the boot's key check needs no balances)."""
        return cls(
            canTrade=flag(raw, "canTrade", True), canWithdraw=flag(raw, "canWithdraw"),
            accountType=str(raw.get("accountType", "SPOT")),
            balances=tuple(BalanceDTO.parse(b) for b in items(raw, "balances"))
            if balances else (),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiRestrictionsDTO:
    """``GET /sapi/v1/account/apiRestrictions``: what the API key may do."""

    enableWithdrawals: bool
    enableReading: bool
    enableSpotAndMarginTrading: bool
    ipRestrict: bool

    @classmethod
    def parse(cls, raw: Any) -> ApiRestrictionsDTO:
        return cls(
            enableWithdrawals=flag(raw, "enableWithdrawals"),
            enableReading=flag(raw, "enableReading"),
            enableSpotAndMarginTrading=flag(raw, "enableSpotAndMarginTrading"),
            ipRestrict=flag(raw, "ipRestrict"),
        )
