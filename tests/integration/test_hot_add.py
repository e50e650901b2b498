"""SIGHUP re-reads ``[[pairs]]``: a new symbol starts trading without disturbing the others; a
removed one drains (it keeps trailing and protecting its position, books its fill, buys
nothing, and leaves once flat); one named in ``[engine] abandon`` stops at once, its exchange
stop left in place, unmanaged."""

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


def _position(db, position_id):
    return engine.read(db, lambda r: r.load_position(position_id))


def test_sighup_removing_a_held_pair_drains_it(tmp_path):
    pairs = {"AAAUSDT": {}, "BBBUSDT": {"trail_pct": "0.3", "min_move_pct": "0.05"}}
    config = engine.write_config(tmp_path, pairs, defaults=DEFAULTS, feed=FEED)
    db = load_config(config).engine.db_path
    proc = engine.start(config)
    try:
        engine.wait_for(lambda: len(_stops_by_symbol(db)) == 2, timeout=60,
                        what="two pairs protected")
        held = next(p for p in engine.read(db, lambda r: r.list_positions(open_only=True))
                    if p.symbol == "BBBUSDT")
        engine.write_config(tmp_path, {"AAAUSDT": {}}, defaults=DEFAULTS, feed=FEED)
        proc.send_signal(signal.SIGHUP)
        closed = engine.wait_for(lambda: (p := _position(db, held.position_id))
                                 and p.pnl is not None and p, timeout=120,
                                 what="the drained position closed by its stop")
        engine.wait_for(lambda: "pair_drained" in (proc.stdout.readline() or ""), timeout=30,
                        what="the pair leaving")
        fills = engine.read(db, lambda r: r.list_fills())
        bbb = [p for p in engine.read(db, lambda r: r.latest_positions())
               if p.symbol == "BBBUSDT"]
    finally:
        out = engine.stop(proc)
    assert proc.returncode == 0, out
    assert closed.stop_moves > 0 or closed.exit_reason in ("stop", "timeout")
    closing = [f for f in fills if f.position_id == held.position_id and f.pnl is not None]
    assert len(closing) == 1 and closing[0].pnl == closed.pnl  # booked once
    assert [p.position_id for p in bbb] == [held.position_id]  # nothing bought after it


def test_sighup_removing_an_abandoned_pair_leaves_its_stop_unmanaged(tmp_path):
    config = engine.write_config(tmp_path, {"AAAUSDT": {}, "BBBUSDT": {}}, defaults=DEFAULTS,
                                 feed=FEED)
    cfg = load_config(config)
    proc = engine.start(config)
    try:
        stops = engine.wait_for(lambda: (s := _stops_by_symbol(cfg.engine.db_path))
                                and len(s) == 2 and s, timeout=60, what="two pairs protected")
        engine.write_config(tmp_path, {"AAAUSDT": {}}, defaults=DEFAULTS, feed=FEED,
                            engine='abandon = ["BBBUSDT"]')
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
