"""The TOML configuration (DESIGN.md §6): parsed once into frozen, typed objects.

Every problem is a ``ConfigError`` with one line that names the file and the key, for example
``ratchet.toml: pairs[2].trail_pct must be > 0 (got -1)``. Numbers are read with
``tomllib.load(f, parse_float=Decimal)``, so ``0.1`` becomes ``Decimal('0.1')`` exactly; Decimal
settings may also be strings (``"0.1"``). API keys come only from the environment
(``RATCHET_API_KEY``, ``RATCHET_API_SECRET``); ``redacted(cfg)`` is the form to log or print.

Choices the design leaves open:
- every table is optional except ``[[pairs]]``: ``[engine]`` defaults to paper mode and
  ``[feed]`` to the simulated kind;
- relative paths (``db_path``, ``paper_state_path``, ``feed.path``) are resolved against the
  directory of the config file, not the working directory;
- ``Config.defaults`` is a ``PairSettings`` whose symbol is ``"*"``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import fields, replace
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from core.config_reader import ENV_API_KEY, ENV_API_SECRET, SECRET_KEYS, Reader, show
from core.config_types import (  # noqa: F401 - the config's types, re-exported
    DEFAULT_START_PRICE,
    Config,
    EngineConfig,
    ExchangeConfig,
    FeedConfig,
    FeedKind,
    Mode,
    PaperConfig,
)
from core.errors import ConfigError
from core.stop_mode import native_problem
from core.symbols import paper_filters
from core.types import EntryMode, PairSettings, StopMode, SymbolFilters

DEFAULTS_SYMBOL = "*"

_SYMBOL_RE = re.compile(r"[A-Z0-9]{2,20}")
_ASSET_RE = re.compile(r"[A-Z0-9]{1,20}")
_PREFIX_RE = re.compile(r"[A-Za-z0-9]{1,8}")


# --- public functions ---------------------------------------------------------------------


def load_config(path: str | Path, *, env: Mapping[str, str] = os.environ,
                need_keys: bool = True, need_pairs: bool = True) -> Config:
    """Read and validate a TOML config file. ``need_keys=False`` is for commands that never
    reach the exchange (``status``, ``db ...``): they must not need the API keys.
    ``need_pairs=False`` is for ``db ...``, which needs only ``[engine]``."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: invalid TOML: not UTF-8") from None
    return parse_config(text, source=str(path), env=env, need_keys=need_keys,
                        need_pairs=need_pairs)


def parse_config(text: str, *, source: str, env: Mapping[str, str] = os.environ,
                 need_keys: bool = True, need_pairs: bool = True) -> Config:
    """Validate TOML text; ``source`` names the file in errors and anchors relative paths."""
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    return _Parser(source, env, need_keys, need_pairs).config(data)


def redacted(cfg: Config, *, pair_settings: bool = True) -> dict[str, Any]:
    """A JSON-able dict of ``cfg`` with secrets shown as ``"***"`` (or None when unset).
    ``pair_settings=False``: ``pairs`` names the symbols alone."""
    exchange = _plain(cfg.exchange)
    for key in SECRET_KEYS:
        exchange[key] = "***" if getattr(cfg.exchange, key) else None
    return {
        "source": str(cfg.source),
        "engine": _plain(cfg.engine),
        "exchange": exchange,
        "feed": _plain(cfg.feed),
        "paper": _plain(cfg.paper),
        "defaults": _plain(cfg.defaults),
        "pairs": [_plain(p) if pair_settings else p.symbol for p in cfg.pairs],
    }


# --- parsing ------------------------------------------------------------------------------

_TOP_KEYS = ("engine", "exchange", "feed", "paper", "defaults", "pairs")
_FEED_OPTIONS = {
    FeedKind.SIMULATED: {"seed", "interval_ms", "volatility_pct", "drift_pct", "start_prices"},
    FeedKind.REPLAY: {"path", "speed"},
    FeedKind.BINANCE: {"feed_stale_s"},
}
_PAIR_KEYS = tuple(f.name for f in fields(PairSettings) if f.name != "symbol")


