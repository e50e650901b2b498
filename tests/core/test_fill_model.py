"""The §3 fill model of one STOP_LOSS_LIMIT SELL."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from core.fill_model import StopMatch, StopState, match_stop, timed_out

STOP = StopState(D(95), D(94))


def test_price_above_stop_does_nothing():
    assert match_stop(STOP, D("95.01"), D(1)) == StopMatch(STOP, None)


@pytest.mark.parametrize(
    ("price", "fill"),
    [
        pytest.param(D(95), D(95), id="at-stop"),
        pytest.param(D("94.5"), D("94.5"), id="between-stop-and-limit"),
        pytest.param(D(94), D(94), id="at-limit"),
        pytest.param(D("93.99"), None, id="gap-below-limit"),
    ],
)
def test_trigger_price_fills_at_itself_when_not_below_limit(price: D, fill: D | None):
    match = match_stop(STOP, price, D(10))

    assert match.state == StopState(D(95), D(94), triggered_ts=D(10))
    assert match.fill_price == fill


def test_triggered_stop_fills_at_limit_on_a_later_price_at_or_above_limit():
    triggered = match_stop(STOP, D(90), D(10)).state

    still = match_stop(triggered, D("93.99"), D(11))
    filled = match_stop(triggered, D(99), D(12))

    assert still == StopMatch(triggered, None)
    assert filled == StopMatch(triggered, D(94))
    assert filled.state.triggered_ts == D(10)  # the trigger time never moves


def test_timeout_counts_from_the_trigger_timestamp():
    triggered = StopState(D(95), D(94), triggered_ts=D(100))

    assert not timed_out(triggered, D("159.9"), D(60))
    assert timed_out(triggered, D(160), D(60))
    assert not timed_out(STOP, D(10_000), D(60))
