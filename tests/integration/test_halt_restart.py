"""A halt (entries only) is durable and the same however the engine ended (issue 26): a pair
halted for entries is still halted after SIGTERM and after kill -9, and trades again only once
its settings in the config change."""

from __future__ import annotations

import signal

import pytest

from core.config import load_config
from core.pair_state import halt_in_force, halt_record, settings_fingerprint
from core.types import PairSettings
from tests.integration import engine

SYM = "AAAUSDT"
# Whole units at 1000 apiece: 500 buys none, so the first entry halts the pair.
TOO_SMALL = {"quote_per_trade": "500", "step": "1"}
FEED = "[feed.start_prices]\nAAAUSDT = 1000"


def halted_reason(db):
    raw = engine.read(db, lambda r: r.kv_get(f"halt:{SYM}"))
    return raw or None


def buys(db) -> int:
    return len([o for o in engine.read(db, lambda r: r.list_orders()) if o.side.value == "BUY"])


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_a_halt_survives_any_restart_until_the_settings_change(tmp_path, how):
    config = engine.write_config(tmp_path, {SYM: TOO_SMALL}, feed=FEED)
    db = load_config(config).engine.db_path
    proc = engine.start(config)
    try:
        engine.wait_for(lambda: halted_reason(db), timeout=30, what="the pair halted")
    finally:
        engine.stop(proc, how)
    proc = engine.start(config)
    try:
        engine.wait_for(lambda: "ratchet: paper mode" in (proc.stdout.readline() or ""),
                        timeout=30, what="the restart's boot")
        still = engine.read(db, lambda r: r.latest_positions())
        held_back = buys(db)
    finally:
        out = engine.stop(proc)
    assert proc.returncode == 0, out
    assert [p.halted for p in still if p.symbol == SYM] == [True]
    assert held_back == 0

    engine.write_config(tmp_path, {SYM: {**TOO_SMALL, "quote_per_trade": "5000"}},
                        feed=FEED)  # the person's answer
    proc = engine.start(config)
    try:
        engine.wait_for(lambda: buys(db) > 0, timeout=30, what="trading again")
    finally:
        out = engine.stop(proc)
    assert proc.returncode == 0, out


def test_a_halt_holds_only_under_the_settings_it_was_made_under():
    settings = PairSettings(symbol=SYM)
    record = halt_record("entry refused: Filter failure: NOTIONAL", settings)

    assert halt_in_force(record, settings) == "entry refused: Filter failure: NOTIONAL"
    assert halt_in_force(record, PairSettings(symbol=SYM, quote_per_trade=200)) is None
    assert halt_in_force("not json", settings) is None and halt_in_force("", settings) is None
    assert settings_fingerprint(settings) == settings_fingerprint(PairSettings(symbol=SYM))
