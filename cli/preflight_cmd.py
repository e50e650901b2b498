"""``ratchet preflight [-c CONFIG] [--live]``: check a binance-mode account and config before the
first run, and print the plan of that run, sending no order.

One line per check, ``✓`` (fine), ``!`` (works, but read this) or ``✗`` (blocks: the first run
would refuse or misbehave), each saying what to do:
- the venue answers; the keys are valid; the key can trade spot; withdrawals are disabled
  (a loud ``!`` when enabled); the IP restriction is on or off; the clock is within
  ``recv_window_ms`` of the venue's;
- each configured symbol is listed and TRADING; its filters against the settings:
  ``quote_per_trade`` reaches NOTIONAL with a margin (the stop of a full trail must still be
  worth NOTIONAL), ``trail_pct`` fits TRAILING_DELTA for ``native``/``auto``, the tick and
  step;
- the balances: the quote for the entries, the coins to adopt, BNB for fees;
- the open orders on the account: ours (by ``client_id_prefix``; open ones the DB does not
  know would make boot refuse), foreign ones, and the stop ("algo") orders per symbol against
  MAX_NUM_ALGO_ORDERS (a full cap leaves no room for the stop);
- then the plan (cli/plan.py): pair by pair, what the first run will do.

Exit 0 when nothing blocks, 2 when a check blocks (a person must change something), 75 when the
venue does not answer. Read-only: the DB is opened read-only (when it exists), and every
request is a read.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cli.common import build_exchange, check_live_safety, venue_url
from cli.main import add_config_arg
from cli.numbers import SymbolFormat, money, to_places
from cli.plan import PairInputs, plan_lines, render
from core.config import Config, Mode, load_config
from core.errors import (
    EXIT_BAD_INPUT,
    EXIT_UNAVAILABLE,
    AuthError,
    InputError,
    VenueError,
)
from core.stop_mode import native_problem
from core.types import EntryMode, PairSettings, Position, StopMode, SymbolFilters

OK, WARN, BLOCK = "✓", "!", "✗"
TRADING = "TRADING"
ALGO_TYPES = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
HUNDRED = Decimal(100)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preflight", help="check the account, keys, symbols and balances, and "
                                         "print what the first run will do (binance mode; "
                                         "sends nothing)")
    add_config_arg(p)
    p.add_argument("--live", action="store_true",
                   help="allow a real-money venue (as `ratchet run --live` would)")
    p.set_defaults(handler=preflight)


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    mark: str
    name: str
    text: str

    def line(self) -> str:
        return f"{self.mark} {self.name}: {self.text}"


class Report:
    """Checks printed as they come, so a slow venue shows progress."""

    def __init__(self, out=None) -> None:
        self.out = out or sys.stdout
        self.checks: list[Check] = []

    def add(self, mark: str, name: str, text: str) -> None:
        check = Check(mark=mark, name=name, text=text)
        self.checks.append(check)
        print(check.line(), file=self.out, flush=True)

    @property
    def blocked(self) -> bool:
        return any(c.mark == BLOCK for c in self.checks)


def preflight(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if cfg.engine.mode is not Mode.BINANCE:
        raise InputError(f"preflight checks a binance-mode account; {cfg.source} has "
                         f'[engine] mode = "{cfg.engine.mode.value}" (paper mode needs no '
                         "preflight)")
    check_live_safety(cfg, live_flag=args.live)
    exchange = build_exchange(cfg)
    report = Report()
    url = venue_url(cfg)
    try:
        code = _checks(cfg, exchange, report, url)
    finally:
        exchange.close()
    if code:
        return code
    if report.blocked:
        print(f"preflight: {sum(c.mark == BLOCK for c in report.checks)} check(s) block the "
              "first run (✗ above)", flush=True)
        return EXIT_BAD_INPUT
    warnings = sum(c.mark == WARN for c in report.checks)
    print(f"preflight: nothing blocks the first run{f' ({warnings} to read: !)' if warnings else ''}"
          f"; `ratchet run -c {cfg.source}` will do the plan above", flush=True)
    return 0


def _checks(cfg: Config, exchange: Any, report: Report, url: str) -> int:
    """Every check in turn; returns an exit code when one ends the run early, else 0."""
    # The key first: every other read but the public ones needs it.
    try:
        offset = exchange.resync_clock(quiet=True)
    except VenueError as exc:
        report.add(BLOCK, "venue", f"{url} did not answer ({exc}): check [exchange] base_url "
                   "and the network")
        return EXIT_UNAVAILABLE
    report.add(OK, "venue", f"{url} answers")
    try:
        credentials = exchange.check_credentials()
    except AuthError:
        report.add(BLOCK, "keys", "the venue refuses RATCHET_API_KEY / RATCHET_API_SECRET: "
                   "set a key and secret made on this venue" + (
                       " (testnet keys: https://testnet.binance.vision, log in with GitHub, "
                       "Generate HMAC_SHA256 Key)" if cfg.exchange.testnet else ""))
        return EXIT_BAD_INPUT
    except VenueError as exc:
        report.add(BLOCK, "venue", f"{url} did not answer the account read ({exc})")
        return EXIT_UNAVAILABLE
    report.add(OK, "keys", "valid (the account was read with them)")
    restrictions = _restrictions(exchange, cfg)
    _key_checks(report, credentials, restrictions)
    _clock_check(report, offset, cfg.exchange.recv_window_ms)

    filters, statuses = _symbols(exchange, cfg.symbols)
    for settings in cfg.pairs:
        _symbol_checks(report, settings, filters.get(settings.symbol),
                       statuses.get(settings.symbol))
    balances = {a: b.free for a, b in exchange.balances().items()}
    prices = _prices(exchange, [s for s in cfg.symbols if s in filters])
    positions = open_positions(cfg)
    _balance_checks(report, cfg.pairs, filters, balances, prices, positions)
    _order_checks(report, cfg, filters, exchange.client.get_open_orders())
    inputs = [pair_inputs(s, filters.get(s.symbol), prices.get(s.symbol), balances,
                          positions.get(s.symbol)) for s in cfg.pairs]
    quotes = {f.quote_asset for f in filters.values()}
    print(render(plan_lines(inputs, {q: balances.get(q, Decimal(0)) for q in quotes})),
          flush=True)
    return 0


def _restrictions(exchange: Any, cfg: Config) -> dict | None:
    """The key's ``apiRestrictions``, or None where the venue does not say (the testnet)."""
    if cfg.exchange.testnet and not cfg.exchange.base_url:
        return None
    try:
        raw = exchange.client.get_account_api_permissions()
    except Exception:  # noqa: BLE001 - a venue without /sapi: unknown
        return None
    return raw if isinstance(raw, dict) else None


