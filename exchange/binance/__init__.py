"""Binance through python-binance: the only package that sees Binance field names and enum
strings (STYLE.md §9). ``BinanceExchange`` is the ``Exchange``; ``BinanceMarketData`` feeds
trades from combined streams."""

from exchange.binance.exchange import BinanceExchange, CredentialReport
from exchange.binance.market_data import BinanceMarketData

__all__ = ["BinanceExchange", "BinanceMarketData", "CredentialReport"]