class _Parser(Reader):
    """Validates one parsed TOML document; every error names ``source`` and the dotted key."""

    def config(self, data: dict[str, Any]) -> Config:
        self.check_keys(data, "", _TOP_KEYS)
        engine = self.engine(self.table(data, "engine"))
        exchange = self.exchange(self.table(data, "exchange"))
        feed = self.feed(self.table(data, "feed"))
        paper = self.paper(self.table(data, "paper"))
        defaults = self.settings(self.table(data, "defaults"), "defaults",
                                 PairSettings(symbol=DEFAULTS_SYMBOL))
        pairs = self.pairs(data.get("pairs"), defaults)
        if engine.mode is Mode.PAPER:
            self.check_assets(pairs)
        self.check_stop_modes(pairs, paper=engine.mode is Mode.PAPER)
        if self.need_keys and engine.mode is Mode.BINANCE and \
                not (exchange.api_key and exchange.api_secret):
            raise ConfigError(
                f"{self.source}: binance mode needs {ENV_API_KEY} and {ENV_API_SECRET} "
                "in the environment"
            )
        return Config(engine=engine, exchange=exchange, feed=feed, paper=paper,
                      defaults=defaults, pairs=pairs, source=Path(self.source))

    # sections

    def engine(self, t: dict[str, Any]) -> EngineConfig:
        keys = [f.name for f in fields(EngineConfig)]
        self.check_keys(t, "engine", keys)
        d = EngineConfig()
        db_path = self.path(t, "engine.db_path", "db_path", d.db_path)
        port = self.integer(t, "engine.metrics_port", "metrics_port", d.metrics_port)
        if not 1 <= port <= 65535:
            raise self.fail("engine.metrics_port", f"must be between 1 and 65535 (got {port})")
        prefix = self.string(t, "engine.client_id_prefix", "client_id_prefix",
                             d.client_id_prefix)
        if not _PREFIX_RE.fullmatch(prefix):
            raise self.fail("engine.client_id_prefix",
                            f"must be 1 to 8 characters of A-Z, a-z, 0-9 (got {show(prefix)})")
        abandon = t.get("abandon", list(d.abandon))
        if not isinstance(abandon, list) or not all(
                isinstance(x, str) and _SYMBOL_RE.fullmatch(x) for x in abandon):
            raise self.fail("engine.abandon", "must be a list of symbols such as [\"ETHUSDT\"] "
                            f"(got {show(abandon)})")
        return EngineConfig(
            mode=Mode(self.choice(t, "engine.mode", "mode", [m.value for m in Mode], d.mode)),
            abandon=tuple(abandon),
            order_priority=self.choice(t, "engine.order_priority", "order_priority",
                                       ["classes", "fifo"], d.order_priority),
            db_path=db_path,
            metrics_host=self.string(t, "engine.metrics_host", "metrics_host", d.metrics_host,
                                     nonempty=True),
            metrics_port=port,
            status_interval_s=self.decimal(t, "engine.status_interval_s", "status_interval_s",
                                           d.status_interval_s, gt=0),
            client_id_prefix=prefix,
            synchronous=self.choice(t, "engine.synchronous", "synchronous", ["FULL", "NORMAL"],
                                    d.synchronous),
            log_format=self.choice(t, "engine.log_format", "log_format", ["kv", "json"],
                                   d.log_format),
            paper_state_path=self.path(t, "engine.paper_state_path", "paper_state_path",
                                       db_path.with_suffix(".paper.db")),
        )

    def exchange(self, t: dict[str, Any]) -> ExchangeConfig:
        keys = [f.name for f in fields(ExchangeConfig) if f.name not in SECRET_KEYS]
        self.check_keys(t, "exchange", keys)
        d = ExchangeConfig()
        base_url = self.url(t, "exchange.base_url", "base_url", ("http", "https"))
        ws_url = self.url(t, "exchange.ws_url", "ws_url", ("ws", "wss"))
        recv = self.integer(t, "exchange.recv_window_ms", "recv_window_ms", d.recv_window_ms)
        if not 1 <= recv <= 60000:
            raise self.fail("exchange.recv_window_ms",
                            f"must be between 1 and 60000 (got {recv})")
        return ExchangeConfig(
            base_url=base_url,
            testnet=self.boolean(t, "exchange.testnet", "testnet", d.testnet),
            live=self.boolean(t, "exchange.live", "live", d.live),
            ws_url=ws_url,
            recv_window_ms=recv,
            timeout_s=self.decimal(t, "exchange.timeout_s", "timeout_s", d.timeout_s, gt=0),
            audit_s=self.decimal(t, "exchange.audit_s", "audit_s", d.audit_s, gt=0),
            api_key=self.env.get(ENV_API_KEY) or None,
            api_secret=self.env.get(ENV_API_SECRET) or None,
        )

    def feed(self, t: dict[str, Any]) -> FeedConfig:
        d = FeedConfig()
        self.check_secrets(t, "feed")
        kind = FeedKind(self.choice(t, "feed.kind", "kind", [k.value for k in FeedKind], d.kind))
        allowed = _FEED_OPTIONS[kind]
        for key in t:
            if key != "kind" and key not in allowed:
                known = any(key in opts for opts in _FEED_OPTIONS.values())
                if known:
                    raise self.fail(f"feed.{key}", f"is not an option of the {kind} feed")
                raise ConfigError(f"{self.source}: unknown key feed.{key}")
        seed = self.integer(t, "feed.seed", "seed", d.seed)
        interval = self.integer(t, "feed.interval_ms", "interval_ms", d.interval_ms)
        if interval <= 0:
            raise self.fail("feed.interval_ms", f"must be > 0 (got {interval})")
        return FeedConfig(
            kind=kind,
            seed=seed,
            interval_ms=interval,
            volatility_pct=self.decimal(t, "feed.volatility_pct", "volatility_pct",
                                        d.volatility_pct, ge=0, lt=100),
            drift_pct=self.decimal(t, "feed.drift_pct", "drift_pct", d.drift_pct,
                                   gt=-100, lt=100),
            start_prices=self.start_prices(t.get("start_prices")),
            path=self.path(t, "feed.path", "path", None),
            speed=self.decimal(t, "feed.speed", "speed", d.speed, ge=0),
            feed_stale_s=self.decimal(t, "feed.feed_stale_s", "feed_stale_s", d.feed_stale_s,
                                      gt=0),
        )

    def start_prices(self, value: Any) -> Mapping[str, Decimal]:
        if value is None:
            return MappingProxyType({})
        if not isinstance(value, dict):
            raise self.fail("feed.start_prices", "must be a table of SYMBOL = price")
        prices: dict[str, Decimal] = {}
        for symbol in value:
            key = f"feed.start_prices.{symbol}"
            if not _SYMBOL_RE.fullmatch(symbol):
                raise self.fail(key, "must be an uppercase symbol of 2 to 20 characters A-Z, 0-9")
            prices[symbol] = self.decimal(value, key, symbol, None, gt=0)
        return MappingProxyType(prices)

    def paper(self, t: dict[str, Any]) -> PaperConfig:
        self.check_keys(t, "paper", [f.name for f in fields(PaperConfig)])
        value = t.get("balances", {})
        if not isinstance(value, dict):
            raise self.fail("paper.balances", 'must be a table of ASSET = amount, e.g. '
                            '{ USDT = "1000" }')
        balances: dict[str, Decimal] = {}
        for asset in value:
            key = f"paper.balances.{asset}"
            if not _ASSET_RE.fullmatch(asset):
                raise self.fail(key, "must be an uppercase asset of 1 to 20 characters A-Z, 0-9")
            balances[asset] = self.decimal(value, key, asset, None, ge=0)
        return PaperConfig(balances=MappingProxyType(balances))

    def check_assets(self, pairs: tuple[PairSettings, ...]) -> None:
        """Paper mode must tell each pair's base and quote asset without a venue."""
        for i, settings in enumerate(pairs):
            try:
                paper_filters(settings)
            except ConfigError as exc:
                raise self.fail(f"pairs[{i}].quote", f"is needed: {exc}") from None

    def check_stop_modes(self, pairs: tuple[PairSettings, ...], *, paper: bool) -> None:
        """``stop_mode = "native"`` needs ``activation_pct = 0`` and ``trail_pct × 100`` a
        whole number of basis points inside TRAILING_DELTA: in paper mode the pair's own
        ``min_trailing_delta``/``max_trailing_delta``; in binance mode exchangeInfo's, checked
        at boot (``core.stop_mode.choose``)."""
        for i, settings in enumerate(pairs):
            if settings.stop_mode is not StopMode.NATIVE:
                continue
            filters = paper_filters(settings) if paper else _ANY_DELTA
            problem = native_problem(settings, filters)
            if problem is not None:
                raise self.fail(f"pairs[{i}].stop_mode",
                                f'= "native" is not possible for {settings.symbol}: {problem}')

    def pairs(self, value: Any, defaults: PairSettings) -> tuple[PairSettings, ...]:
        if (value is None or value == []) and not self.need_pairs:
            return ()
        if value is None or value == []:
            raise ConfigError(f"{self.source}: pairs must have at least one [[pairs]] entry")
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            raise self.fail("pairs", "must be an array of tables ([[pairs]])")
        seen: dict[str, int] = {}
        pairs = []
        for i, t in enumerate(value):
            where = f"pairs[{i}]"
            if "symbol" not in t:
                raise self.fail(f"{where}.symbol", "is required")
            symbol = self.string(t, f"{where}.symbol", "symbol", "")
            if not _SYMBOL_RE.fullmatch(symbol):
                raise self.fail(f"{where}.symbol", "must be 2 to 20 characters of A-Z, 0-9 "
                                f"(got {show(symbol)})")
            if symbol in seen:
                raise self.fail(f"{where}.symbol", f"duplicates pairs[{seen[symbol]}].symbol "
                                f"({symbol})")
            seen[symbol] = i
            rest = {k: v for k, v in t.items() if k != "symbol"}
            settings = self.settings(rest, where, replace(defaults, symbol=symbol))
            if settings.quote_per_trade < settings.min_notional:
                raise self.fail(
                    f"{where}.quote_per_trade",
                    f"({settings.quote_per_trade}) cannot reach min_notional "
                    f"({settings.min_notional})",
                )
            pairs.append(settings)
        return tuple(pairs)

    def settings(self, t: dict[str, Any], where: str, base: PairSettings) -> PairSettings:
        """Overlay the §3 settings (plus tick/step/min_notional) of table ``t`` on ``base``."""
        self.check_keys(t, where, _PAIR_KEYS)
        changes: dict[str, Any] = {}
        bounds: dict[str, dict[str, Decimal]] = {
            "trail_pct": {"gt": Decimal(0), "lt": Decimal(100)},
            "min_move_pct": {"ge": Decimal(0)},
            "limit_offset_pct": {"ge": Decimal(0), "lt": Decimal(100)},
            "activation_pct": {"ge": Decimal(0)},
            "quote_per_trade": {"gt": Decimal(0)},
            "stop_fill_timeout_s": {"gt": Decimal(0)},
            "unprotected_exit_s": {"ge": Decimal(0)},
            "fee_pct": {"ge": Decimal(0), "lt": Decimal(100)},
            "tick": {"gt": Decimal(0)},
            "step": {"gt": Decimal(0)},
            "min_notional": {"gt": Decimal(0)},
            "keep_qty": {"ge": Decimal(0)},
            "adopt_scan_s": {"gt": Decimal(0)},
        }
        for key, limits in bounds.items():
            if key in t:
                changes[key] = self.decimal(t, f"{where}.{key}", key, None, **limits)
        for key in ("base", "quote"):
            if key in t:
                asset = self.string(t, f"{where}.{key}", key, "")
                if not _ASSET_RE.fullmatch(asset):
                    raise self.fail(f"{where}.{key}", "must be an uppercase asset of 1 to 20 "
                                    f"characters A-Z, 0-9 (got {show(asset)})")
                changes[key] = asset
        if "entry" in t:
            changes["entry"] = EntryMode(
                self.choice(t, f"{where}.entry", "entry", [m.value for m in EntryMode], None)
            )
        if "stop_mode" in t:
            changes["stop_mode"] = StopMode(self.choice(
                t, f"{where}.stop_mode", "stop_mode", [m.value for m in StopMode], None))
        for key in ("min_trailing_delta", "max_trailing_delta"):
            if key in t:
                value = self.integer(t, f"{where}.{key}", key, 0)
                if value < 1:
                    raise self.fail(f"{where}.{key}", f"must be >= 1 (got {value})")
                changes[key] = value
        merged = replace(base, **changes)
        if merged.min_trailing_delta > merged.max_trailing_delta:
            raise self.fail(f"{where}.min_trailing_delta",
                            f"({merged.min_trailing_delta}) must not exceed max_trailing_delta "
                            f"({merged.max_trailing_delta})")
        if merged.min_move_pct >= merged.trail_pct:
            # The stop would lag further behind the highest price than the trail itself.
            raise self.fail(f"{where}.min_move_pct",
                            f"({merged.min_move_pct}) must be below trail_pct "
                            f"({merged.trail_pct}): the stop would lag further than the trail")
        return merged

# Binance mode: TRAILING_DELTA comes from exchangeInfo at boot; the config checks the rest.
_ANY_DELTA = SymbolFilters(symbol="*", base_asset="*", quote_asset="*", tick=Decimal(1),
                           step=Decimal(1), min_notional=Decimal(0), min_trailing_delta=1,
                           max_trailing_delta=10**9)


def _plain(obj: Any) -> dict[str, Any]:
    """A config dataclass as JSON-able values: Decimals and Paths as strings, enums by value."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        out[f.name] = _plain_value(getattr(obj, f.name))
    return out


def _plain_value(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, Decimal | Path):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _plain_value(v) for k, v in value.items()}
    return value
