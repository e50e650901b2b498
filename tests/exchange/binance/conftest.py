"""One sim for the adapter's HTTP and stream tests (its price path paused); fault runs that
need other flags start their own."""

from __future__ import annotations

import pytest

from tests.exchange.binance.simproc import Sim


@pytest.fixture(scope="session")
def sim(tmp_path_factory):
    sim = Sim(tmp_path_factory.mktemp("sim"), "--timeout-s", "0.3")
    sim.pause()
    yield sim
    sim.stop()
