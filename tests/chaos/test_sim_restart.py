"""The sim itself is killed (-9) and started again on the same port and state file while the
engine runs: the engine rides it out (retries, never exits, no actor restarts), counts the
failures in ``ratchet_exchange_errors_total``, and once the sim is back every invariant holds
again and the P&L still matches the sim's fills."""

from __future__ import annotations

import signal
import time

import pytest

from tests.chaos.harness import metric_total
from tests.chaos.run import ChaosRun

pytestmark = pytest.mark.chaos

OUTAGES = 3
RECOVER_S = 30.0  # the user stream and market data reconnect with backoff


def test_engine_rides_out_sim_restarts_and_reports_exchange_errors(tmp_path, chaos_report):
    run = ChaosRun(tmp_path, pairs=20, seed=13)
    try:
        run.check(run.boot())
        run.resume()
        errors_before = metric_total(run.metrics_url, "ratchet_exchange_errors_total")
        restarts_before = metric_total(run.metrics_url, "ratchet_actor_restarts_total")
        for i in range(OUTAGES):
            time.sleep(run.rng.uniform(0.5, 2.0))
            run.sim.kill(signal.SIGKILL)
            time.sleep(run.rng.uniform(1.0, 3.0))  # the engine trades on with no exchange
            assert run.engine.alive()
            run.sim.start()
            back = time.monotonic()
            run.check(back, settle_s=RECOVER_S)
            if i < OUTAGES - 1:
                run.resume()
        errors_after = metric_total(run.metrics_url, "ratchet_exchange_errors_total")
        restarts_after = metric_total(run.metrics_url, "ratchet_actor_restarts_total")
        result = run.finish()
    finally:
        run.close()
    chaos_report(run.summary(
        "sim restart", result,
        cycles=f"{OUTAGES} sim kills (SIGKILL, restarted on the same port and state file; "
               f"times below count from the sim's return), engine exchange errors counted "
               f"{errors_after - errors_before:.0f}"))  # display
    assert errors_after > errors_before
    assert restarts_after == restarts_before
    assert result["exit_code"] == 0
    assert result["problems"] == []
    assert result["db_pnl"] == result["sim_pnl"]
