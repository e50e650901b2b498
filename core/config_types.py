"""The configuration's typed, frozen objects (DESIGN.md §6); ``core.config`` parses them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

from core.errors import ConfigError
from core.types import PairSettings

DEFAULT_START_PRICE = Decimal(100)


class Mode(StrEnum):
    PAPER = "paper"
    BINANCE = "binance"


class FeedKind(StrEnum):
    SIMULATED = "simulated"
    REPLAY = "replay"
    BINANCE = "binance"


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfig:
    mode: Mode = Mode.PAPER
    db_path: Path = Path("var/ratchet.db")
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464
    status_interval_s: Decimal = Decimal(5)
    client_id_prefix: str = "rt"
    # Symbols whose positions are left to their exchange stops, unmanaged, once no [[pairs]]
    # entry names them (else a removed pair drains: it protects its position until it closes).
    abandon: tuple[str, ...] = ()
    # How the Gateway orders commands under the ORDERS budget: "classes" (protection, then
    # moves, then entries) or "fifo" (as before the classes; for comparison benchmarks).
    order_priority: str = "classes"
    synchronous: str = "FULL"
    log_format: str = "kv"
    paper_state_path: Path = Path("var/ratchet.paper.db")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExchangeConfig:
    base_url: str | None = None
    testnet: bool = False
    live: bool = False
    ws_url: str | None = None
    # Seconds between REST audits of the open orders, whether or not the user stream is up:
    # what a silent stream did not say is found within this long.
    audit_s: Decimal = Decimal(30)
    recv_window_ms: int = 5000
    timeout_s: Decimal = Decimal(10)
    api_key: str | None = field(default=None, repr=False)
    api_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedConfig:
    """Market data. ``simulated`` uses seed/interval_ms/volatility_pct/drift_pct/start_prices;
    ``replay`` uses path/speed (``ratchet replay`` passes its CSV on the command line, so
    ``path`` may be absent); ``binance`` uses feed_stale_s: a market-stream connection silent
    that many seconds reconnects, with prices polled over REST meanwhile."""

    kind: FeedKind = FeedKind.SIMULATED
    seed: int = 7
    interval_ms: int = 250
    volatility_pct: Decimal = Decimal("0.15")
    drift_pct: Decimal = Decimal(0)
    start_prices: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))
    path: Path | None = None
    speed: Decimal = Decimal(0)
    feed_stale_s: Decimal = Decimal(10)

    def start_price(self, symbol: str) -> Decimal:
        return self.start_prices.get(symbol, DEFAULT_START_PRICE)


@dataclass(frozen=True, slots=True, kw_only=True)
class PaperConfig:
    """The paper exchange's account: ``balances`` per asset. Every quote asset of a configured
    pair not named here is funded by the paper exchange (``exchange.paper``); a base asset named
    here is coins already held (to adopt)."""

    balances: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    engine: EngineConfig
    exchange: ExchangeConfig
    feed: FeedConfig
    paper: PaperConfig
    defaults: PairSettings
    pairs: tuple[PairSettings, ...]
    source: Path

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(p.symbol for p in self.pairs)

    def pair(self, symbol: str) -> PairSettings:
        """The settings of a configured pair; ``ConfigError`` if it has no ``[[pairs]]`` entry."""
        for settings in self.pairs:
            if settings.symbol == symbol:
                return settings
        raise ConfigError(f"{self.source}: no [[pairs]] entry for symbol {symbol}")

    def settings_for(self, symbol: str) -> PairSettings:
        """The pair's settings, or ``[defaults]`` under that symbol when it is not configured."""
        for settings in self.pairs:
            if settings.symbol == symbol:
                return settings
        return replace(self.defaults, symbol=symbol)
