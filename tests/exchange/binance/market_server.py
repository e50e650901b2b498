"""A small market-stream server for the edge's tests: Binance's combined streams as far as the
edge uses them, run by ``websockets`` on a thread of its own.

``/stream?streams=a@aggTrade/b@aggTrade`` opens a connection with those streams; SUBSCRIBE and
UNSUBSCRIBE are answered ``{"result": null, "id": N}``. Like Binance, a connection that sends
more than 5 messages (control frames included) within a second is closed (1008). The test
pushes trades (``trade``, ``burst``), announces a cut (``server_shutdown``) or closes
connections, and reads what each connection did (``connections``).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve

CONTROL_LIMIT_PER_S = 5


@dataclass
class Conn:
    ws: ServerConnection
    streams: set[str]
    controls: list[float] = field(default_factory=list)  # monotonic time of each message in
    closed_by: str = ""  # once closed: "client" (its close frame), "dropped", "server"
    opened: float = field(default_factory=time.monotonic)


class MarketServer:
    def __init__(self) -> None:
        self.connections: list[Conn] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="market-server", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        self.url = f"ws://127.0.0.1:{self.port}/"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        self._server = await serve(self._handle, "127.0.0.1", 0, ping_interval=None,
                                   max_queue=None, compression=None)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path).query)
        streams = {s for s in query.get("streams", [""])[0].split("/") if s}
        conn = Conn(ws=ws, streams=streams)
        self.connections.append(conn)
        try:
            async for text in ws:
                now = time.monotonic()
                conn.controls.append(now)
                if len([t for t in conn.controls if now - t < 1.0]) > CONTROL_LIMIT_PER_S:
                    conn.closed_by = "server"
                    await ws.close(1008, "too many messages")
                    return
                request = json.loads(text)
                method, params = request.get("method"), request.get("params", [])
                if method == "SUBSCRIBE":
                    conn.streams |= set(params)
                elif method == "UNSUBSCRIBE":
                    conn.streams -= set(params)
                await ws.send(json.dumps({"result": None, "id": request.get("id")}))
        except Exception:  # noqa: BLE001 - a connection that ends is what the tests look at
            pass
        finally:
            if not conn.closed_by:  # the client's close frame first, or its socket gone
                conn.closed_by = "client" if ws.protocol.close_rcvd_then_sent else "dropped"

    def _call(self, coro, timeout_s: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    # --- what the tests do ------------------------------------------------------------------

    def open_connections(self) -> list[Conn]:
        return [c for c in self.connections if not c.closed_by]

    def subscribed(self) -> set[str]:
        return {s for c in self.open_connections() for s in c.streams}

    def trade(self, symbol: str, price: str, ms: int | None = None) -> int:
        """One aggTrade to every connection subscribed to the symbol; how many got it."""
        return self.burst([(symbol, price, ms)])

    def burst(self, trades: list[tuple[str, str, int | None]]) -> int:
        """Every trade, in order, to the connections subscribed to its symbol, as fast as
        the sockets take them; returns the messages sent."""
        return self._call(self._burst(trades), timeout_s=600)

    async def _burst(self, trades) -> int:
        sent = 0
        for symbol, price, ms in trades:
            stream = f"{symbol.lower()}@aggTrade"
            ms = ms if ms is not None else int(time.time() * 1000)
            data = {"e": "aggTrade", "E": ms, "s": symbol, "a": sent, "p": price,
                    "q": "1.00000000", "f": 1, "l": 1, "T": ms, "m": False, "M": True}
            text = json.dumps({"stream": stream, "data": data}, separators=(",", ":"))
            for conn in self.open_connections():
                if stream in conn.streams:
                    try:
                        await conn.ws.send(text)
                        sent += 1
                    except Exception:  # noqa: BLE001 - closed meanwhile
                        pass
        return sent

    def server_shutdown(self, conn: Conn) -> None:
        """Binance's notice of a cut on ``conn`` (combined-stream form)."""
        notice = {"stream": "!serverShutdown",
                  "data": {"e": "serverShutdown", "E": int(time.time() * 1000)}}
        self._call(conn.ws.send(json.dumps(notice)))

    def cut(self, conn: Conn) -> None:
        conn.closed_by = "server"
        self._call(conn.ws.close(1001, "going away"))

    def stop(self) -> None:
        async def close():
            self._server.close()
            await self._server.wait_closed()
        self._call(close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
