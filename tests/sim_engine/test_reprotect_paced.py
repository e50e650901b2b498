"""Boot re-protecting more positions than one ORDERS window allows: the order pacer waits for
the next window instead of being refused (429) or banned (418), and every position ends under
its stop (issue 24; ``make bench`` runs the same at 1,000 positions and the default limits)."""

from __future__ import annotations

from bench.reprotect_bench import Sizes, reprotect
from tests.sim_engine import harness as h


def test_a_boot_with_more_stops_than_a_window_allows_waits_instead_of_429s(tmp_path):
    sizes = Sizes(positions=20, orders_10s=10, latency_ms=0)  # 9 a window: three windows

    with h.fast_dir(tmp_path) as directory:
        outcome = reprotect(sizes, directory)

    assert (outcome.rate_limited, outcome.banned) == (0, 0)
    assert outcome.placed == outcome.protected == sizes.positions
    assert outcome.pacer_wait_s > 0  # it had to wait for a window at least once
