"""A spent order budget is seen to refill once its window has passed, though no new header
came (found by ``bench.sim_bench`` at the sim's default limits: the Gateway stopped for good)."""

from __future__ import annotations

from exchange.binance.dto import RateLimitDTO
from exchange.binance.gate import RateMeter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_order_count_reads_zero_once_its_window_has_passed():
    clock = Clock()
    meter = RateMeter(clock)
    meter.set_limits([RateLimitDTO(rateLimitType="ORDERS", interval="SECOND", intervalNum=10,
                                   limit=100)])
    meter.observe({"X-MBX-ORDER-COUNT-10S": "90", "X-MBX-USED-WEIGHT-1M": "4000"})

    clock.now += 9.9
    within = meter.budget()
    clock.now += 0.1
    after_10s = meter.budget()
    clock.now += 50
    after_60s = meter.budget()

    assert (within.orders_used, within.weight_used) == (90, 4000)
    assert (after_10s.orders_used, after_10s.weight_used) == (0, 4000)
    assert after_60s.weight_used == 0


def test_a_fresh_header_counts_again():
    clock = Clock()
    meter = RateMeter(clock)
    meter.observe({"X-MBX-ORDER-COUNT-10S": "90"})
    clock.now += 30

    meter.observe({"X-MBX-ORDER-COUNT-10S": "7"})

    assert meter.budget().orders_used == 7
