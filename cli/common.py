"""Edge helpers shared by the commands: reading the config with the CLI's own checks, building
the exchange, checking the live-money rule.

The live-money rule refuses with exit 2 (``ConfigError``): a config without ``live = true`` or
a command line without ``--live`` needs a person to change it, so a service manager must not
restart it in a loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.config import Config, Mode
from core.errors import ConfigError
from exchange.base import Exchange

TESTNET_HOST = "testnet.binance.vision"


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine (localhost, 127.0.0.0/8 or ::1)."""
    from ipaddress import ip_address
    from urllib.parse import urlsplit

    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def needs_live_flags(cfg: Config) -> bool:
    """Whether this config would trade real money, so it needs ``live = true`` and ``--live``.

    That is binance mode against anything but loopback or the Binance testnet. With no
    ``base_url``, python-binance talks to real Binance unless ``testnet = true``.
    """
    if cfg.engine.mode is not Mode.BINANCE:
        return False
    url = cfg.exchange.base_url
    if url is None:
        return not cfg.exchange.testnet
    from urllib.parse import urlsplit

    return not (is_loopback_url(url) or urlsplit(url).hostname == TESTNET_HOST)


def check_live_safety(cfg: Config, *, live_flag: bool) -> None:
    """Real money needs ``live = true`` in the config **and** ``--live`` on the command line."""
    if needs_live_flags(cfg) and not (cfg.exchange.live and live_flag):
        target = cfg.exchange.base_url or "api.binance.com"
        missing = [] if cfg.exchange.live else [f"[exchange] live = true in {cfg.source.name}"]
        missing += [] if live_flag else ["--live on the command line"]
        raise ConfigError(f"refusing to trade real money on {target}: it needs "
                          f"{' and '.join(missing)} (or testnet = true to try it first)")


def venue_url(cfg: Config) -> str:
    """The REST address binance mode talks to, for messages that must name it."""
    if cfg.exchange.base_url:
        return cfg.exchange.base_url
    return f"https://{TESTNET_HOST}" if cfg.exchange.testnet else "https://api.binance.com"


@contextmanager
def naming_the_venue(cfg: Config) -> Iterator[None]:
    """A venue that does not answer (connection refused, a timeout, 5xx) is one line naming
    its URL, exit 75 (``VenueUnreachable``: a later try may work)."""
    from core.errors import RetryableVenueError, StatusUnknown, VenueUnreachable

    try:
        yield
    except (StatusUnknown, RetryableVenueError) as exc:
        raise VenueUnreachable(f"the venue at {venue_url(cfg)} did not answer: {exc}") \
            from None


def build_exchange(cfg: Config, *, metrics: Any = None) -> Exchange:
    """The configured venue: the paper exchange, or Binance (or its sim) via python-binance."""
    if cfg.engine.mode.value == "paper":
        from exchange.paper import PaperExchange

        cfg.engine.paper_state_path.parent.mkdir(parents=True, exist_ok=True)
        return PaperExchange(cfg.engine.paper_state_path,
                             settings={p.symbol: p for p in cfg.pairs},
                             balances=cfg.paper.balances)
    from exchange.binance.exchange import BinanceExchange

    ex = cfg.exchange
    return BinanceExchange(api_key=ex.api_key, api_secret=ex.api_secret, base_url=ex.base_url,
                           testnet=ex.testnet, timeout_s=ex.timeout_s,
                           recv_window_ms=ex.recv_window_ms, symbols=cfg.symbols,
                           metrics=metrics, prefix=cfg.engine.client_id_prefix,
                           audit_s=ex.audit_s)


def build_market_data(cfg: Config, rest_prices: Any = None) -> Any:
    """The Feed's market-data source for ``[feed] kind = "binance"``: the edge's trade streams
    of the configured venue (or its sim); ``rest_prices`` (the exchange's ``last_prices``)
    stands in while a connection is stale."""
    from exchange.binance.market_data import MarketDataEdge, stream_url_for

    ex = cfg.exchange
    url = ex.ws_url or stream_url_for(ex.base_url)
    stale_s = float(cfg.feed.feed_stale_s)  # a timer

    def make(sink: Any, metrics: Any) -> MarketDataEdge:
        return MarketDataEdge(sink, stream_url=url, testnet=ex.testnet, stale_s=stale_s,
                              rest_prices=rest_prices, metrics=metrics)

    return make
