"""Supervision: a failed PairActor restarts from the DB with its position and stop intact;
the 6th failure within 10 minutes halts the pair and leaves its exchange stop in place."""

from __future__ import annotations

import time

import pytest

from actors.messages import Boot, Crash, GetSnapshot, Shutdown
from actors.supervisor import Supervisor
from core.config import load_config
from core.types import PositionState
from exchange.paper import PaperExchange
from tests.integration import engine


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def booted(tmp_path):
    config = engine.write_config(tmp_path, {"AAAUSDT": {}, "BBBUSDT": {}},
                                 defaults='trail_pct = "5"', feed='volatility_pct = "0.02"')
    cfg = load_config(config)
    venue = PaperExchange(cfg.engine.paper_state_path, settings={p.symbol: p for p in cfg.pairs})
    clock = FakeClock()
    sup = Supervisor.start(config=cfg, exchange=venue, clock=clock)
    sup.ask(Boot(), timeout=30)
    yield sup, venue, clock
    sup.ask(Shutdown(), timeout=30)
    venue.close()


def _snapshot(sup, symbol):
    return sup.ask(GetSnapshot(), timeout=10)[symbol]


def _wait_open(sup, symbol):
    def ready():
        snap = _snapshot(sup, symbol)
        p = snap and snap["position"]
        return p if p and p.state is PositionState.OPEN and p.stop_order_id in {
            o.client_order_id for o in snap["orders"].values() if o.state.is_open} else None
    return engine.wait_for(ready, timeout=20, what=f"{symbol} open with a stop")


def _pair_ref(sup, symbol):
    return sup.proxy().pairs.get(timeout=10)[symbol].ref


def _crash_and_wait_restart(sup, symbol):
    old = _pair_ref(sup, symbol)
    old.tell(Crash(reason="test"))
    engine.wait_for(lambda: (ref := _pair_ref(sup, symbol)) is not old and ref is not None
                    and ref.is_alive() or _halted(sup, symbol), timeout=20,
                    what=f"{symbol} restarted or halted")


def _halted(sup, symbol):
    return sup.proxy().pairs.get(timeout=10)[symbol].halted


def test_crashed_pair_restarts_with_its_position_and_stop_intact(booted):
    sup, venue, _ = booted
    before = _wait_open(sup, "AAAUSDT")

    _crash_and_wait_restart(sup, "AAAUSDT")

    after = _wait_open(sup, "AAAUSDT")
    assert after.position_id == before.position_id
    assert after.stop_order_id == before.stop_order_id or after.stop >= before.stop
    assert after.stop_order_id in {o.client_order_id for o in venue.open_orders()}
    assert not _halted(sup, "AAAUSDT")


def test_sixth_failure_within_ten_minutes_halts_the_pair_and_keeps_its_stop(booted):
    sup, venue, clock = booted
    _wait_open(sup, "AAAUSDT")
    for _ in range(5):
        _crash_and_wait_restart(sup, "AAAUSDT")
        clock.now += 60  # five restarts spread over five minutes
        _wait_open(sup, "AAAUSDT")
    assert not _halted(sup, "AAAUSDT")
    stop_id = _snapshot(sup, "AAAUSDT")["position"].stop_order_id

    _crash_and_wait_restart(sup, "AAAUSDT")

    assert _halted(sup, "AAAUSDT")
    assert _snapshot(sup, "AAAUSDT") is None
    time.sleep(0.3)
    assert stop_id in {o.client_order_id for o in venue.open_orders()}
    _wait_open(sup, "BBBUSDT")  # the other pair trades on


def test_failures_spread_over_more_than_ten_minutes_never_halt(booted):
    sup, _, clock = booted
    _wait_open(sup, "AAAUSDT")
    for _ in range(7):
        _crash_and_wait_restart(sup, "AAAUSDT")
        clock.now += 180  # at most four failures in any ten-minute window
        _wait_open(sup, "AAAUSDT")

    assert not _halted(sup, "AAAUSDT")
