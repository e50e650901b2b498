"""The send gate refuses everything during a ban or back-off; the meter reads X-MBX-* headers."""

from __future__ import annotations

import pytest

from core.errors import RetryableVenueError, VenueBanned
from exchange.binance.dto import RateLimitDTO
from exchange.binance.gate import RateMeter, SendGate


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_nothing_passes_the_gate_until_the_ban_has_passed():
    clock = FakeClock()
    gate = SendGate(clock)
    gate.ban(120)

    clock.now += 119
    with pytest.raises(VenueBanned) as caught:
        gate.check()
    clock.now += 1
    gate.check()

    assert caught.value.retry_after_s == pytest.approx(1)
    assert not gate.banned


def test_back_off_after_429_refuses_as_retryable():
    clock = FakeClock()
    gate = SendGate(clock)
    gate.back_off(2)

    with pytest.raises(RetryableVenueError):
        gate.check()
    clock.now += 2
    gate.check()


def test_meter_reads_weight_and_order_counts_against_exchange_info_limits():
    meter = RateMeter()
    meter.set_limits([
        RateLimitDTO(rateLimitType="REQUEST_WEIGHT", interval="MINUTE", intervalNum=1,
                     limit=6000),
        RateLimitDTO(rateLimitType="ORDERS", interval="SECOND", intervalNum=10, limit=50),
        RateLimitDTO(rateLimitType="ORDERS", interval="DAY", intervalNum=1, limit=160000),
    ])

    meter.observe({"X-MBX-USED-WEIGHT-1M": "84", "X-MBX-ORDER-COUNT-10S": "3",
                   "X-MBX-ORDER-COUNT-1D": "1200", "Content-Type": "application/json"})
    budget = meter.budget()

    assert (budget.weight_used, budget.weight_limit) == (84, 6000)
    assert (budget.orders_used, budget.orders_limit) == (3, 50)
    assert budget.extra["orders_1D"] == 1200 and budget.extra["orders_limit_1D"] == 160000

