"""``ratchet sim-exchange``: a Binance-compatible venue on 127.0.0.1 (exchange/sim/PROTOCOL.md)."""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from decimal import Decimal
from pathlib import Path

from core.errors import ConfigError, InputError
from core.money import to_decimal
from core.symbols import split_symbol
from exchange.book_fees import FeeMode
from exchange.sim.server import DEFAULT_SYMBOLS, SimConfig, SimServer, default_credentials

SYMBOL_RE = re.compile(r"[A-Z0-9]{2,20}")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sim-exchange", help="run a Binance-compatible sim exchange on 127.0.0.1",
        description="A Binance-compatible REST and websocket venue on 127.0.0.1 with the "
                    "DESIGN.md §3 fill model. See exchange/sim/PROTOCOL.md.",
    )
    p.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one")
    p.add_argument("--symbols", nargs="+", default=list(DEFAULT_SYMBOLS), metavar="SYM",
                   help="symbols to list, space- or comma-separated (default: %(default)s)")
    p.add_argument("--prices", type=Path, metavar="CSV",
                   help="drive every symbol with this price CSV instead of a random walk")
    p.add_argument("--speed", type=float, default=60.0,
                   help="CSV playback speed, x real time (default: %(default)s)")
    p.add_argument("--latency-ms", type=int, default=0, help="delay of every /api/v3 request")
    p.add_argument("--fail-rate", type=float, default=0.0,
                   help="probability that a request fails as the real venue can (0..1)")
    p.add_argument("--late-rate", type=float, default=0.0,
                   help="probability that an order request (POST order, cancelReplace) is "
                        "answered 5xx (execution status unknown) and lands on the book 1-4 s "
                        "later, inside its recvWindow (0..1)")
    p.add_argument("--state", type=Path, metavar="FILE",
                   help="SQLite state file (orders, trades, balances, symbol statuses); "
                        "default: temporary")
    p.add_argument("--api-key", help="accepted API key (default: $RATCHET_API_KEY or sim-key)")
    p.add_argument("--api-secret",
                   help="its secret (default: $RATCHET_API_SECRET or sim-secret)")
    p.add_argument("--balance", action="append", default=[], metavar="ASSET=AMOUNT",
                   help="starting balance of a new state file, repeatable (default USDT=100000)")
    p.add_argument("--seed", type=int, default=1, help="seed of the random walk and faults")
    p.add_argument("--hold", action="append", default=[], metavar="SYM",
                   help="a listed symbol the random walk leaves at its price (repeatable), "
                        "e.g. the fee asset's BNBUSDT")
    p.add_argument("--volatility-pct", default="1",
                   help="random walk: standard deviation per minute, %% (default: 1)")
    p.add_argument("--interval-ms", type=int, default=250,
                   help="random walk: time between prices (default: %(default)s)")
    p.add_argument("--fee-pct", default="0.1", help="fee, %% of notional (default: 0.1)")
    p.add_argument("--fee-mode", choices=[m.value for m in FeeMode], default=FeeMode.RECEIVED,
                   help="received (Binance: a BUY pays in the base asset, a SELL in the quote "
                        "asset) or quote (both sides in the quote asset); default: received")
    p.add_argument("--fee-asset", metavar="ASSET",
                   help="pay fees in ASSET (BNB) while its balance lasts, at the ASSET<quote> "
                        "price, which must be a listed symbol (e.g. BNBUSDT)")
    p.add_argument("--can-withdraw", action="store_true",
                   help="the API key may withdraw (apiRestrictions enableWithdrawals: true, "
                        "account canWithdraw: true), as a key made without care would")
    p.add_argument("--weight-1m", type=int, default=6000, help="REQUEST_WEIGHT per minute")
    p.add_argument("--orders-10s", type=int, default=100, help="ORDERS per 10 seconds")
    p.add_argument("--orders-1d", type=int, default=200_000, help="ORDERS per day")
    p.add_argument("--ban-s", type=int, default=120, help="length of a 418 ban, seconds")
    p.add_argument("--timeout-s", type=float, default=30.0,
                   help="how long an injected timeout holds the connection")
    p.add_argument("--ws-ping-s", type=float, default=20.0,
                   help="websockets: a ping frame every this many seconds (default: "
                        "%(default)s, Binance's)")
    p.add_argument("--ws-pong-timeout-s", type=float, default=60.0,
                   help="websockets: cut a connection whose pong is this late (default: "
                        "%(default)s)")
    p.add_argument("--ws-max-age-s", type=float, default=86_400.0,
                   help="websockets: cut a connection at this age, as Binance does after 24 h "
                        "(default: %(default)s)")
    p.add_argument("--ws-shutdown-notice-s", type=float, default=5.0,
                   help="websockets: send serverShutdown this long before the cut (default: "
                        "%(default)s; Binance promises no fixed notice)")
    p.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace) -> SimConfig:
    env_key, env_secret = default_credentials()
    if not 0 <= args.fail_rate <= 1:
        raise InputError(f"--fail-rate must be between 0 and 1, got {args.fail_rate}")
    if not 0 <= args.late_rate <= 1:
        raise InputError(f"--late-rate must be between 0 and 1, got {args.late_rate}")
    if args.speed <= 0 or args.interval_ms <= 0:
        raise InputError("--speed and --interval-ms must be positive")
    if min(args.ws_ping_s, args.ws_pong_timeout_s, args.ws_max_age_s) <= 0 or \
            args.ws_shutdown_notice_s < 0:
        raise InputError("--ws-ping-s, --ws-pong-timeout-s and --ws-max-age-s must be "
                         "positive, --ws-shutdown-notice-s not negative")
    balances: dict[str, Decimal] = {}
    for item in args.balance:
        asset, sep, amount = item.partition("=")
        if not sep or not asset:
            raise InputError(f"--balance {item!r}: expected ASSET=AMOUNT")
        balances[asset.upper()] = _decimal(amount, f"--balance {asset}")
    if args.prices is not None and not args.prices.is_file():
        raise InputError(f"{args.prices}: not found")
    symbols = symbols_from_args(args.symbols)
    fee_asset = args.fee_asset.upper() if args.fee_asset else None
    if fee_asset is not None:
        _check_fee_asset(fee_asset, symbols)
    return SimConfig(
        port=args.port, symbols=symbols, prices=args.prices,
        speed=args.speed, latency_ms=args.latency_ms, fail_rate=args.fail_rate,
        late_rate=args.late_rate, can_withdraw=args.can_withdraw,
        state=args.state, api_key=args.api_key or env_key,
        api_secret=args.api_secret or env_secret,
        balances=balances or {"USDT": Decimal("100000")}, seed=args.seed,
        volatility_pct=_decimal(args.volatility_pct, "--volatility-pct"),
        interval_ms=args.interval_ms, fee_pct=_decimal(args.fee_pct, "--fee-pct"),
        fee_mode=FeeMode(args.fee_mode), fee_asset=fee_asset,
        hold=_held(args.hold, symbols),
        weight_1m=args.weight_1m, orders_10s=args.orders_10s, orders_1d=args.orders_1d,
        ban_s=args.ban_s, timeout_s=args.timeout_s,
        ws_ping_s=args.ws_ping_s, ws_pong_timeout_s=args.ws_pong_timeout_s,
        ws_max_age_s=args.ws_max_age_s, ws_shutdown_notice_s=args.ws_shutdown_notice_s,
    )