def _key_checks(report: Report, credentials: Any, restrictions: dict | None) -> None:
    spot = credentials.can_trade and (restrictions is None or
                                      restrictions.get("enableSpotAndMarginTrading", True))
    if spot:
        report.add(OK, "spot trading", "the key may trade spot")
    else:
        report.add(BLOCK, "spot trading", "the key may not trade spot: edit its restrictions "
                   "and tick 'Enable Spot & Margin Trading'")
    if restrictions is None:
        report.add(WARN, "withdrawals", "the venue does not say (testnet): on the live venue "
                   "make a key with 'Enable Withdrawals' off")
        report.add(WARN, "IP restriction", "the venue does not say (testnet): on the live "
                   "venue restrict the key to this machine's IP address")
        return
    if restrictions.get("enableWithdrawals"):
        report.add(WARN, "withdrawals", "ENABLED ON THIS KEY. Ratchet never withdraws; a "
                   "leaked key could empty the account. Make a new key with 'Enable "
                   "Withdrawals' off and delete this one")
    else:
        report.add(OK, "withdrawals", "disabled on this key")
    if restrictions.get("ipRestrict"):
        report.add(OK, "IP restriction", "on: the key works only from the listed addresses")
    else:
        report.add(WARN, "IP restriction", "off: the key works from anywhere; restrict it to "
                   "this machine's IP address in the API management page")


