"""The §3 fill model of one STOP_LOSS_LIMIT SELL."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from core.fill_model import (
    StopMatch,
    StopState,
    TrailingMatch,
    TrailingStop,
    match_stop,
    match_trailing,
    timed_out,
    trailing_trigger,
)

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


# --- native trailing stop (DESIGN.md §3b) -----------------------------------------------------

TRAIL = TrailingStop(delta=300, limit=D("95"))  # 3 %, fixed limit 95


def walk(state: TrailingStop, *prices: str) -> list[TrailingMatch]:
    """Match ``prices`` one after the other, at timestamps 1, 2, ..."""
    out = []
    for ts, price in enumerate(prices, start=1):
        match = match_trailing(state, D(price), D(ts))
        out.append(match)
        state = match.state
    return out


@pytest.mark.parametrize(
    ("prices", "peak", "tracking_ts", "triggered_ts", "fills"),
    [
        pytest.param(["100"], D(100), D(1), None, [None],
                     id="tracking-starts-on-the-next-price"),
        pytest.param(["100", "50"], D(100), D(1), D(2), [None, None],
                     id="first-price-only-sets-the-peak-then-a-gap-triggers-below-limit"),
        pytest.param(["100", "104", "102"], D(104), D(1), None, [None, None, None],
                     id="peak-is-the-highest-price-since-tracking-started"),
        pytest.param(["100", "104", "100.88"], D(104), D(1), D(3), [None, None, D("100.88")],
                     id="trigger-at-exactly-peak-times-one-minus-delta"),
        pytest.param(["100", "104", "100.89"], D(104), D(1), None, [None, None, None],
                     id="one-tick-above-the-trigger-does-not-trigger"),
        pytest.param(["100", "96"], D(100), D(1), D(2), [None, D(96)],
                     id="trigger-fills-at-the-price-when-at-or-above-the-fixed-limit"),
        pytest.param(["100", "200", "120"], D(200), D(1), D(3), [None, None, D(120)],
                     id="fixed-limit-does-not-trail-with-the-peak"),
        pytest.param(["100", "90", "94.99", "95.5"], D(100), D(1), D(2),
                     [None, None, None, D(95)],
                     id="rest-below-limit-then-fill-at-limit-on-a-later-price"),
        pytest.param(["100", "90", "95"], D(100), D(1), D(2), [None, None, D(95)],
                     id="resting-fills-on-a-price-exactly-at-the-limit"),
        pytest.param(["100", "90", "120"], D(100), D(1), D(2), [None, None, D(95)],
                     id="after-the-trigger-the-peak-stays-and-a-rebound-fills-at-the-limit"),
    ],
)
def test_trailing_stop_follows_the_venue_rule(prices, peak, tracking_ts, triggered_ts, fills):
    matches = walk(TRAIL, *prices)

    final = matches[-1].state
    assert (final.peak, final.tracking_ts, final.triggered_ts) == (peak, tracking_ts, triggered_ts)
    assert [m.fill_price for m in matches] == fills
    assert final.limit == D(95)


def test_trailing_trigger_is_exact_decimal():
    assert trailing_trigger(D("43210.57"), 137) == D("43210.57") * D("0.9863")
    assert TrailingStop(delta=10, limit=D(1), peak=D("3.33")).trigger_price() == D("3.32667")


@pytest.mark.parametrize(
    ("state", "prices", "tracking_ts"),
    [
        pytest.param(TrailingStop(delta=300, limit=D(80), activation=D(90)),
                     ["100", "95", "90"], D(3), id="stop-loss-tracks-from-a-price-at-or-below-stop"),
        pytest.param(TrailingStop(delta=300, limit=D(80), activation=D(110), take_profit=True),
                     ["100", "105", "110"], D(3),
                     id="take-profit-tracks-from-a-price-at-or-above-stop"),
    ],
)
def test_trailing_stop_with_a_stop_price_waits_for_it(state, prices, tracking_ts):
    matches = walk(state, *prices)

    assert [m.state.peak for m in matches] == [None, None, D(prices[-1])]
    assert matches[-1].state.tracking_ts == tracking_ts
    assert all(m.fill_price is None and not m.state.triggered for m in matches)


def test_a_triggered_trailing_stop_times_out_from_its_trigger():
    triggered = walk(TRAIL, "100", "90")[-1].state

    assert not timed_out(triggered, D("61.9"), D(60))
    assert timed_out(triggered, D(62), D(60))
