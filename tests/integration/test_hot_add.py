"""SIGHUP re-reads ``[[pairs]]``: a new symbol starts trading without disturbing the others,
and a removed one stops while its position keeps its exchange stop."""

from __future__ import annotations

import signal

from core.config import load_config
from core.types import OrderState
from exchange.paper import PaperExchange
from tests.integration import engine

DEFAULTS = 'trail_pct = "5"'
FEED = 'volatility_pct = "0.05"'


def _stops_by_symbol(db):
    orders = engine.read(db, lambda r: r.list_orders(state=OrderState.NEW))
    return {o.symbol: o.client_order_id for o in orders}


def test_sighup_adds_a_pair_without_disturbing_the_others(tmp_path):
    config = engine.write_config(tmp_path, {"AAAUSDT": {}, "BBBUSDT": {}}, defaults=DEFAULTS,
                                 feed=FEED)
    db = load_config(config).engine.db_path
    proc = engine.start(config)
    try:
        before = engine.wait_for(lambda: (s := _stops_by_symbol(db)) and len(s) == 2 and s,
                                 timeout=60, what="two pairs protected")
        positions_before = {p.symbol: p.position_id for p in
                            engine.read(db, lambda r: r.list_positions(open_only=True))}
        engine.write_config(tmp_path, {"AAAUSDT": {}, "BBBUSDT": {}, "CCCUSDT": {}},
                            defaults=DEFAULTS, feed=FEED)
        proc.send_signal(signal.SIGHUP)

        after = engine.wait_for(lambda: (s := _stops_by_symbol(db)) and "CCCUSDT" in s and s,
                                timeout=60, what="the new pair protected")
        positions_after = {p.symbol: p.position_id for p in
                           engine.read(db, lambda r: r.list_positions(open_only=True))}
    finally:
        out = engine.stop(proc)
    assert proc.returncode == 0, out
    for symbol in ("AAAUSDT", "BBBUSDT"):
        assert positions_after[symbol] == positions_before[symbol]
        assert after[symbol].startswith(f"rt-{positions_before[symbol]}-")
    assert set(before) == {"AAAUSDT", "BBBUSDT"}


def test_sighup_removing_a_pair_keeps_its_exchange_stop(tmp_path):
    config = engine.write_config(tmp_path, {"AAAUSDT": {}, "BBBUSDT": {}}, defaults=DEFAULTS,
                                 feed=FEED)
    cfg = load_config(config)
    proc = engine.start(config)
    try:
        stops = engine.wait_for(lambda: (s := _stops_by_symbol(cfg.engine.db_path))
                                and len(s) == 2 and s, timeout=60, what="two pairs protected")
        engine.write_config(tmp_path, {"AAAUSDT": {}}, defaults=DEFAULTS, feed=FEED)
        proc.send_signal(signal.SIGHUP)
        engine.wait_for(lambda: "config_reloaded" in (proc.stdout.readline() or ""),
                        timeout=30, what="the reload")
    finally:
        out = engine.stop(proc)
    assert proc.returncode == 0, out
    venue = PaperExchange(cfg.engine.paper_state_path, settings={p.symbol: p for p in cfg.pairs})
    try:
        open_ids = {o.client_order_id for o in venue.open_orders()}
    finally:
        venue.close()
    assert stops["BBBUSDT"] in open_ids
