"""A restart that must re-place more stops than the venue's order limit allows: boot
reconciliation waits out each 429 (-1015, Retry-After) and sends again, instead of failing the
boot and leaving the remaining positions without a stop."""

from __future__ import annotations

import signal

import pytest

from tests.chaos.run import PREFIX, ChaosRun

pytestmark = pytest.mark.chaos

CALM = ("--volatility-pct", "0.5", "--interval-ms", "250")


def test_boot_reconciliation_rides_out_the_order_rate_limit(tmp_path, chaos_report):
    run = ChaosRun(tmp_path, pairs=3, seed=31, sim_args=CALM)
    try:
        run.check(run.boot())
        assert run.engine.signal(signal.SIGTERM) == 0
        # While the engine is down every stop is canceled from outside, and the venue comes
        # back taking two orders per 10 s (its market paused, so nothing else needs an order):
        # the restart has three stops to place.
        for o in run.sim.records(PREFIX)[0]:
            run.sim.control("POST", "/sim/cancel", {"symbol": o["symbol"],
                                                   "origClientOrderId": o["clientOrderId"]})
        run.sim.stop()
        run.sim.args = [*CALM, "--orders-10s", "2"]
        run.sim.start()
        run.sim.pause(True)

        run.check(run.boot())
        result = run.finish()
    finally:
        run.close()
    chaos_report(run.summary("order rate limit at boot", result,
                             cycles="1 restart with 3 stops to re-place at 2 orders per 10 s"))
    assert "reconciled: 3 replace stop" in run.engine.output()
    assert result["exit_code"] == 0
    assert result["problems"] == []
    assert result["db_pnl"] == result["sim_pnl"]
