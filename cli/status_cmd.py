"""``ratchet status [--json]`` and ``ratchet reconcile [--dry-run]``.

``status`` reads the DB through its own read-only connection, which WAL allows while the
engine writes, and prints the pairs table of ``ratchet run``'s live view once (cli/table.py);
the price, the distance to the stop and the unrealized P&L come from the running engine's
``/metrics`` when it answers on ``[engine] metrics_host:metrics_port``, else they show ``-``.
``--json`` prints the DB's state exactly as before. ``reconcile --dry-run`` prints what boot reconciliation would do and changes
nothing; without ``--dry-run`` it carries the actions out (the engine must not be running).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from decimal import Decimal

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from cli.main import add_config_arg
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
    live = _engine_values(cfg)
    console = Console(width=None if sys.stdout.isatty() else 200, highlight=False)
    title = (f"ratchet status: {cfg.engine.db_path}, client id prefix "
             f"{cfg.engine.client_id_prefix}-" +
             (", prices from the running engine" if live else ", engine not answering: no prices"))
    console.print(title, soft_wrap=True)
    rows = _rows(cfg, state, last_events, live)
    console.print(pairs_table(rows))
    if any(r.stop_estimated for r in rows):
        console.print(ESTIMATE_NOTE, soft_wrap=True)
    console.print(f"open orders: {len(state['open_orders'])}")
    for o in state["open_orders"]:
        trigger = (f"trailingDelta={o['trailing_delta']}" if o.get("trailing_delta") is not None
                   else f"stop={o['stop_price']}")
        print(f"  {o['symbol']:<10} {o['client_order_id']:<24} {o['type']:<16} {o['state']:<12}"
              f" {trigger} limit={o['limit_price']} qty={o['qty']}")
    for symbol, pnl in state["realized_pnl"].items():
        print(f"realized {symbol:<10} {pnl} {state['quote_assets'][symbol]}")
    for quote, pnl in state["realized_pnl_by_quote"].items():
        print(f"realized total {pnl} {quote}")
    for symbol, reason in state["halted"].items():
        print(f"halted {symbol:<10} {reason}")
    for symbol, qty in state["sold_outside"].items():
        print(f"sold outside Ratchet {symbol:<10} {qty}")
    for symbol in sorted(s for s, v in live.items() if v.get("adopt_skipped")):
        print(f"adopt skipped {symbol:<10} the held coins' stop would break a filter: left "
              "alone (the log says which)")
    return 0


def _rows(cfg, state: dict, last_events: dict[str, str],
          live: dict[str, dict[str, Decimal]]) -> list[PairRow]:
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
                            stop_estimated=estimated))
    return rows


def _engine_values(cfg) -> dict[str, dict[str, Decimal]]:
    """symbol -> {"price", "unrealized", "highest", "stop"} from the running engine's /metrics
    (highest and stop are used for a native stop's estimate), or {} when it does
    not answer within half a second. Prometheus samples are floats: for display only."""
    host = cfg.engine.metrics_host
    host = "127.0.0.1" if host in ("", "0.0.0.0") else "[::1]" if host == "::" else (
        f"[{host}]" if ":" in host else host)
    try:
        with urllib.request.urlopen(f"http://{host}:{cfg.engine.metrics_port}/metrics",
                                    timeout=0.5) as response:
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
    import pykka  # the venue and the actors: for reconcile, not for status

    from actors import recovery
    from actors.db_writer import DBWriter
    from cli.common import build_exchange, check_live_safety

    cfg = load_config(args.config)
    check_live_safety(cfg, live_flag=args.live)
    exchange = build_exchange(cfg)
    try:
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
    finally:
        exchange.close()


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
        print(f"{action.kind}: {action}")
    print(f"{len(the_plan.actions)} actions; {the_plan.queried} orders queried; "
          f"nothing changed (dry run)")
    return 0
