"""Websockets: combined market-data frames, and user data through python-binance's user socket."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

from binance import AsyncClient, BinanceSocketManager
from websockets.sync.client import connect

from tests.exchange.sim.conftest import KEY, SECRET, control


def test_combined_stream_delivers_frames_of_each_kind(sim):
    url = f"ws://127.0.0.1:{sim.port}/stream?streams=btcusdt@trade/btcusdt@aggTrade/btcusdt@miniTicker"
    with connect(url) as ws:
        control(sim.url, "price", {"symbol": "BTCUSDT", "price": "50123.45"})
        frames = [json.loads(ws.recv(timeout=5)) for _ in range(3)]

    by_stream = {f["stream"]: f["data"] for f in frames}
    assert set(by_stream) == {"btcusdt@trade", "btcusdt@aggTrade", "btcusdt@miniTicker"}
    trade = by_stream["btcusdt@trade"]
    assert (trade["e"], trade["s"], trade["p"]) == ("trade", "BTCUSDT", "50123.45000000")
    assert isinstance(trade["T"], int) and isinstance(trade["t"], int)
    assert by_stream["btcusdt@aggTrade"]["e"] == "aggTrade"
    assert by_stream["btcusdt@miniTicker"]["c"] == "50123.45000000"


def test_raw_stream_and_subscribe_method(sim):
    with connect(f"ws://127.0.0.1:{sim.port}/ws/btcusdt@trade") as ws:
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@trade"], "id": 7}))
        reply = json.loads(ws.recv(timeout=5))
        control(sim.url, "price", {"symbol": "ETHUSDT", "price": "3001"})
        frame = json.loads(ws.recv(timeout=5))

    assert reply == {"result": None, "id": 7}
    assert (frame["e"], frame["s"]) == ("trade", "ETHUSDT")  # raw: no envelope


def test_random_walk_moves_prices_on_the_stream(start_sim):
    sim = start_sim(interval_ms=20)
    sim.driver.pause(False)
    with connect(f"ws://127.0.0.1:{sim.port}/stream?streams=solusdt@trade") as ws:
        prices = {json.loads(ws.recv(timeout=5))["data"]["p"] for _ in range(20)}

    assert len(prices) > 1


def sim_async_client(sim) -> type[AsyncClient]:
    class SimAsyncClient(AsyncClient):
        API_URL = f"{sim.url}/api"
        WS_API_URL = f"ws://127.0.0.1:{sim.port}/ws-api/v3"

    return SimAsyncClient


async def _user_events(sim, actions, count: int,
                       kind: str | None = "executionReport") -> list[dict]:
    """The first ``count`` user-data events of ``kind`` (``None``: of any kind) while
    ``actions`` run."""
    client = await sim_async_client(sim).create(KEY, SECRET)
    # python-binance's read loop notices a close only after recv() times out (10 s by default).
    client.ws_api.TIMEOUT = 0.2
    try:
        manager = BinanceSocketManager(client)
        async with manager.user_socket() as user:
            await asyncio.get_running_loop().run_in_executor(None, actions)
            events: list[dict] = []
            while len(events) < count:
                event = await asyncio.wait_for(user.recv(), 5)
                if kind is None or event.get("e") == kind:
                    events.append(event)
            return events
    finally:
        await client.close_connection()


def test_user_socket_reports_new_trigger_fill_and_cancel(sim):
    def actions():
        control(sim.url, "order", {"symbol": "BTCUSDT", "type": "MARKET", "side": "BUY",
                                   "quantity": "0.021", "newClientOrderId": "buy-1"})
        for client_id in ("stop-1", "stop-2"):  # 0.020979 BTC arrived (fee in BTC)
            control(sim.url, "order", {"symbol": "BTCUSDT", "quantity": "0.01",
                                       "stopPrice": "48000", "price": "47900",
                                       "newClientOrderId": client_id})
        control(sim.url, "cancel", {"symbol": "BTCUSDT", "origClientOrderId": "stop-2"})
        control(sim.url, "price", {"symbol": "BTCUSDT", "price": "47800"})  # gap: triggers
        control(sim.url, "price", {"symbol": "BTCUSDT", "price": "47950"})  # fills at limit

    events = asyncio.run(_user_events(sim, actions, 7))

    seen = [(e["c"], e["x"], e["X"], e["w"]) for e in events]
    assert seen == [
        ("buy-1", "NEW", "NEW", True),
        ("buy-1", "TRADE", "FILLED", False),
        ("stop-1", "NEW", "NEW", False),
        ("stop-2", "NEW", "NEW", False),
        ("stop-2", "CANCELED", "CANCELED", False),
        ("stop-1", "NEW", "NEW", True),
        ("stop-1", "TRADE", "FILLED", False),
    ]
    fill = events[-1]
    assert (fill["L"], fill["l"], fill["N"], fill["m"]) == (
        "47900.00000000", "0.01000000", "USDT", True)
    assert fill["W"] == events[-2]["W"] > 0  # workingTime = the trigger time


def test_user_socket_sends_the_balances_each_order_change_moves(sim):
    def actions():
        control(sim.url, "order", {"symbol": "BTCUSDT", "type": "MARKET", "side": "BUY",
                                   "quantity": "0.021", "newClientOrderId": "bal-buy"})
        control(sim.url, "order", {"symbol": "BTCUSDT", "quantity": "0.02", "stopPrice": "40000",
                                   "price": "39900", "newClientOrderId": "bal-stop"})
        control(sim.url, "cancel", {"symbol": "BTCUSDT", "origClientOrderId": "bal-stop"})
        control(sim.url, "balance", {"asset": "DOGE", "free": "7"})

    bought, locked, unlocked, doge = asyncio.run(
        _user_events(sim, actions, 4, kind="outboundAccountPosition"))

    def of(event):
        return {b["a"]: (Decimal(b["f"]), Decimal(b["l"])) for b in event["B"]}

    assert set(of(bought)) == {"BTC", "USDT"}
    assert of(locked)["BTC"][1] - of(bought)["BTC"][1] == Decimal("0.02")
    assert of(unlocked)["BTC"] == (of(locked)["BTC"][0] + Decimal("0.02"),
                                   of(locked)["BTC"][1] - Decimal("0.02"))
    assert of(doge) == {"DOGE": (Decimal(7), Decimal(0))}