def _clock_check(report: Report, offset_ms: int, recv_window_ms: int) -> None:
    if abs(offset_ms) < recv_window_ms:
        report.add(OK, "clock", f"{offset_ms:+d} ms from the venue's, within recv_window_ms "
                   f"({recv_window_ms})")
    else:
        report.add(BLOCK, "clock", f"{offset_ms / 1000:+.1f} s from the venue's, beyond "  # display
                   f"recv_window_ms ({recv_window_ms}): sync this machine's clock (`timedatectl "
                   "set-ntp true`, chrony); signed requests would be refused")


def _symbols(exchange: Any, symbols: Iterable[str]) -> tuple[dict[str, SymbolFilters],
                                                            dict[str, str]]:
    """Filters and status of each configured symbol the venue lists (one exchangeInfo read)."""
    from exchange.binance.dto import ExchangeInfoDTO
    from exchange.binance.filters import rules_from_symbol

    wanted = set(symbols)
    info = ExchangeInfoDTO.parse(exchange.client.get_exchange_info(), only=wanted)
    filters = {s.symbol: rules_from_symbol(s).to_core() for s in info.symbols
               if s.symbol in wanted}
    return filters, {s.symbol: s.status for s in info.symbols if s.symbol in wanted}


def _symbol_checks(report: Report, s: PairSettings, f: SymbolFilters | None,
                   status: str | None) -> None:
    name = s.symbol
    if f is None:
        report.add(BLOCK, name, "not listed on this venue: fix the name or remove the "
                   "[[pairs]] entry (boot refuses it)")
        return
    number = SymbolFormat(tick=f.tick, step=f.step, quote=f.quote_asset)
    if status != TRADING:
        report.add(WARN, name, f"status {status}: orders are refused until it trades again "
                   "(held coins are protected as soon as it does)")
    else:
        report.add(OK, name, f"listed and TRADING; tick {number.price(f.tick)}, step "
                   f"{number.qty(f.step)}, NOTIONAL {number.money(f.min_notional)}")
    if s.entry is EntryMode.ALWAYS:
        need = stop_notional_margin(s, f.min_notional, number)
        if s.quote_per_trade < f.min_notional:
            report.add(BLOCK, f"{name} quote_per_trade",
                       f"{number.money(s.quote_per_trade)} is under the symbol's NOTIONAL "
                       f"{number.money(f.min_notional)}: every entry would be refused; set "
                       f"quote_per_trade to {number.money(need)} or more")
        elif s.quote_per_trade < need:
            report.add(WARN, f"{name} quote_per_trade",
                       f"{number.money(s.quote_per_trade)} reaches NOTIONAL "
                       f"{number.money(f.min_notional)}, but a stop {s.trail_pct}% lower "
                       f"(limit {s.limit_offset_pct}% under it, less the fee) would not: set "
                       f"it to {number.money(need)} or more")
        else:
            report.add(OK, f"{name} quote_per_trade",
                       f"{number.money(s.quote_per_trade)}: the entry and its stop reach "
                       f"NOTIONAL {number.money(f.min_notional)}")
    if s.stop_mode is not StopMode.REPLACE:
        problem = native_problem(s, f)
        if problem is None:
            report.add(OK, f"{name} stop_mode", f'"{s.stop_mode.value}": native, '
                       f"trailingDelta {int(s.trail_pct * HUNDRED)} inside TRAILING_DELTA "
                       f"[{f.min_trailing_delta}, {f.max_trailing_delta}]")
        elif s.stop_mode is StopMode.NATIVE:
            report.add(BLOCK, f"{name} stop_mode", f'"native" is not possible: {problem}; '
                       'use stop_mode = "auto" or change trail_pct')
        else:
            report.add(OK, f"{name} stop_mode", f'"auto": Ratchet moves the stop, since '
                       f"{problem}")
    if s.keep_qty and s.keep_qty % f.step:
        report.add(WARN, f"{name} keep_qty", f"{s.keep_qty} is not a multiple of the step "
                   f"{number.qty(f.step)}: what is adopted is floored to the step")