def symbols_from_args(values: list[str]) -> tuple[str, ...]:
    """``--symbols BTCUSDT,ETHUSDT`` or ``--symbols BTCUSDT ETHUSDT``; each as Binance spells a
    symbol (``[A-Z0-9]{2,20}``, lower case accepted), no repeats."""
    symbols: list[str] = []
    for value in values:
        for name in value.split(","):
            symbol = name.strip().upper()
            if not SYMBOL_RE.fullmatch(symbol):
                raise InputError(f"--symbols: {name.strip()!r} is not a symbol "
                                 "(2 to 20 characters A-Z, 0-9)")
            if symbol not in symbols:
                symbols.append(symbol)
    return tuple(symbols)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if config.state is not None:
        config.state.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = SimServer(config)
    except OSError as exc:
        raise InputError(f"cannot listen on 127.0.0.1:{config.port}: {exc.strerror}") from None
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    server.start()
    print(f"listening on {server.url}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
    sys.stdout.flush()
    return 0


def _held(values: list[str], symbols: tuple[str, ...]) -> frozenset[str]:
    held = frozenset(symbols_from_args(values)) if values else frozenset()
    if not held <= set(symbols):
        raise InputError(f"--hold {', '.join(sorted(held - set(symbols)))}: not in --symbols")
    return held


def _check_fee_asset(asset: str, symbols: tuple[str, ...]) -> None:
    """The fee asset needs a price in some listed symbol's quote asset: ASSET<quote> listed."""
    try:
        quotes = {split_symbol(s)[1] for s in symbols}
        priced = {split_symbol(s)[1] for s in symbols if split_symbol(s)[0] == asset}
    except ConfigError as exc:
        raise InputError(str(exc)) from None
    if not priced & quotes:
        raise InputError(f"--fee-asset {asset} needs a price: list {asset}<quote> in --symbols "
                         f"(e.g. {asset}USDT)")


def _decimal(text: str, what: str) -> Decimal:
    try:
        return to_decimal(text, what=what)
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc)) from None
