"""``ratchet status [--json]`` and ``ratchet reconcile [--dry-run]``.

``status`` reads the DB through its own read-only connection, which WAL allows while the
engine writes, and prints the pairs table of ``ratchet run``'s live view once (cli/table.py);
the price, the distance to the stop and the unrealized P&L come from the running engine's
``/metrics`` on ``[engine] metrics_host:metrics_port``, but only when that engine's ``/status``
names this very DB (resolved path): another engine on the port (a sim run beside a paper
config) is never mixed in, and the title line says which case it is. Prices and quantities
read to each symbol's tick and step (the running engine's, or paper mode's config), P&L in the
quote asset with its code.
``--json`` prints the DB's state exactly as before. ``reconcile --dry-run`` prints what boot reconciliation would do and changes
nothing; without ``--dry-run`` it carries the actions out (the engine must not be running).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from dataclasses import fields
from decimal import Decimal
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from cli.main import add_config_arg
from cli.numbers import PLAIN, SymbolFormat, money
from cli.table import ESTIMATE_NOTE, PairRow, pairs_table
from core.config import load_config
from core.errors import ConfigError, StoreError
from core.symbols import paper_filters
from core.types import OrderState, Position
from persistence.db import acquire_lock, db_password_from_env, open_database
from persistence.repository import Repository


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="positions, open orders and realized P&L from the DB")
    add_config_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=status)

    r = sub.add_parser("reconcile", help="compare the DB with the exchange (boot reconcile)")
    add_config_arg(r)
    r.add_argument("--dry-run", action="store_true", help="print the actions; change nothing")
    r.add_argument("--live", action="store_true", help="allow a real-money venue")
    r.add_argument("--adopt-orphans", action="store_true",
                   help="take over open stops of our prefix that the DB does not know (a DB "
                        "older than the venue) instead of refusing")
    r.set_defaults(handler=reconcile)


def _read_state(cfg) -> tuple[dict, dict[str, str]]:
    """(the ``--json`` document, each symbol's latest order as "TYPE STATE")."""
    if not cfg.engine.db_path.exists():
        raise StoreError(f"database {cfg.engine.db_path} does not exist (run the engine first)")
    db = open_database(cfg.engine.db_path, password=db_password_from_env(), readonly=True)
    try:
        repo = Repository(db)
        positions = repo.list_positions(open_only=True)
        orders = [o for o in repo.list_orders() if o.state.is_open
                  or o.state is OrderState.PENDING_NEW]
        latest = repo.latest_positions()
        quotes = {p.symbol: _quote_of(p, cfg) for p in latest}
        realized = {s: repo.realized_pnl(s) for s in sorted(quotes)}
        by_quote: dict[str, Decimal] = {}
        for symbol, pnl in realized.items():
            by_quote[quotes[symbol]] = by_quote.get(quotes[symbol], Decimal(0)) + pnl
        last_events = {o.symbol: f"{o.type.value} {o.state.value}" for o in repo.list_orders()}
        fees: dict[str, Decimal] = {}
        for fill in repo.list_fills():
            fees[fill.fee_asset] = fees.get(fill.fee_asset, Decimal(0)) + fill.fee
        return ({"positions": [p.to_json() for p in positions],
                 "open_orders": [o.to_json() for o in orders],
                 "quote_assets": quotes,
                 "realized_pnl": {s: str(v) for s, v in realized.items()},
                 "realized_pnl_by_quote": {q: str(v) for q, v in sorted(by_quote.items())},
                 # Commissions as the venue charged them, per asset (BNB, base or quote).
                 "fees_by_asset": {a: str(v) for a, v in sorted(fees.items())},
                 # Only meaningful when every pair has the same quote asset.
                 "realized_pnl_total": str(sum(realized.values(), Decimal(0))),
                 "halted": {p.symbol: p.halt_reason or "halted" for p in latest if p.halted},
                 # Coins of a position the account lost outside Ratchet (its stop was refused
                 # for want of them and the balance showed them gone).
                 "sold_outside": {p.symbol: str(p.sold_outside) for p in latest
                                  if p.sold_outside > 0}},
                last_events)
    finally:
        db.close()


def _quote_of(position: Position, cfg) -> str:
    """The asset a symbol's P&L is in: recorded with its positions since the quote-asset
    change; for older rows, what the paper venue would split off the symbol."""
    if position.quote_asset:
        return position.quote_asset
    try:
        return paper_filters(cfg.settings_for(position.symbol)).quote_asset
    except ConfigError:
        return "?"


def status(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, need_keys=False, need_pairs=False)
    state, last_events = _read_state(cfg)
    if args.json:
        print(json.dumps(state, indent=2, sort_keys=True))
        return 0
    engine, note = running_engine(cfg)
    live = _engine_values(cfg) if engine is not None else {}
    if engine is not None and (running_engine(cfg)[0] or {}).get("instance") != \
            engine.get("instance"):  # another engine took the port meanwhile
        engine, live, note = None, {}, "the engine changed while reading: the DB alone"
    tty = sys.stdout.isatty()
    console = Console(width=None if tty else 200, highlight=False)
    console.print(f"ratchet status: {cfg.engine.db_path}, client id prefix "
                  f"{cfg.engine.client_id_prefix}-, {note}", soft_wrap=True)
    formats = _formats(cfg, state, engine)
    rows = _rows(cfg, state, last_events, live, formats)
    console.print(pairs_table(rows, width=console.width if tty else None))
    if any(r.stop_estimated for r in rows):
        console.print(ESTIMATE_NOTE, soft_wrap=True)
    console.print(f"open orders: {len(state['open_orders'])}")
    for o in state["open_orders"]:
        number = formats.get(o["symbol"], PLAIN)
        trigger = (f"trailingDelta={o['trailing_delta']}" if o.get("trailing_delta") is not None
                   else f"stop={_price(number, o['stop_price'])}")
        print(f"  {o['symbol']:<10} {o['client_order_id']:<24} {o['type']:<16} {o['state']:<12}"
              f" {trigger} limit={_price(number, o['limit_price'])} "
              f"qty={number.qty(None if o['qty'] is None else Decimal(o['qty']))}")
    for symbol, pnl in state["realized_pnl"].items():
        number = formats.get(symbol, PLAIN)
        print(f"realized {symbol:<10} "
              f"{money(Decimal(pnl), state['quote_assets'][symbol], _money_places(number))}")
    for quote, pnl in state["realized_pnl_by_quote"].items():
        print(f"realized total {money(Decimal(pnl), quote)}")
    for symbol, reason in state["halted"].items():
        print(f"halted {symbol:<10} {reason}")
    for symbol, qty in state["sold_outside"].items():
        print(f"sold outside Ratchet {symbol:<10} {formats.get(symbol, PLAIN).qty(Decimal(qty))}")
    for symbol in sorted(s for s, v in live.items() if v.get("adopt_skipped")):
        print(f"adopt skipped {symbol:<10} the held coins' stop would break a filter: left "
              "alone (the log says which)")
    return 0


def running_engine(cfg) -> tuple[dict | None, str]:
    """(the ``/status`` document of the engine on ``[engine] metrics_host:metrics_port``
    when it serves this config's DB, else None; a few words saying which case it is)."""
    where = f"{cfg.engine.metrics_host}:{cfg.engine.metrics_port}"
    try:
        with urllib.request.urlopen(f"{_base(cfg)}/status", timeout=0.5) as response:
            doc = json.loads(response.read().decode())
    except urllib.error.HTTPError:
        return None, f"something else answers on {where} (no engine status): the DB alone"
    except (OSError, ValueError):
        return None, "engine not running: the DB alone, no prices"
    ours = str(cfg.engine.db_path.resolve())
    if not isinstance(doc, dict) or doc.get("db_path") != ours:
        other = doc.get("db_path") if isinstance(doc, dict) else "?"
        return None, (f"the engine on {where} serves {other}, not this DB: the DB alone, "
                      "no prices")
    return doc, f"prices from the running engine (pid {doc.get('pid')})"


def _base(cfg) -> str:
    host = cfg.engine.metrics_host
    host = "127.0.0.1" if host in ("", "0.0.0.0") else "[::1]" if host == "::" else (
        f"[{host}]" if ":" in host else host)
    return f"http://{host}:{cfg.engine.metrics_port}"


def _formats(cfg, state: dict, engine: dict | None) -> dict[str, SymbolFormat]:
    """Each shown symbol's tick, step and quote: the running engine's (it read the venue),
    else paper mode's config, else the quote alone (numbers as few places as they need)."""
    symbols = {*cfg.symbols, *state["quote_assets"],
               *(p["symbol"] for p in state["positions"]),
               *(o["symbol"] for o in state["open_orders"])}
    known = (engine or {}).get("symbols") or {}
    formats = {}
    for symbol in symbols:
        quote = state["quote_assets"].get(symbol, "")
        given = known.get(symbol)
        if given:
            formats[symbol] = SymbolFormat(tick=Decimal(given["tick"]) if given["tick"] else None,
                                           step=Decimal(given["step"]) if given["step"] else None,
                                           quote=given.get("quote") or quote)
        elif cfg.engine.mode.value == "paper":
            try:
                f = paper_filters(cfg.settings_for(symbol))
                formats[symbol] = SymbolFormat(tick=f.tick, step=f.step, quote=f.quote_asset)
            except ConfigError:
                formats[symbol] = SymbolFormat(quote=quote)
        else:
            formats[symbol] = SymbolFormat(quote=quote)
    return formats


def _price(number: SymbolFormat, text: str | None) -> str:
    return number.price(None if text is None else Decimal(text))


def _money_places(number: SymbolFormat) -> int:
    from cli.numbers import MONEY_PLACES, places_of

    return max(MONEY_PLACES, places_of(number.tick) or 0)


def _rows(cfg, state: dict, last_events: dict[str, str],
          live: dict[str, dict[str, Decimal]],
          formats: dict[str, SymbolFormat] | None = None) -> list[PairRow]:
    formats = formats or {}
    positions = {p["symbol"]: p for p in state["positions"]}
    symbols = dict.fromkeys([*cfg.symbols, *sorted(positions), *state["realized_pnl"]])
    rows = []
    for symbol in symbols:
        p = positions.get(symbol)
        values = live.get(symbol, {})
        estimated = p is not None and p.get("trailing_delta") is not None
        if p is None:
            pstate, qty, highest, stop = "FLAT", None, None, None
        else:
            pstate = "HALTED" if p.get("halted") else p["state"]
            if symbol not in cfg.symbols:  # removed from the config while it held coins
                pstate += " abandoned" if symbol in cfg.engine.abandon else " draining"
            qty, highest = Decimal(p["qty"]), Decimal(p["highest"])
            stop = None if p["stop"] is None else Decimal(p["stop"])
            if estimated:  # the running engine's estimate follows its feed; the DB lags
                highest, stop = values.get("highest", highest), values.get("stop", stop)
        realized = state["realized_pnl"].get(symbol)
        rows.append(PairRow(symbol=symbol, price=values.get("price"), highest=highest, stop=stop,
                            qty=qty, unrealized=values.get("unrealized") if p else None,
                            realized=None if realized is None else Decimal(realized),
                            state=pstate, last_event=last_events.get(symbol, ""),
                            adopted=p is not None and p.get("entry_kind") == "adopted",
                            stop_estimated=estimated, fmt=formats.get(symbol, PLAIN)))
    return rows


def _engine_values(cfg) -> dict[str, dict[str, Decimal]]:
    """symbol -> {"price", "unrealized", "highest", "stop"} from the running engine's /metrics
    (highest and stop are used for a native stop's estimate), or {} when it does
    not answer within half a second. Prometheus samples are floats: for display only."""
    try:
        with urllib.request.urlopen(f"{_base(cfg)}/metrics", timeout=0.5) as response:
            text = response.read().decode()
        families = list(text_string_to_metric_families(text))
    except (OSError, ValueError):
        return {}
    wanted = {"ratchet_price": "price", "ratchet_unrealized_pnl": "unrealized",
              "ratchet_highest_price": "highest", "ratchet_stop_price": "stop",
              "ratchet_adopt_skipped": "adopt_skipped"}
    values: dict[str, dict[str, Decimal]] = {}
    for family in families:
        for sample in family.samples:
            key = wanted.get(sample.name)
            symbol = sample.labels.get("symbol")
            if key and symbol and sample.value == sample.value:  # NaN: no value now
                values.setdefault(symbol, {})[key] = Decimal(repr(sample.value))  # display
    return values


def reconcile(args: argparse.Namespace) -> int:
    from cli.common import build_exchange, check_live_safety

    cfg = load_config(args.config)
    check_live_safety(cfg, live_flag=args.live)
    exchange = build_exchange(cfg)
    try:
        return _reconcile(cfg, exchange, args)
    finally:
        exchange.close()


def _reconcile(cfg, exchange, args) -> int:
    import pykka

    from actors import recovery
    from actors.db_writer import DBWriter
    from cli.common import naming_the_venue

    with naming_the_venue(cfg):
        settings = {p.symbol: p for p in cfg.pairs}
        filters = {s: exchange.symbol_filters(s) for s in settings}
        if args.dry_run:
            return _dry_run(cfg, exchange, settings, filters, adopt_orphans=args.adopt_orphans)
        with acquire_lock(cfg.engine.db_path):
            db = DBWriter.start(cfg.engine.db_path, password=db_password_from_env(),
                                synchronous=cfg.engine.synchronous)
            try:
                report = recovery.reconcile_with_db(exchange, db, settings=settings,
                                                    filters=filters,
                                                    prefix=cfg.engine.client_id_prefix,
                                                    settings_for=cfg.settings_for,
                                                    adopt_orphans=args.adopt_orphans)
            finally:
                pykka.ActorRegistry.stop_all(timeout=30)
        print(report.to_json())
        return 0


def _dry_run(cfg, exchange, settings, filters, *, adopt_orphans: bool = False) -> int:
    """The plan boot would carry out, from the same inputs: the open positions and their
    orders, the configured pairs' settings and ``[defaults]`` for the others."""
    from actors import recovery

    db = open_database(cfg.engine.db_path, password=db_password_from_env(), readonly=True)
    try:
        repo = Repository(db)
        positions = tuple(repo.list_positions(open_only=True))
        orders = tuple(repo.orders_of(p.position_id for p in positions))
        written = repo.intents_written()
        the_plan = recovery.plan(exchange, positions, orders, settings=settings,
                                 filters=filters, prefix=cfg.engine.client_id_prefix,
                                 settings_for=cfg.settings_for, written=written,
                                 known=repo.known_order_ids, adopt_orphans=adopt_orphans)
    finally:
        db.close()
    for action in the_plan.actions:
        print(describe_action(action))
    print(f"{len(the_plan.actions)} actions; {the_plan.queried} orders queried; "
          f"nothing changed (dry run)")
    return 0


def describe_action(action: Any) -> str:
    """One reconcile action as a line a person reads: ``replace_stop: position_id=... stop=98.1
    limit=97.6 ...``; an order reads as its symbol, client id, type and state."""
    parts = []
    for f in fields(action):
        value = getattr(action, f.name)
        if value is None:
            continue
        parts.append(f"{f.name}={_plain(value)}")
    return f"{action.kind}: {' '.join(parts)}"


def _plain(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if hasattr(value, "client_order_id"):  # an Order or an OrderReport
        words = [getattr(value, "symbol", ""), value.client_order_id,
                 _plain(getattr(value, "type", "")), _plain(getattr(value, "state", ""))]
        return "(" + " ".join(w for w in words if w) + ")"
    return str(getattr(value, "value", value))
