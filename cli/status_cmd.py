"""``ratchet status [--json]`` and ``ratchet reconcile [--dry-run]``.

``status`` reads the DB through its own read-only connection, which WAL allows while the
engine writes. ``reconcile --dry-run`` prints what boot reconciliation would do and changes
nothing; without ``--dry-run`` it carries the actions out (the engine must not be running).
"""

from __future__ import annotations

import argparse
import json
from decimal import Decimal

from cli.main import add_config_arg
from core.config import load_config
from core.errors import StoreError
from core.types import OrderState
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
    r.set_defaults(handler=reconcile)


def _read_state(cfg) -> dict:
    if not cfg.engine.db_path.exists():
        raise StoreError(f"database {cfg.engine.db_path} does not exist (run the engine first)")
    db = open_database(cfg.engine.db_path, password=db_password_from_env(), readonly=True)
    try:
        repo = Repository(db)
        positions = repo.list_positions(open_only=True)
        orders = [o for o in repo.list_orders() if o.state.is_open
                  or o.state is OrderState.PENDING_NEW]
        realized = {s: repo.realized_pnl(s) for s in sorted({p.symbol for p in
                                                             repo.list_positions()})}
        return {"positions": [p.to_json() for p in positions],
                "open_orders": [o.to_json() for o in orders],
                "realized_pnl": {s: str(v) for s, v in realized.items()},
                "realized_pnl_total": str(sum(realized.values(), Decimal(0)))}
    finally:
        db.close()


def status(args: argparse.Namespace) -> int:
    state = _read_state(load_config(args.config, need_keys=False))
    if args.json:
        print(json.dumps(state, indent=2, sort_keys=True))
        return 0
    print(f"{'symbol':<10} {'state':<9} {'qty':>14} {'entry':>12} {'highest':>12} "
          f"{'stop':>12} moves")
    for p in state["positions"]:
        print(f"{p['symbol']:<10} {p['state']:<9} {p['qty']:>14} {p['entry_price']:>12} "
              f"{p['highest']:>12} {str(p['stop']):>12} {p['stop_moves']}")
    print(f"open orders: {len(state['open_orders'])}")
    for o in state["open_orders"]:
        print(f"  {o['symbol']:<10} {o['client_order_id']:<24} {o['type']:<16} {o['state']:<12}"
              f" stop={o['stop_price']} limit={o['limit_price']} qty={o['qty']}")
    for symbol, pnl in state["realized_pnl"].items():
        print(f"realized {symbol:<10} {pnl}")
    print(f"realized total {state['realized_pnl_total']}")
    return 0


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
            return _dry_run(cfg, exchange, settings, filters)
        with acquire_lock(cfg.engine.db_path):
            db = DBWriter.start(cfg.engine.db_path, password=db_password_from_env(),
                                synchronous=cfg.engine.synchronous)
            try:
                report = recovery.reconcile_with_db(exchange, db, settings=settings,
                                                    filters=filters,
                                                    prefix=cfg.engine.client_id_prefix)
            finally:
                pykka.ActorRegistry.stop_all(timeout=30)
        print(report.to_json())
        return 0
    finally:
        exchange.close()


def _dry_run(cfg, exchange, settings, filters) -> int:
    from actors import recovery

    db = open_database(cfg.engine.db_path, password=db_password_from_env(), readonly=True)
    try:
        repo = Repository(db)
        positions = tuple(repo.list_positions(open_only=True))
        orders = tuple(repo.list_orders())
    finally:
        db.close()
    for p in positions:
        if p.symbol not in settings:
            settings[p.symbol] = cfg.settings_for(p.symbol)
            filters[p.symbol] = exchange.symbol_filters(p.symbol)
    the_plan = recovery.plan(exchange, positions, orders, settings=settings, filters=filters,
                             prefix=cfg.engine.client_id_prefix)
    for action in the_plan.actions:
        print(f"{action.kind}: {action}")
    print(f"{len(the_plan.actions)} actions; {the_plan.queried} orders queried; "
          f"nothing changed (dry run)")
    return 0
