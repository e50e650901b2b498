"""A pair removed from the config drains: it keeps protecting its position (trailing, placing
its stop again), buys and adopts nothing, and says ``Drained`` once flat and waiting for
nothing; back in the config, it trades again."""

from __future__ import annotations

from decimal import Decimal as D

from core.commands import OrderUpdated
from core.pair_machine import Drained, Draining, PriceSeen
from core.types import OrderState, PositionState
from tests.core.pair_builders import ex, flat, opened, report, run, shape, stop, tick


def drained(effects) -> int:
    return sum(isinstance(e, Drained) for e in effects)


def test_a_draining_pair_keeps_trailing_and_protecting_its_position():
    state, effects = run(opened(), Draining(on=True), PriceSeen(tick=tick("120")),
                         OrderUpdated(report=report(stop(), OrderState.CANCELED)))

    assert state.draining and drained(effects) == 0
    # The move; once the stop it replaces is gone the move is withdrawn, and a fresh stop waits.
    assert shape(effects) == ["write-ahead", "ReplaceStop", "DropMove"]
    assert state.position.state is PositionState.OPEN


def test_a_draining_pair_says_drained_once_its_position_closes_and_buys_nothing():
    state, effects = run(opened(), Draining(on=True),
                         OrderUpdated(report=report(stop(), OrderState.FILLED, ex("99"))),
                         PriceSeen(tick=tick("100", ts=1001)),
                         PriceSeen(tick=tick("101", ts=1002)))

    assert state.position.state is PositionState.FLAT and state.position.pnl is not None
    assert drained(effects) == 1
    assert "PlaceMarketOrder" not in shape(effects)  # no entry


def test_a_flat_pair_told_to_drain_is_drained_at_once():
    _, effects = run(flat(last_price=D(100)), Draining(on=True))

    assert drained(effects) == 1


def test_a_pair_back_in_the_config_buys_again():
    state, effects = run(flat(last_price=D(100)), Draining(on=True), Draining(on=False),
                         PriceSeen(tick=tick("100")))

    assert not state.draining
    assert shape(effects) == ["write-ahead", "PlaceMarketOrder"]
