"""``POST /sim/block`` (exchange/sim/PROTOCOL.md): every new stop order of one symbol gets the
forced answer until the block is lifted; other symbols, and other orders of that symbol, go
through. The alert end-to-end test uses it to keep a position unprotected."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from core.errors import RetryableVenueError
from core.types import Side
from tests.exchange.binance.simproc import Sim, cid

D = Decimal


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    sim = Sim(tmp_path_factory.mktemp("sim-block"), "--symbols", "BTCUSDT", "ETHUSDT")
    sim.pause()
    yield sim
    sim.stop()


def _block(sim: Sim, symbol: str, kind: str | None, retry_after_s: int = 1) -> None:
    sim.control("POST", "/sim/block", {"symbol": symbol, "kind": kind,
                                       "retry_after_s": retry_after_s})


def test_a_blocked_symbols_new_stops_are_refused_until_the_block_is_lifted(sim):
    ex = sim.exchange(symbols=("BTCUSDT", "ETHUSDT"))
    ex.market_order(symbol="BTCUSDT", side=Side.BUY, qty=D("0.002"), client_order_id=cid("b"))
    ex.market_order(symbol="ETHUSDT", side=Side.BUY, qty=D("0.02"), client_order_id=cid("b"))
    _block(sim, "BTCUSDT", "429", retry_after_s=1)
    try:
        with pytest.raises(RetryableVenueError) as refused:
            ex.place_stop_limit(symbol="BTCUSDT", qty=D("0.002"), stop_price=D("45000"),
                                limit_price=D("44900"), client_order_id=cid("blocked"))
        time.sleep(refused.value.retry_after_s)  # the adapter honours the 429's Retry-After
        # The sim charges a buy's commission in the base asset: 0.02 ETH bought, 0.01998 held.
        other = ex.place_stop_limit(symbol="ETHUSDT", qty=D("0.0199"), stop_price=D("2900"),
                                    limit_price=D("2890"), client_order_id=cid("free"))
        sell = ex.market_order(symbol="BTCUSDT", side=Side.SELL, qty=D("0.0009"),
                               client_order_id=cid("sell"))
    finally:
        _block(sim, "BTCUSDT", None)
    placed = ex.place_stop_limit(symbol="BTCUSDT", qty=D("0.001"), stop_price=D("45000"),
                                 limit_price=D("44900"), client_order_id=cid("after"))

    assert refused.value.retry_after_s == 1
    assert other.state.value == "NEW" and sell.state.value == "FILLED"
    assert placed.state.value == "NEW"
    ex.close()


def test_a_block_of_an_unknown_kind_is_refused_with_400(sim):
    with pytest.raises(Exception) as refused:
        _block(sim, "BTCUSDT", "teapot")

    assert getattr(refused.value, "code", None) == 400
