"""``BinanceExchange``: the ``Exchange`` interface over python-binance's ``Client``.

Every REST call goes through the one request path (``transport.RequestPath._call``: the send
gate, timing, usage headers, the error tree, a clock resync on -1021); nothing else is retried
here: the Gateway decides (DESIGN.md §4). Prices and quantities go out as plain decimal strings.

Order updates come from the user-data socket (``user_stream.UserStream``); while it is down the
Gateway calls ``poll_orders()`` (``updates`` documents the cadence and its weight).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from binance.client import Client
from binance.exceptions import BinanceAPIException

from core.errors import AuthError, ConfigError, VenueBanned, VenueError
from core.types import Balance, OrderType, Side, SymbolFilters
from exchange.base import (
    BalanceListener,
    Exchange,
    ExecutionListener,
    OrderReport,
    RateBudget,
    ReplaceReport,
)
from exchange.binance import enums, translate
from exchange.binance.dto import (
    AccountDTO,
    ApiRestrictionsDTO,
    CancelReplaceDTO,
    ExchangeInfoDTO,
    MyTradeDTO,
    OrderDTO,
    TickerPriceDTO,
    items,
)
from exchange.binance.errors import (
    CODE_REPLACE_FAILED,
    CODE_REPLACE_PARTIAL,
    error_data,
)
from exchange.binance.fees import FeeValuer
from exchange.binance.filters import SymbolRules, check_order, rules_from_symbol
from exchange.binance.gate import OrderPacer, RateMeter, SendGate
from exchange.binance.tracker import OpenOrderTracker
from exchange.binance.transport import (  # noqa: F401 - part of this module's API
    ClientPool,
    Metrics,
    RequestPath,
    log_clock_offset,
    pin_environment,
    plain,
    ws_api_url_for,
)
from exchange.binance.updates import OrderUpdates
from exchange.binance.user_stream import UserStream

log = logging.getLogger("ratchet.binance")
T = TypeVar("T")

# An order request whose outcome was unknown may reach the matching engine until its
# ``timestamp + recvWindow``; the margin covers the clock offset between us and the venue.
LANDING_MARGIN_S = 2.0
# Symbol statuses read within this many seconds are used again (several pairs watching their
# closed markets share one exchangeInfo read).
STATUS_FRESH_S = 1.0
TRADING = "TRADING"


@dataclass(frozen=True, slots=True, kw_only=True)
class CredentialReport:
    """What the boot check learned about the API key."""

    can_trade: bool
    can_withdraw: bool | None  # None: the venue does not say (testnet, sim)


class BinanceExchange(RequestPath, Exchange):
    name = "binance"

    def __init__(
        self, *, api_key: str, api_secret: str, base_url: str | None = None,
        testnet: bool = False, timeout_s: Decimal = Decimal(10), recv_window_ms: int = 5000,
        symbols: Sequence[str] = (), clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None, ws_api_url: str | None = None, prefix: str = "rt",
        audit_s: Decimal = Decimal(30),
    ) -> None:
        self._clock = clock
        self.landing_window_s = recv_window_ms / 1000 + LANDING_MARGIN_S
        self._metrics = metrics
        self._testnet = testnet
        self._symbols = tuple(symbols)
        self._api_key, self._api_secret = api_key, api_secret
        self._ws_api_url = ws_api_url
        self._ban_reported = False
        if base_url:
            self._ws_api_url = ws_api_url or ws_api_url_for(base_url.rstrip("/"))

        def make_client() -> Client:
            # Using our own base URL: the Client's testnet switch would override API_URL.
            client = Client(api_key, api_secret, ping=False,
                            testnet=testnet and base_url is None,
                            requests_params={"timeout": float(timeout_s)})  # seconds
            client.REQUEST_RECVWINDOW = recv_window_ms
            if base_url:
                client.API_URL = base_url.rstrip("/") + "/api"
                client.MARGIN_API_URL = base_url.rstrip("/") + "/sapi"
            pin_environment(client.session, client.API_URL)
            return client

        self.client = make_client()
        self._clients = ClientPool(self.client, make_client)
        self.gate = SendGate(clock)
        self.meter = RateMeter(clock)
        self.pacer = OrderPacer(offset_s=lambda: self.client.timestamp_offset / 1000)
        self._lock = threading.RLock()
        self._rules: dict[str, SymbolRules] = {}
        self._ready_lock = threading.RLock()  # an RLock: rules() may come from wait_ready
        self._info: Future | None = None  # connect's exchangeInfo, until wait_ready
        self._last_price: dict[str, Decimal] = {}
        self._statuses: dict[str, str] = {}
        self._statuses_at = float("-inf")
        self._tracker = OpenOrderTracker()
        self.fees = FeeValuer(assets=self._assets, price=self.last_price)
        self.updates = OrderUpdates(
            tracker=self._tracker, list_open=self._list_open, get_order=self.get_order,
            budget=self.meter.budget, clock=clock, stream_factory=self._user_stream,
            on_unreadable=metrics.unreadable_event if metrics is not None else None,
            prefix=prefix, audit_s=float(audit_s),  # seconds, not money
            on_missed=metrics.missed_events if metrics is not None else None,
            on_stale=metrics.user_stream_stale if metrics is not None else None,
        )

    def check_credentials(self) -> CredentialReport:
        """A signed account call at boot. Wrong key or secret: ``AuthError`` with the one line
        ``invalid API key or secret``. Reports whether the key can withdraw, where the API says."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="credentials") as pool:
            return self._credentials(pool)

    def _credentials(self, pool: ThreadPoolExecutor) -> CredentialReport:
        """The account and its key's restrictions, the second sent on ``pool`` beside the
        first. The account's answer speaks first: a wrong key is ``AuthError`` either way."""
        restrictions = None if self._testnet else pool.submit(  # the testnet has no /sapi
            self._call, "apiRestrictions", self.client.get_account_api_permissions)
        account = AccountDTO.parse(self._call("account", self.client.get_account),
                                   balances=False)
        can_withdraw: bool | None = None
        if restrictions is not None:
            try:
                can_withdraw = ApiRestrictionsDTO.parse(restrictions.result()).enableWithdrawals
            except (AuthError, VenueBanned):
                raise
            except VenueError as exc:  # 404 on a sim or a venue without /sapi: unknown
                log.info("API key permissions unknown: %s", exc)
        return CredentialReport(can_trade=account.canTrade, can_withdraw=can_withdraw)

    # --- reference data -----------------------------------------------------------------------

    def load_exchange_info(self) -> dict[str, SymbolRules]:
        """One exchangeInfo call: filters of every configured symbol and the rate limits."""
        wanted = set(self._symbols) | set(self._rules)
        info = ExchangeInfoDTO.parse(self._call("exchangeInfo", self.client.get_exchange_info),
                                     only=wanted)
        self.meter.set_limits(info.rateLimits)
        self.pacer.set_limits(info.rateLimits)
        with self._lock:
            for sym in info.symbols:  # only the wanted ones (all, if none is named)
                self._rules[sym.symbol] = rules_from_symbol(sym)
        missing = sorted(s for s in self._symbols if s not in self._rules)
        if missing:
            raise ConfigError(f"not listed on the exchange: {', '.join(missing)}")
        return dict(self._rules)

    def _read_symbols(self) -> dict[str, str]:
        """Every symbol's status (and the filters of the known ones) from one exchangeInfo
        read, or from the last one if it is fresh."""
        with self._lock:
            if self._clock() - self._statuses_at < STATUS_FRESH_S:
                return dict(self._statuses)
        wanted = set(self._symbols) | set(self._rules)
        info = ExchangeInfoDTO.parse(self._call("exchangeInfo", self.client.get_exchange_info),
                                     only=wanted)
        with self._lock:
            self._statuses = {sym.symbol: sym.status for sym in info.symbols}
            self._statuses_at = self._clock()
            for sym in info.symbols:
                if sym.symbol in self._rules:
                    self._rules[sym.symbol] = rules_from_symbol(sym)
            return dict(self._statuses)

    def market_open(self, symbol: str) -> bool:
        """Whether the symbol's status is TRADING (not BREAK, HALT, CANCEL_ONLY,
        AUCTION_MATCH...)."""
        return self._read_symbols().get(symbol) == TRADING

    def refresh_filters(self, symbol: str) -> SymbolFilters:
        """The symbol's filters as exchangeInfo has them now."""
        if symbol not in self._symbols and symbol not in self._rules:
            self._symbols = (*self._symbols, symbol)
        if symbol not in self._read_symbols():
            raise ConfigError(f"not listed on the exchange: {symbol}")
        return self.rules(symbol).to_core()

    def rules(self, symbol: str) -> SymbolRules:
        if symbol not in self._rules:
            self.wait_ready()
        if symbol not in self._rules:
            if symbol not in self._symbols:
                self._symbols = (*self._symbols, symbol)
            self.load_exchange_info()
        return self._rules[symbol]

    def symbol_filters(self, symbol: str) -> SymbolFilters:
        return self.rules(symbol).to_core()

    def rate_budget(self) -> RateBudget:
        return self.meter.budget()

    @property
    def banned(self) -> bool:
        """Whether a 418 ban is in force (nothing is sent until it has passed)."""
        return self.gate.banned

    # --- orders -------------------------------------------------------------------------------

    def market_order(
        self, *, symbol: str, side: Side, qty: Decimal, client_order_id: str
    ) -> OrderReport:
        check_order(self.rules(symbol), qty=qty, market_price=self._last_price.get(symbol))
        raw = self._call(
            "order", self.client.create_order, symbol=symbol, side=enums.SIDE_TO_BINANCE[side],
            type=enums.ORDER_TYPE_TO_BINANCE[OrderType.MARKET], quantity=plain(qty),
            newClientOrderId=client_order_id, newOrderRespType=enums.RESPONSE_TYPE_FULL,
        )
        return self._noted(translate.order_report(OrderDTO.parse(raw)))

    def place_stop_limit(
        self, *, symbol: str, qty: Decimal, stop_price: Decimal | None, limit_price: Decimal,
        client_order_id: str, trailing_delta: int | None = None,
    ) -> OrderReport:
        check_order(self.rules(symbol), qty=qty, price=limit_price, stop_price=stop_price)
        raw = self._call(
            "order", self.client.create_order, **self._stop_params(
                symbol, qty, stop_price, limit_price, trailing_delta),
            newClientOrderId=client_order_id,
        )
        return self._noted(translate.order_report(OrderDTO.parse(raw)))

    def cancel_replace(
        self, *, symbol: str, cancel_client_order_id: str, qty: Decimal,
        stop_price: Decimal | None, limit_price: Decimal, new_client_order_id: str,
        trailing_delta: int | None = None,
    ) -> ReplaceReport:
        check_order(self.rules(symbol), qty=qty, price=limit_price, stop_price=stop_price)
        raw = self._call(
            "order/cancelReplace", self.client.cancel_replace_order, salvage=_replace_halves,
            **self._stop_params(symbol, qty, stop_price, limit_price, trailing_delta),
            cancelReplaceMode=enums.CANCEL_REPLACE_STOP_ON_FAILURE,
            cancelOrigClientOrderId=cancel_client_order_id, newClientOrderId=new_client_order_id,
        )
        report = translate.replace_report(CancelReplaceDTO.parse(raw))
        for half in (report.canceled, report.new):
            if half is not None:
                self._noted(half)
        return report

    def cancel(self, *, symbol: str, client_order_id: str) -> OrderReport:
        raw = self._call("order", self.client.cancel_order, symbol=symbol,
                         origClientOrderId=client_order_id)
        return self._noted(translate.order_report(OrderDTO.parse(raw)))

    def get_order(self, *, symbol: str, client_order_id: str) -> OrderReport:
        """One order by client id (weight 4); with its trades (weight 20) if anything filled."""
        dto = OrderDTO.parse(self._call("order", self.client.get_order, symbol=symbol,
                                        origClientOrderId=client_order_id))
        executions = None
        if dto.executedQty > 0:
            rows = self._call("myTrades", self.client.get_my_trades, symbol=symbol,
                              orderId=dto.orderId)
            trades = [MyTradeDTO.parse(r) for r in items(rows)]
            executions = [translate.execution_from_trade(t) for t in trades
                          if t.orderId == dto.orderId]
        return self._noted(translate.order_report(dto, executions or ()))

    def open_orders(self) -> list[OrderReport]:
        """Every open order of every symbol in one call (weight 80). Orders of a type Ratchet
        never places (someone else's TAKE_PROFIT, say) are left out."""
        reports = self._list_open()
        for report in reports:
            if self.updates.owns(report.client_order_id):
                self._tracker.note(report)
        return reports

    def _list_open(self) -> list[OrderReport]:
        reports = []
        for row in items(self._call("openOrders", self.client.get_open_orders)):
            dto = OrderDTO.parse(row)
            try:
                reports.append(translate.order_report(dto))
            except enums.UnmappedEnum as exc:
                log.debug("ignoring open order %s: %s", dto.clientOrderId, exc)
        return reports

    def balances(self) -> dict[str, Balance]:
        account = AccountDTO.parse(self._call("account", self.client.get_account))
        return {
            b.asset: Balance(asset=b.asset, free=b.free, locked=b.locked)
            for b in account.balances if b.free or b.locked
        }

    def last_price(self, symbol: str) -> Decimal:
        ticker = TickerPriceDTO.parse(
            self._call("ticker/price", self.client.get_symbol_ticker, symbol=symbol))
        self._last_price[symbol] = ticker.price
        return ticker.price

    def last_prices(self, symbols: Sequence[str]) -> dict[str, Decimal]:
        """Every listed price in one request (weight 4, as much as two single ones), kept for
        the symbols asked about."""
        wanted = set(symbols)
        if len(wanted) < 2:
            return super().last_prices(symbols)
        rows = items(self._call("ticker/price", self.client.get_symbol_ticker))
        tickers = (TickerPriceDTO.parse(row) for row in rows)
        prices = {t.symbol: t.price for t in tickers if t.symbol in wanted}
        self._last_price.update(prices)
        return prices

    def _stop_params(self, symbol: str, qty: Decimal, stop: Decimal | None, limit: Decimal,
                     trailing_delta: int | None = None) -> dict:
        """A STOP_LOSS_LIMIT SELL's parameters; a native trailing stop (§3b) sends
        ``trailingDelta`` and no ``stopPrice``."""
        params = {
            "symbol": symbol, "side": enums.SIDE_TO_BINANCE[Side.SELL],
            "type": enums.ORDER_TYPE_TO_BINANCE[OrderType.STOP_LOSS_LIMIT],
            "timeInForce": enums.TIME_IN_FORCE_GTC, "quantity": plain(qty),
            "price": plain(limit), "newOrderRespType": enums.RESPONSE_TYPE_FULL,
        }
        if stop is not None:
            params["stopPrice"] = plain(stop)
        if trailing_delta is not None:
            params["trailingDelta"] = str(trailing_delta)
        return params

    def _noted(self, report: OrderReport) -> OrderReport:
        self._tracker.note(report)
        return self.fees.value(report)

    def _assets(self, symbol: str) -> tuple[str, str] | None:
        rules = self._rules.get(symbol)
        return None if rules is None else (rules.base_asset, rules.quote_asset)

    # --- asynchronous order updates (see ``updates`` for the polling cadence) ---------------

    def set_listener(self, listener: ExecutionListener | None) -> None:
        self.updates.set_listener(
            None if listener is None else lambda report: listener(self.fees.value(report)))

    def set_waker(self, wake: Callable[[], None] | None) -> None:
        self.updates.set_waker(wake)

    def set_balance_listener(self, listener: BalanceListener | None) -> None:
        self.updates.set_balance_listener(listener)

    @property
    def user_stream_up(self) -> bool:
        return self.updates.stream_up

    def start_user_stream(self) -> None:
        """Subscribe to order updates on a thread of its own; reports go to the listener."""
        self.updates.start_stream()

    def stop_user_stream(self) -> None:
        self.updates.stop_stream()

    def wait_user_stream(self, timeout_s: float) -> bool:
        """Block until the user stream is subscribed (boot and tests)."""
        return self.updates.wait_stream(timeout_s)

    def poll_due(self) -> bool:
        """Whether ``poll_orders`` would send a request now."""
        return self.updates.poll_due()

    def poll_orders(self, *, force: bool = False) -> list[OrderReport]:
        """REST fallback for the user stream; the Gateway calls it on a timer.

        Runs only when the stream is down (or has just come back), at most every 5 s and
        within the weight ceiling, unless ``force``. Lists every open order in one call, then
        queries by client id only the known orders that left the book. Each resulting report
        goes to the listener and is returned.
        """
        return self.updates.poll(force=force)

    def _user_stream(self, on_event, on_state) -> UserStream:
        return UserStream(
            api_key=self._api_key, api_secret=self._api_secret,
            testnet=self._testnet and self._ws_api_url is None, ws_api_url=self._ws_api_url,
            timestamp_offset_ms=lambda: self.client.timestamp_offset,
            on_event=on_event, on_state=on_state,
        )

    def connect(self) -> list[str]:
        """Boot checks: the key and secret work (else ``AuthError``), and the clock is synced;
        the four requests (account, the key's restrictions, the server time, exchangeInfo)
        are sent side by side, one round trip in all. A signed call that went out before the
        clock was known and came back -1021 is signed again with it (``_call``). A wrong key
        stops before anything else is said. exchangeInfo (1.5 MB for 1,000 symbols, ~70 ms
        here) is still read when this returns: ``wait_ready`` (or the first ``rules``)
        waits for it, so boot reads its DB meanwhile."""
        with self._ready_lock:
            if self._symbols and self._info is None:
                self._info = Future()
                threading.Thread(target=self._load_info, args=(self._info,), daemon=True,
                                 name="exchange-info").start()
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="connect") as pool:
            clock = pool.submit(self.resync_clock, quiet=True)
            report = self._credentials(pool)
            log_clock_offset(clock.result())  # after the key check: a wrong key says only so
        warnings = []
        if report.can_withdraw:
            warnings.append("this API key can withdraw funds; Ratchet needs only spot trading")
        return warnings

    def wait_ready(self) -> None:
        """The symbols' filters that ``connect`` asked for are here; raises the error of that
        exchangeInfo read once, and a call after it (``policy.read`` retrying) reads again."""
        with self._ready_lock:
            info, self._info = self._info, None
            if info is not None:
                info.result()
            elif any(s not in self._rules for s in self._symbols):
                self.load_exchange_info()

    def _load_info(self, done: Future) -> None:
        try:
            done.set_result(self.load_exchange_info())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
            done.set_exception(exc)

    def start_streams(self) -> None:
        self.start_user_stream()

    def maintain(self) -> None:
        if self.poll_due():
            self.poll_orders()

    def close(self) -> None:
        self.stop_user_stream()
        self._clients.close()


def _replace_halves(exc: BinanceAPIException) -> dict | None:
    """A cancelReplace 400 (-2022) or 409 (-2021) carries both halves in ``data``."""
    if exc.code in (CODE_REPLACE_FAILED, CODE_REPLACE_PARTIAL):
        return error_data(exc)
    return None
