"""kill -9 and SIGTERM chaos against the sim: 20+ pairs in binance mode, the engine stopped at
random moments and restarted, every invariant checked after every restart
(``tests/chaos/invariants.py``), and the realized P&L checked against the sim's own fills.

``RATCHET_CHAOS_CYCLES`` (default 8 in ``make test``; ``make chaos`` sets 100) is the number of
SIGKILLs; the SIGTERM run does a quarter as many (at least 3), the late-landing run a fifth (at
least 2).
"""

from __future__ import annotations

import signal
from decimal import Decimal

import pytest

from tests.chaos import harness
from tests.chaos.run import ChaosRun, cycles_from_env

pytestmark = pytest.mark.chaos
CYCLES = cycles_from_env()
TERM_CYCLES = max(3, CYCLES // 4)
LATE_CYCLES = max(2, CYCLES // 5)
# An order whose outcome was unknown may land until its recvWindow (5 s) and a margin (2 s)
# have passed; only then is "no such order" believed. A restart settles within that and more.
LATE_SETTLE_S = 20.0


def _timeout(cycles: int) -> pytest.MarkDecorator:
    """About 4 s a cycle on an idle 2-core machine; twice that before pytest-timeout fires."""
    return pytest.mark.timeout(max(300, 60 + 8 * cycles))


def _assert_final(run: ChaosRun, result: dict) -> None:
    assert result["exit_code"] == 0, run.engine.output()[-3000:]
    assert result["problems"] == []
    assert result["closed"] > 0 and result["fills"] > 0
    assert result["db_closed"] == result["closed"]
    assert result["db_pnl"] == result["sim_pnl"]


@_timeout(CYCLES)
def test_kill_9_at_random_moments_never_loses_a_stop_an_order_or_a_fill(tmp_path,
                                                                         chaos_report):
    cycles = CYCLES
    run = ChaosRun(tmp_path, pairs=20, seed=11)
    try:
        run.cycles(cycles, signal.SIGKILL)
        result = run.finish()
    finally:
        run.close()
    chaos_report(run.summary("kill -9", result))
    assert sum(run.kills.values()) >= cycles
    assert run.exit_codes[-signal.SIGKILL] == sum(run.kills.values())
    _assert_final(run, result)


@_timeout(CYCLES)
def test_kill_9_in_native_mode_never_loses_a_stop_an_order_or_a_fill(tmp_path, chaos_report):
    """The kill -9 run with native trailing stops (§3b): one trailingDelta stop per position,
    never moved; the venue keeps trailing, and fills, while the engine is down."""
    cycles = CYCLES
    run = ChaosRun(tmp_path, pairs=20, seed=13, stop_mode="native")
    try:
        run.cycles(cycles, signal.SIGKILL)
        result = run.finish()
    finally:
        run.close()
    chaos_report(run.summary("kill -9 native", result))
    assert sum(run.kills.values()) >= cycles
    assert run.exit_codes[-signal.SIGKILL] == sum(run.kills.values())
    _assert_final(run, result)
    assert result["stop_moves"] == 0 and result["replaces"] == 0


@_timeout(TERM_CYCLES)
def test_sigterm_at_random_moments_exits_cleanly_and_keeps_every_invariant(tmp_path,
                                                                          chaos_report):
    cycles = TERM_CYCLES
    run = ChaosRun(tmp_path, pairs=20, seed=12)
    try:
        run.cycles(cycles, signal.SIGTERM)
        result = run.finish()
    finally:
        run.close()
    chaos_report(run.summary("SIGTERM", result))
    assert run.exit_codes == {0: cycles}
    _assert_final(run, result)


@_timeout(TERM_CYCLES)
def test_kill_9_with_fees_paid_in_bnb_keeps_every_invariant_and_the_pnl(tmp_path,
                                                                        chaos_report):
    """The same kill -9 loop with "use BNB for fees" on: the positions hold all they bought,
    and every commission, paid in BNB at a price held still, is in the P&L exactly."""
    cycles = TERM_CYCLES
    run = ChaosRun(tmp_path, pairs=10, seed=13, sim_only=("BNBUSDT",),
                   fee_prices={"BNB": Decimal(500)},
                   sim_args=(*harness.FAST_SIM, "--fee-asset", "BNB", "--hold", "BNBUSDT",
                             "--balance", "USDT=100000", "--balance", "BNB=1000"))
    try:
        run.cycles(cycles, signal.SIGKILL)
        result = run.finish()
        trades = run.sim.control("GET", "/sim/trades")
    finally:
        run.close()
    chaos_report(run.summary("kill -9, fees in BNB", result))
    assert {t["commissionAsset"] for t in trades} == {"BNB"}
    _assert_final(run, result)


@_timeout(LATE_CYCLES * 4)
def test_kill_9_while_orders_land_late_never_buys_twice(tmp_path, chaos_report):
    """The kill -9 loop with 30 % of order requests answered "execution status unknown" (503
    -1007, 500) and landing 1-4 s later, as the live venue does: no position is bought twice,
    every fill is booked once, every held coin ends under one stop."""
    cycles = LATE_CYCLES
    run = ChaosRun(tmp_path, pairs=10, seed=17, settle_s=LATE_SETTLE_S,
                   sim_args=(*harness.FAST_SIM, "--late-rate", "0.3"))
    try:
        run.cycles(cycles, signal.SIGKILL)
        result = run.finish()
        late = run.sim.control("GET", "/sim/info")["late"]
    finally:
        run.close()
    chaos_report(run.summary("kill -9, orders landing late", result) + f"; late {late}")
    assert late["landed"] > 0
    _assert_final(run, result)