def stop_notional_margin(s: PairSettings, min_notional: Decimal,
                         number: SymbolFormat) -> Decimal:
    """The ``quote_per_trade`` whose stop, a full trail under the entry with its limit
    offset and after the fee, is still worth NOTIONAL; rounded up to the quote's places."""
    keep = ((HUNDRED - s.trail_pct) / HUNDRED * (HUNDRED - s.limit_offset_pct) / HUNDRED
            * (HUNDRED - s.fee_pct) / HUNDRED)
    need = min_notional / keep
    unit = Decimal(1).scaleb(-2)
    return (need / unit).to_integral_value(rounding="ROUND_CEILING") * unit


def _prices(exchange: Any, symbols: list[str]) -> dict[str, Decimal]:
    if not symbols:
        return {}
    return exchange.last_prices(symbols)


def open_positions(cfg: Config) -> dict[str, Position]:
    """The DB's open positions by symbol (read-only); none when there is no DB yet."""
    if not cfg.engine.db_path.exists():
        return {}
    from persistence.db import db_password_from_env, open_database
    from persistence.repository import Repository

    db = open_database(cfg.engine.db_path, password=db_password_from_env(), readonly=True)
    try:
        return {p.symbol: p for p in Repository(db).list_positions(open_only=True)}
    finally:
        db.close()


def known_orders(cfg: Config, ids: list[str]) -> frozenset[str]:
    if not ids or not cfg.engine.db_path.exists():
        return frozenset()
    from persistence.db import db_password_from_env, open_database
    from persistence.repository import Repository

    db = open_database(cfg.engine.db_path, password=db_password_from_env(), readonly=True)
    try:
        return Repository(db).known_order_ids(ids)
    finally:
        db.close()


def _balance_checks(report: Report, pairs: Iterable[PairSettings],
                    filters: dict[str, SymbolFilters], balances: dict[str, Decimal],
                    prices: dict[str, Decimal], positions: dict[str, Position]) -> None:
    needs: dict[str, list[Decimal]] = {}
    for s in pairs:
        f = filters.get(s.symbol)
        if f is None or s.symbol in positions:
            continue
        if s.entry is EntryMode.ALWAYS:
            needs.setdefault(f.quote_asset, []).append(s.quote_per_trade)
        elif s.entry is EntryMode.ADOPT:
            free = balances.get(f.base_asset, Decimal(0))
            number = SymbolFormat(tick=f.tick, step=f.step, quote=f.quote_asset)
            price = prices.get(s.symbol)
            worth = f", worth {number.money(free * price)}" if price is not None else ""
            mark = OK if free > s.keep_qty else WARN
            report.add(mark, f"balance {f.base_asset}", f"{number.qty(free)} free{worth} for "
                       f"{s.symbol} to adopt (keep_qty {number.qty(s.keep_qty)})"
                       + ("" if mark == OK else ": nothing to protect until coins arrive"))
    for quote, amounts in sorted(needs.items()):
        free = balances.get(quote, Decimal(0))
        total = sum(amounts, Decimal(0))
        if free >= total:
            report.add(OK, f"balance {quote}", f"{to_places(free, None)} free: enough for the "
                       f"first {len(amounts)} entr{'y' if len(amounts) == 1 else 'ies'} "
                       f"({money(total, quote)})")
        else:
            report.add(WARN, f"balance {quote}", f"{to_places(free, None)} free, the first "
                       f"entries need {money(total, quote)}: the pairs it cannot pay wait for "
                       "funds (deposit, or lower quote_per_trade)")
    bnb = balances.get("BNB", Decimal(0))
    if bnb > 0:
        report.add(OK, "balance BNB", f"{to_places(bnb, None)} free: fees can be paid in BNB if the account "
                   "has 'Using BNB to pay for fees' on")
    else:
        report.add(OK, "balance BNB", "none: fees are paid in the traded assets (with BNB "
                   "fees on, keep some BNB)")


