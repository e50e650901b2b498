"""Websocket connections kept as the live venue keeps them: pings, a pong deadline, a maximum
age announced by ``serverShutdown``, forced shutdowns, the 1024-stream and 5-message limits,
and one user-data subscription per connection."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import ExitStack
from urllib.parse import urlencode

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Opcode
from websockets.sync.client import connect

from exchange.sim.guard import hmac_hex
from tests.exchange.sim.conftest import KEY, SECRET, control, wait_until
from tests.exchange.sim.test_ws import _user_events, sim_async_client
from tests.exchange.sim.ws_raw import RawWs


def ws_url(sim, path: str) -> str:
    return f"ws://127.0.0.1:{sim.port}{path}"


def subscribe_request(request_id: int) -> str:
    params = {"apiKey": KEY, "timestamp": int(time.time() * 1000)}
    params["signature"] = hmac_hex(SECRET, urlencode(sorted(params.items())))
    return json.dumps({"id": request_id, "method": "userDataStream.subscribe.signature",
                       "params": params})


def test_the_server_pings_and_a_client_that_answers_stays_connected(start_sim):
    sim = start_sim(ws_ping_s=0.3, ws_pong_timeout_s=0.5)
    ws = RawWs(ws_url(sim, "/ws/btcusdt@trade"))

    pings = [ws.until(Opcode.PING) for _ in range(4)]  # 0.9 s: well past the pong deadline
    control(sim.url, "price", {"symbol": "BTCUSDT", "price": "50001"})
    trade = ws.until(Opcode.TEXT)
    ws.close()

    assert len({bytes(p.data) for p in pings}) == 4  # each with a payload of its own
    assert json.loads(trade.data)["p"] == "50001.00000000"


def test_python_binance_answers_the_pings_and_keeps_its_user_socket(start_sim):
    sim = start_sim(ws_ping_s=0.2, ws_pong_timeout_s=0.5)

    def actions():
        wait_until(lambda: control(sim.url, "info")["ws"]["pongs"] >= 4, what="four pongs")
        control(sim.url, "price", {"symbol": "BTCUSDT", "price": "50000"})
        control(sim.url, "order", {"symbol": "BTCUSDT", "type": "MARKET", "side": "BUY",
                                   "quantity": "0.001", "newClientOrderId": "after-pings"})

    [new, _] = asyncio.run(_user_events(sim, actions, 2))

    assert (new["c"], new["x"]) == ("after-pings", "NEW")


def test_python_binance_answers_the_pings_and_keeps_its_multiplex_socket(start_sim):
    from binance import BinanceSocketManager

    sim = start_sim(ws_ping_s=0.3, ws_pong_timeout_s=0.7)  # pongs count: 5 a second at most

    async def frame_after_pings() -> dict:
        client = await sim_async_client(sim).create(KEY, SECRET)
        try:
            manager = BinanceSocketManager(client)
            manager.STREAM_URL = f"ws://127.0.0.1:{sim.port}/"
            socket = manager.multiplex_socket(["btcusdt@trade"])
            socket.TIMEOUT = 0.2  # its read loop notices the exit only between messages
            async with socket as stream:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, lambda: wait_until(
                    lambda: control(sim.url, "info")["ws"]["pongs"] >= 4, what="four pongs"))
                await loop.run_in_executor(None, lambda: control(
                    sim.url, "price", {"symbol": "BTCUSDT", "price": "50003"}))
                return await asyncio.wait_for(stream.recv(), 5)
        finally:
            await client.close_connection()

    frame = asyncio.run(frame_after_pings())

    assert (frame["stream"], frame["data"]["p"]) == ("btcusdt@trade", "50003.00000000")


def test_a_client_that_never_answers_a_ping_is_cut_after_the_pong_timeout(start_sim):
    sim = start_sim(ws_ping_s=0.2, ws_pong_timeout_s=0.5)
    ws = RawWs(ws_url(sim, "/ws-api/v3"), answer_pings=False)
    started = time.monotonic()

    frames = ws.frames_until_closed()
    lasted = time.monotonic() - started

    assert frames[0].opcode is Opcode.PING
    assert frames[-1].opcode is Opcode.CLOSE
    assert frames[-1].data[:2] == (1008).to_bytes(2, "big")
    assert lasted >= 0.5


def test_at_its_maximum_age_each_kind_of_connection_gets_server_shutdown_then_is_cut(start_sim):
    sim = start_sim(ws_max_age_s=1.0, ws_shutdown_notice_s=0.5)
    paths = {"api": "/ws-api/v3", "combined": "/stream?streams=btcusdt@trade",
             "raw": "/ws/btcusdt@trade"}

    notices, closed = {}, {}
    with ExitStack() as stack:
        opened = time.monotonic()
        conns = {name: stack.enter_context(connect(ws_url(sim, path)))
                 for name, path in paths.items()}
        for name, ws in conns.items():
            notices[name] = (json.loads(ws.recv(timeout=5)), time.monotonic() - opened)
        for name, ws in conns.items():
            with pytest.raises(ConnectionClosed) as err:
                ws.recv(timeout=5)
            closed[name] = (err.value.rcvd.code, time.monotonic() - opened)

    shapes = {name: note for name, (note, _) in notices.items()}
    event = shapes["api"]["event"]
    assert shapes == {
        "api": {"event": {"e": "serverShutdown", "E": event["E"]}},
        "combined": {"stream": "!serverShutdown", "data": {"e": "serverShutdown",
                                                           "E": shapes["combined"]["data"]["E"]}},
        "raw": {"e": "serverShutdown", "E": shapes["raw"]["E"]},
    }
    assert abs(event["E"] - time.time() * 1000) < 5000  # the server clock, in ms
    assert all(0.4 <= at < 0.9 for _, at in notices.values()), notices
    assert all(code == 1001 and at >= 0.9 for code, at in closed.values()), closed


def test_sim_ws_shutdown_warns_and_cuts_only_the_kind_asked_for(sim):
    with connect(ws_url(sim, "/ws-api/v3")) as user, \
            connect(ws_url(sim, "/ws/btcusdt@trade")) as market:
        wait_until(lambda: control(sim.url, "info")["ws"]["user"] == 1
                   and control(sim.url, "info")["ws"]["market"] == 1, what="both connections")

        answer = control(sim.url, "ws/shutdown", {"kind": "user", "notice_s": 0.3})
        warned = json.loads(user.recv(timeout=5))
        with pytest.raises(ConnectionClosed):
            user.recv(timeout=5)
        control(sim.url, "price", {"symbol": "BTCUSDT", "price": "50002"})
        still = json.loads(market.recv(timeout=5))
        control(sim.url, "ws/shutdown", {"kind": "market", "notice_s": 0.1})
        market_warned = json.loads(market.recv(timeout=5))
        with pytest.raises(ConnectionClosed):
            market.recv(timeout=5)

    assert answer == {"connections": 1}
    assert warned["event"]["e"] == "serverShutdown"
    assert (still["e"], still["p"]) == ("trade", "50002.00000000")
    assert market_warned["e"] == "serverShutdown"


def test_a_url_naming_more_than_1024_streams_is_refused(sim):
    streams = [f"s{i}usdt@trade" for i in range(1025)]

    with pytest.raises(InvalidStatus) as err:
        connect(ws_url(sim, "/stream?streams=" + "/".join(streams)))
    with connect(ws_url(sim, "/stream?streams=" + "/".join(streams[:1024]))) as ws:
        ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
        listed = json.loads(ws.recv(timeout=5))["result"]

    assert err.value.response.status_code == 400
    assert json.loads(err.value.response.body)["code"] == 2
    assert len(listed) == 1024


def test_a_subscribe_beyond_1024_streams_is_refused_and_changes_nothing(sim):
    streams = [f"s{i}usdt@trade" for i in range(1000)]
    with connect(ws_url(sim, "/stream?streams=" + "/".join(streams))) as ws:
        ws.send(json.dumps({"method": "SUBSCRIBE", "id": 1,
                            "params": [f"t{i}usdt@trade" for i in range(25)]}))
        refused = json.loads(ws.recv(timeout=5))
        ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
        listed = json.loads(ws.recv(timeout=5))["result"]

    assert refused["id"] == 1 and refused["error"]["code"] == 2
    assert "1024" in refused["error"]["msg"]
    assert len(listed) == 1000


def test_more_than_five_messages_a_second_cut_a_market_connection(sim):
    with connect(ws_url(sim, "/ws/btcusdt@trade")) as ws:
        for i in range(6):
            ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
        answers = []
        with pytest.raises(ConnectionClosed) as err:
            while True:
                answers.append(json.loads(ws.recv(timeout=5))["id"])

    assert answers == [0, 1, 2, 3, 4]
    assert (err.value.rcvd.code, err.value.rcvd.reason) == (1008, "Too many requests")


def test_the_websocket_api_has_no_five_message_limit(sim):
    with connect(ws_url(sim, "/ws-api/v3")) as ws:
        for i in range(8):
            ws.send(json.dumps({"id": i, "method": "ping"}))
        answers = [json.loads(ws.recv(timeout=5))["status"] for _ in range(8)]

    assert answers == [200] * 8


def test_a_second_user_data_subscription_on_one_connection_is_refused(sim):
    with connect(ws_url(sim, "/ws-api/v3")) as ws, connect(ws_url(sim, "/ws-api/v3")) as other:
        ws.send(subscribe_request(1))
        first = json.loads(ws.recv(timeout=5))
        ws.send(subscribe_request(2))
        second = json.loads(ws.recv(timeout=5))
        other.send(subscribe_request(3))
        elsewhere = json.loads(other.recv(timeout=5))
        ws.send(json.dumps({"id": 4, "method": "userDataStream.unsubscribe"}))
        ws.recv(timeout=5)
        ws.send(subscribe_request(5))
        again = json.loads(ws.recv(timeout=5))

    assert first["status"] == 200
    assert second == {"id": 2, "status": 400, "error": {
        "code": -2035, "msg": "User Data Stream subscription already active."}}
    assert elsewhere["status"] == 200
    assert again["status"] == 200  # unsubscribe without an id ended the first
