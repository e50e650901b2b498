"""``SimServer``: the Binance-compatible sim, wired from a ``SimConfig``.

Usable in-process (tests, benchmarks) or through ``ratchet sim-exchange``. REST and websockets
share one port on 127.0.0.1; ``port=0`` picks a free one (``server.port`` after construction).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from core.prices import read_prices
from core.symbols import split_symbol
from core.types import SymbolFilters
from exchange.book import Book
from exchange.book_fees import FeeMode
from exchange.book_rules import LIVE_RULES
from exchange.sim.api import Api
from exchange.sim.control import Control
from exchange.sim.faults import Faults
from exchange.sim.guard import RateLimiter, SimError, check_key, check_timestamp, check_ws_signature
from exchange.sim.klines import KlineHistory
from exchange.sim.late import LateOrders
from exchange.sim.market import PriceDriver, RandomWalk
from exchange.sim.rest import SimHTTPServer
from exchange.sim.venue import SimClock, SimVenue
from exchange.sim.ws import WsHub
from exchange.sim.ws_conn import WsConn, WsLimits

HOST = "127.0.0.1"
DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
DEFAULT_KEY, DEFAULT_SECRET = "sim-key", "sim-secret"


@dataclass(frozen=True, kw_only=True)
class SimConfig:
    """Every knob of ``ratchet sim-exchange``; see ``cli/sim_cmd.py`` for the flags."""

    port: int = 0
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    prices: Path | None = None
    speed: float = 1.0
    latency_ms: int = 0
    fail_rate: float = 0.0
    late_rate: float = 0.0  # probability that an order request lands late (exchange/sim/late.py)
    state: Path | None = None
    api_key: str = DEFAULT_KEY
    api_secret: str = DEFAULT_SECRET
    balances: dict[str, Decimal] = field(default_factory=lambda: {"USDT": Decimal("100000")})
    seed: int = 1
    volatility_pct: Decimal = Decimal("1")
    interval_ms: int = 250
    fee_pct: Decimal = Decimal("0.1")
    fee_mode: FeeMode = FeeMode.RECEIVED  # Binance: a BUY pays in base, a SELL in quote
    fee_asset: str | None = None  # "BNB": pay fees in BNB while the balance lasts
    hold: frozenset[str] = frozenset()  # symbols the random walk leaves at their price
    tick: Decimal = Decimal("0.01")
    step: Decimal = Decimal("0.00001")
    min_notional: Decimal = Decimal("5")
    weight_1m: int = 6000
    orders_10s: int = 100
    orders_1d: int = 200_000
    ban_s: int = 120
    timeout_s: float = 30.0
    # websockets, as the live venue keeps them (exchange/sim/ws_conn.py)
    ws_ping_s: float = 20.0
    ws_pong_timeout_s: float = 60.0
    ws_max_age_s: float = 86_400.0
    ws_shutdown_notice_s: float = 5.0
    # the API key's permissions, as apiRestrictions and account report them
    can_withdraw: bool = False
    # False: no price path of its own; prices come only from ``venue.on_price`` (an in-process
    # driver, e.g. bench/budget_bench.py) or ``POST /sim/price``.
    price_path: bool = True


class SimServer:
    """The sim: a Book, its price path, REST and websockets on one port."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self._tmpdir = None
        state = config.state
        if state is None:
            self._tmpdir = tempfile.mkdtemp(prefix="ratchet-sim-")
            state = Path(self._tmpdir) / "state.db"
        filters = {s: self._filters(s) for s in config.symbols}
        self.book = Book(state, fee_pct=config.fee_pct, filters=filters,
                         balances=config.balances, fee_places=8, fee_mode=config.fee_mode,
                         fee_asset=config.fee_asset, rules=LIVE_RULES)
        self.clock = SimClock()
        limits = WsLimits(ping_s=config.ws_ping_s, pong_timeout_s=config.ws_pong_timeout_s,
                          max_age_s=config.ws_max_age_s,
                          shutdown_notice_s=config.ws_shutdown_notice_s)
        self.hub = WsHub(limits, now_ms=self.clock.now_ms)
        self.venue = SimVenue(self.book, self.clock, self.hub)
        self.limiter = RateLimiter(weight_1m=config.weight_1m, orders_10s=config.orders_10s,
                                   orders_1d=config.orders_1d, ban_s=config.ban_s)
        self.faults = Faults(fail_rate=config.fail_rate, latency_ms=config.latency_ms,
                             timeout_s=config.timeout_s, seed=config.seed,
                             late_rate=config.late_rate)
        self.late = LateOrders(self.clock.now_ms)
        self.keys = {config.api_key: config.api_secret}
        self.klines = KlineHistory(config.prices, self.clock.now_ms)
        self.driver = self._driver(filters)
        self.api = Api(self.venue, self.limiter, config.fee_pct)
        self.api.routes[("GET", "klines")] = self.klines.endpoint(self.book.filters)
        self.control = Control(
            self.venue, self.faults, paused=lambda: self.driver.paused, pause=self.driver.pause,
            counts=self._counts, reset_counts=self._reset_counts, late=self.late,
        )
        self.http = SimHTTPServer(
            (HOST, config.port), api=self.api, control=self.control, faults=self.faults,
            limiter=self.limiter, keys=self.keys, hub=self.hub, ws_api=self._ws_api,
            late=self.late, can_withdraw=config.can_withdraw,
        )
        self.port = self.http.server_address[1]
        self.url = f"http://{HOST}:{self.port}"
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def start(self) -> SimServer:
        """Seed the prices and serve from daemon threads; returns once requests are answered."""
        self.driver.start()
        self.hub.start()
        self._thread = threading.Thread(target=self.http.serve_forever, name="sim-http",
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.driver.stop()
        self.late.stop()
        self.hub.stop()
        self.http.shutdown()
        self.http.server_close()
        self.book.close()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- wiring --------------------------------------------------------------------------

    def _filters(self, symbol: str) -> SymbolFilters:
        base, quote = split_symbol(symbol)
        c = self.config
        return SymbolFilters(symbol=symbol, base_asset=base, quote_asset=quote, tick=c.tick,
                             step=c.step, min_notional=c.min_notional)

    def _driver(self, filters: dict[str, SymbolFilters]) -> PriceDriver:
        c = self.config
        if not c.price_path:
            return PriceDriver(self.venue.on_price)
        if c.prices is not None:
            return PriceDriver(self.venue.on_price, points=read_prices(c.prices),
                               symbols=list(c.symbols), speed=c.speed)
        walk = RandomWalk(filters, self.book.last_prices(), seed=c.seed,
                          volatility_pct=c.volatility_pct, interval_ms=c.interval_ms,
                          hold=c.hold)
        return PriceDriver(self.klines.recorder(self.venue.on_price), walk=walk,
                           interval_ms=c.interval_ms)

    def _counts(self) -> dict[str, int]:
        with self.http.counts_lock:
            return dict(self.http.counts)

    def _reset_counts(self) -> None:
        with self.http.counts_lock:
            self.http.counts.clear()

    def _ws_api(self, conn: WsConn, request_id: Any, method: str,
                params: dict[str, Any]) -> dict[str, Any]:
        """The WebSocket API methods python-binance's user socket uses."""
        try:
            result = self._ws_method(conn, method, params)
        except SimError as err:
            return {"id": request_id, "status": err.status,
                    "error": {"code": err.code, "msg": err.msg}}
        return {"id": request_id, "status": 200, "result": result, "rateLimits": []}

    def _ws_method(self, conn: WsConn, method: str, params: dict[str, Any]) -> Any:
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": self.clock.now_ms()}
        if method == "userDataStream.subscribe.signature":
            secret = check_key(params.get("apiKey"), self.keys)
            check_ws_signature(secret, params)
            check_timestamp({k: str(v) for k, v in params.items()}, self.clock.now_ms())
            subscription_id = self.hub.subscribe_user(conn)
            if subscription_id is None:  # one per account on a connection (errors.md -2035)
                raise SimError(400, -2035, "User Data Stream subscription already active.")
            return {"subscriptionId": subscription_id}
        if method == "userDataStream.unsubscribe":  # without an id: every one of conn's
            given = params.get("subscriptionId")
            for subscription_id in ([int(given)] if given is not None
                                    else list(conn.subscriptions)):
                self.hub.unsubscribe_user(subscription_id)
            return {}
        raise SimError(400, -1020, f"Unsupported operation: {method}")


def default_credentials() -> tuple[str, str]:
    """``RATCHET_API_KEY``/``RATCHET_API_SECRET`` from the environment, else the sim's."""
    return (os.environ.get("RATCHET_API_KEY") or DEFAULT_KEY,
            os.environ.get("RATCHET_API_SECRET") or DEFAULT_SECRET)
