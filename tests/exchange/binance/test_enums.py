"""The Binance ⇄ Ratchet enum tables are explicit, total and round-trip where they can."""

from __future__ import annotations

import pytest

from core.types import OrderState, OrderType, Side
from exchange.binance import enums

BINANCE_STATUSES = ["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "PENDING_CANCEL",
                    "REJECTED", "EXPIRED", "EXPIRED_IN_MATCH"]


def test_every_binance_order_status_has_a_mapping():
    assert sorted(enums.ORDER_STATUS) == sorted(BINANCE_STATUSES)


@pytest.mark.parametrize("state", list(enums.ORDER_STATUS_TO_BINANCE), ids=str)
def test_our_states_round_trip_through_binance(state):
    assert enums.order_state(enums.ORDER_STATUS_TO_BINANCE[state]) is state


@pytest.mark.parametrize("status", BINANCE_STATUSES)
def test_binance_statuses_round_trip_unless_marked_lossy(status):
    back = enums.ORDER_STATUS_TO_BINANCE[enums.order_state(status)]

    assert (back == status) is (status not in enums.LOSSY_STATUSES)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param("PENDING_CANCEL", OrderState.NEW, id="pending-cancel-still-open"),
        pytest.param("EXPIRED_IN_MATCH", OrderState.EXPIRED, id="stp-expiry-is-expiry"),
    ],
)
def test_lossy_statuses_map_to_what_they_mean_for_a_stop(status, expected):
    assert enums.order_state(status) is expected


def test_local_states_have_no_binance_status():
    assert OrderState.PENDING_NEW not in enums.ORDER_STATUS_TO_BINANCE
    assert OrderState.FAILED not in enums.ORDER_STATUS_TO_BINANCE


@pytest.mark.parametrize("kind", list(OrderType), ids=str)
def test_order_types_round_trip(kind):
    assert enums.order_type(enums.ORDER_TYPE_TO_BINANCE[kind]) is kind


@pytest.mark.parametrize("value", list(Side), ids=str)
def test_sides_round_trip(value):
    assert enums.side(enums.SIDE_TO_BINANCE[value]) is value


@pytest.mark.parametrize("kind", ["TAKE_PROFIT", "STOP_LOSS", "TAKE_PROFIT_LIMIT"])
def test_order_types_ratchet_never_places_are_refused(kind):
    with pytest.raises(enums.UnmappedEnum):
        enums.order_type(kind)


def test_an_unknown_status_is_refused():
    with pytest.raises(enums.UnmappedEnum):
        enums.order_state("PENDING_NEW")
