"""Binance through python-binance: the only package that sees Binance field names and enum
strings (STYLE.md §9). ``BinanceExchange`` is the ``Exchange``; ``BinanceMarketData`` feeds
trades from combined streams.

``lib`` is imported first: python-binance then loads its REST client alone, and its asyncio
client and websocket managers only when a stream starts. The two classes are looked up on
first use, so importing ``exchange.binance.exchange`` does not load the market-data module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exchange.binance import lib  # noqa: F401 - before any module of python-binance

if TYPE_CHECKING:
    from exchange.binance.exchange import BinanceExchange, CredentialReport
    from exchange.binance.market_data import BinanceMarketData

__all__ = ["BinanceExchange", "BinanceMarketData", "CredentialReport"]

_WHERE = {"BinanceExchange": "exchange", "CredentialReport": "exchange",
          "BinanceMarketData": "market_data"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
