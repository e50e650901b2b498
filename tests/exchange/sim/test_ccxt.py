"""A client nobody here wrote: ccxt's ``binance`` (spot) against the sim, through its own
request building, signing and error mapping."""

from __future__ import annotations

from decimal import Decimal as D

import ccxt
import pytest

from tests.exchange.sim.conftest import KEY, SECRET, control


@pytest.fixture
def exchange(sim) -> ccxt.binance:
    """ccxt pointed at the sim: spot markets only, no margin pairs or currency list (/sapi
    calls). Every API entry goes to loopback, so nothing can leave the machine; the spot
    ``/api/v3`` ones (``public``, ``private``) to the sim's REST."""
    client = ccxt.binance({
        "apiKey": KEY, "secret": SECRET, "enableRateLimit": False, "timeout": 5000,
        "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                    "fetchMargins": False},
    })
    for api in client.urls["api"]:
        client.urls["api"][api] = f"{sim.url}/not-the-sim/{api}"
    for api in ("public", "private"):
        client.urls["api"][api] = f"{sim.url}/api/v3"
    return client


def test_ccxt_trades_a_stop_limit_through_its_whole_life(exchange, sim):
    control(sim.url, "price", {"symbol": "BTCUSDT", "price": "50000"})

    markets = exchange.load_markets()
    buy = exchange.create_order("BTC/USDT", "market", "buy", 0.01)
    stop = exchange.create_order("BTC/USDT", "STOP_LOSS_LIMIT", "sell", 0.00999, 47900,
                                 {"stopPrice": 48000})
    open_before = exchange.fetch_open_orders("BTC/USDT")
    control(sim.url, "requests/reset", {})
    edited = exchange.edit_order(stop["id"], "BTC/USDT", "STOP_LOSS_LIMIT", "sell", 0.00999,
                                 48900, {"stopPrice": 49000})
    edit_requests = control(sim.url, "requests")["counts"]
    open_after = exchange.fetch_open_orders("BTC/USDT")
    canceled = exchange.cancel_order(edited["id"], "BTC/USDT")
    trades = exchange.fetch_my_trades("BTC/USDT")

    assert {"BTC/USDT", "ETH/USDT", "SOL/USDT"} <= set(markets)
    assert D(str(markets["BTC/USDT"]["precision"]["price"])) == D("0.01")
    assert (buy["status"], buy["filled"], buy["average"]) == ("closed", 0.01, 50000)
    assert [o["id"] for o in open_before] == [stop["id"]]
    assert D(str(open_before[0]["triggerPrice"])) == D("48000")
    assert edit_requests == {"POST /api/v3/order/cancelReplace": 1}  # one request, not two
    assert edited["id"] != stop["id"]
    assert [(o["id"], o["price"], o["triggerPrice"]) for o in open_after] == [
        (edited["id"], 48900, 49000)]
    assert canceled["status"] == "canceled"
    assert exchange.fetch_open_orders("BTC/USDT") == []
    [trade] = trades
    assert (trade["side"], trade["price"], trade["amount"]) == ("buy", 50000, 0.01)
    assert (trade["fee"]["currency"], D(str(trade["fee"]["cost"]))) == ("BTC", D("0.00001"))


def test_ccxt_maps_a_stop_that_would_trigger_to_order_immediately_fillable(exchange, sim):
    control(sim.url, "price", {"symbol": "BTCUSDT", "price": "50000"})
    exchange.load_markets()
    exchange.create_order("BTC/USDT", "market", "buy", 0.01)

    with pytest.raises(ccxt.OrderImmediatelyFillable) as err:
        exchange.create_order("BTC/USDT", "STOP_LOSS_LIMIT", "sell", 0.00999, 49900,
                              {"stopPrice": 50000})

    assert str(err.value) == "binance Stop price would trigger immediately."  # live -2010
    assert exchange.fetch_open_orders("BTC/USDT") == []