def _order_checks(report: Report, cfg: Config, filters: dict[str, SymbolFilters],
                  raw_orders: Any) -> None:
    orders = [o for o in raw_orders if isinstance(o, dict)] if isinstance(raw_orders, list) \
        else []
    prefix = cfg.engine.client_id_prefix + "-"
    ours = [o for o in orders if str(o.get("clientOrderId", "")).startswith(prefix)]
    foreign = [o for o in orders if o not in ours]
    unknown = sorted(set(str(o["clientOrderId"]) for o in ours) - known_orders(
        cfg, [str(o["clientOrderId"]) for o in ours]))
    if unknown:
        report.add(BLOCK, "open orders (ours)",
                   f"{len(unknown)} open order(s) with prefix {prefix} that the DB "
                   f"{cfg.engine.db_path} does not know (e.g. {unknown[0]}): boot refuses "
                   "them. Another engine on this key? Give each engine its own "
                   "[engine] client_id_prefix (or use that engine's DB)")
    else:
        report.add(OK, "open orders (ours)", f"{len(ours)} with prefix {prefix}, all known "
                   "to the DB")
    by_symbol = Counter(str(o.get("symbol")) for o in foreign)
    report.add(OK if not foreign else WARN, "open orders (foreign)",
               "none" if not foreign else
               f"{len(foreign)} not Ratchet's, left alone: "
               + ", ".join(f"{s} {n}" for s, n in sorted(by_symbol.items())))
    algo = Counter(str(o.get("symbol")) for o in orders if o.get("type") in ALGO_TYPES)
    for symbol, f in sorted(filters.items()):
        count, cap = algo.get(symbol, 0), f.max_algo_orders
        ours_here = sum(1 for o in ours if o.get("symbol") == symbol
                        and o.get("type") in ALGO_TYPES)
        if count - ours_here >= cap:
            report.add(BLOCK, f"{symbol} stop orders", f"{count} of MAX_NUM_ALGO_ORDERS {cap} "
                       "open, none of them Ratchet's: no room for its stop; cancel a foreign "
                       "stop or take-profit on this symbol")
        elif count:
            report.add(OK, f"{symbol} stop orders", f"{count} of MAX_NUM_ALGO_ORDERS {cap} "
                       f"open ({ours_here} Ratchet's)")


def pair_inputs(s: PairSettings, f: SymbolFilters | None, price: Decimal | None,
                balances: dict[str, Decimal], position: Position | None) -> PairInputs:
    free_base = balances.get(f.base_asset, Decimal(0)) if f is not None else Decimal(0)
    return PairInputs(settings=s, filters=f, price=price, free_base=free_base,
                      position=position)


def plan_for_run(cfg: Config, exchange: Any, out: Callable[[str], None]) -> None:
    """``ratchet run`` in binance mode: the same plan, from the venue ``exchange`` the engine
    is about to trade on (its filters, the balances, the last prices, the DB)."""
    if not cfg.pairs:
        return
    from cli.plan import RUN_LINES

    positions = open_positions(cfg)
    # A restart whose every pair holds a position reads nothing from the venue: each is kept,
    # and reconciliation is about to check them. Only the pairs that are flat need the
    # filters, the balances and the prices.
    flat = [s.symbol for s in cfg.pairs if s.symbol not in positions]
    filters = {s: exchange.symbol_filters(s) for s in flat}
    balances = {a: b.free for a, b in exchange.balances().items()} if flat else {}
    prices = _prices(exchange, flat)
    inputs = [pair_inputs(s, filters.get(s.symbol), prices.get(s.symbol), balances,
                          positions.get(s.symbol)) for s in cfg.pairs]
    quotes = {f.quote_asset for f in filters.values()}
    out(render(plan_lines(inputs, {q: balances.get(q, Decimal(0)) for q in quotes}),
               limit=RUN_LINES))
