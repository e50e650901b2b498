"""``connect``: the boot's four requests go out side by side, and exchangeInfo is still read
when it returns; ``wait_ready`` (or the first ``rules``) waits for it and raises its error."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.errors import ConfigError, VenueError

D = Decimal
BOOT_REQUESTS = {"GET /api/v3/account": 1, "GET /sapi/v1/account/apiRestrictions": 1,
                 "GET /api/v3/time": 1, "GET /api/v3/exchangeInfo": 1}


@pytest.fixture
def ex(sim):
    ex = sim.exchange(symbols=("BTCUSDT", "ETHUSDT"))
    yield ex
    ex.close()


def test_connect_sends_each_boot_request_once_and_the_filters_follow(sim, ex):
    # Arrange
    sim.reset_requests()

    # Act
    warnings = ex.connect()
    ex.wait_ready()
    btc = ex.symbol_filters("BTCUSDT")

    # Assert
    assert warnings == []
    assert (btc.tick, btc.step) == (D("0.01"), D("0.00001"))
    assert sim.requests() == BOOT_REQUESTS


def test_filters_asked_for_before_wait_ready_wait_for_connects_exchange_info(sim, ex):
    # Arrange
    sim.reset_requests()
    ex.connect()

    # Act: no wait_ready; the first rules() waits for the read connect started
    eth = ex.symbol_filters("ETHUSDT")
    ex.wait_ready()

    # Assert
    assert eth.base_asset == "ETH"
    assert sim.requests() == BOOT_REQUESTS


def test_a_symbol_the_venue_does_not_list_is_a_config_error_from_wait_ready(sim):
    # Arrange
    ex = sim.exchange(symbols=("BTCUSDT", "NOPEUSDT"))
    try:
        ex.connect()  # the key works: connect itself passes

        # Act
        with pytest.raises(ConfigError) as caught:
            ex.wait_ready()
    finally:
        ex.close()

    # Assert
    assert str(caught.value) == "not listed on the exchange: NOPEUSDT"


def test_a_failed_exchange_info_read_is_raised_once_then_read_again(sim, ex):
    # Arrange: connect's three /api/v3 requests (account, time, exchangeInfo) all answer 500
    sim.force("500", count=3)
    with pytest.raises(VenueError):
        ex.connect()
    ex.connect()  # asked again, as policy.read would: the key and the clock now answer

    # Act
    with pytest.raises(VenueError) as first:
        ex.wait_ready()
    sim.reset_requests()
    ex.wait_ready()

    # Assert: the second call read exchangeInfo again, and the filters are there
    assert first.value.http_status == 500
    assert sim.requests() == {"GET /api/v3/exchangeInfo": 1}
    assert ex.symbol_filters("BTCUSDT").tick == D("0.01")
