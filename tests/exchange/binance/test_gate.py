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


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        pytest.param("http://127.0.0.1:8765", "ws://127.0.0.1:8765/ws-api/v3", id="sim"),
        pytest.param("https://example.test/", "wss://example.test/ws-api/v3", id="tls"),
        pytest.param("https://testnet.binance.vision", None, id="binance-testnet"),
        pytest.param("https://api.binance.com", None, id="binance"),
    ],
)
def test_websocket_api_url_is_derived_only_for_non_binance_hosts(base_url, expected):
    from exchange.binance.exchange import ws_api_url_for

    assert ws_api_url_for(base_url) == expected


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        pytest.param("0.00001", "0.00001", id="small-not-exponent"),
        pytest.param("1E-7", "0.0000001", id="exponent-input"),
        pytest.param("45000.00000000", "45000", id="trailing-zeros"),
        pytest.param("1E+2", "100", id="positive-exponent"),
    ],
)
def test_decimals_go_out_as_plain_strings(value, sent):
    from decimal import Decimal

    from exchange.binance.exchange import plain

    assert plain(Decimal(value)) == sent
