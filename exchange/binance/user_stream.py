"""Order updates through python-binance's user-data socket, on a thread of their own.

python-binance 1.0.37 subscribes over the WebSocket API (``userDataStream.subscribe.signature``)
inside ``BinanceSocketManager.user_socket()``; events arrive as ``{"subscriptionId", "event"}``
frames and the socket hands us the ``event``. The thread owns one asyncio loop and one
``AsyncClient`` whose WebSocket API URL is set per instance (no class attributes are changed,
so several venues can live in one process). When the socket fails it reconnects with backoff,
and ``on_state(False)`` tells the exchange to fall back to REST polling meanwhile: at once, as
the receive loop ends, not after the dead connection's unsubscribe has timed out.

Binance cuts a WebSocket API connection after 24 hours and may shut a server down at any time;
either way it first sends ``{"event": {"e": "serverShutdown", "E": ms}}``, with no subscription
id. python-binance 1.0.37 logs such a frame and drops it, so the socket here
(``ShutdownAwareWebsocketAPI``) notices it on the way in. The stream then reconnects at once,
before the cut, and the exchange catches up over REST for what the gap may have hidden.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from binance.ws.websocket_api import WebsocketAPI

from exchange.binance.sockets import LoopThread, close_promptly, pause

log = logging.getLogger("ratchet.binance.user_stream")

RECV_POLL_S = 0.25  # how often the receive loop looks at the stop flag
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0


SERVER_SHUTDOWN = "serverShutdown"


class ShutdownAwareWebsocketAPI(WebsocketAPI):
    """python-binance's WebSocket API client, telling ``on_shutdown`` when the server says it is
    about to cut the connection (a frame python-binance itself drops)."""

    def __init__(self, url: str, *, on_shutdown: Callable[[], None], **kw: Any) -> None:
        super().__init__(url, **kw)
        self.on_shutdown = on_shutdown

    def _handle_message(self, msg):  # python-binance's per-frame hook
        text = msg.decode() if isinstance(msg, bytes) else str(msg)
        if SERVER_SHUTDOWN in text and '"subscriptionId"' not in text:
            self.on_shutdown()
        return super()._handle_message(msg)


class UserStream:
    """Delivers each user-data event (a dict) to ``on_event`` on its own thread."""

    def __init__(
        self, *, api_key: str, api_secret: str, testnet: bool, ws_api_url: str | None,
        timestamp_offset_ms: Callable[[], int], on_event: Callable[[dict[str, Any]], None],
        on_state: Callable[[bool], None],
    ) -> None:
        self._api_key = api_key
        self._api_secret = api_secret
        self._testnet = testnet
        self._ws_api_url = ws_api_url
        self._offset = timestamp_offset_ms
        self._on_event = on_event
        self._on_state = on_state
        self._thread = LoopThread("binance-user-stream", self._main)
        self._shutdown = asyncio.Event()

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._thread.stop(timeout_s)

    async def _main(self) -> None:
        stopping = self._thread.stopping
        backoff = BACKOFF_MIN_S
        while not stopping.is_set():
            started = await self._session()
            if self._shutdown.is_set():
                continue  # announced: the next connection now, before the cut
            backoff = BACKOFF_MIN_S if started else min(backoff * 2, BACKOFF_MAX_S)
            await pause(backoff, stopping)

    async def _session(self) -> bool:
        """One subscription, until it fails, the server announces a shutdown, or we stop.
        Returns whether it came up (a shutdown notice reconnects at once)."""
        from binance import AsyncClient, BinanceSocketManager  # aiohttp: loaded when streaming

        client = AsyncClient(self._api_key, self._api_secret, testnet=self._testnet,
                             loop=asyncio.get_running_loop())
        self._shutdown = asyncio.Event()
        loop = asyncio.get_running_loop()
        url = self._ws_api_url or (client.WS_API_TESTNET_URL if self._testnet
                                   else client.WS_API_URL.format("com"))
        client.ws_api = ShutdownAwareWebsocketAPI(
            url, on_shutdown=lambda: loop.call_soon_threadsafe(self._shutdown.set))
        client.timestamp_offset = self._offset()
        up = False
        try:
            socket = BinanceSocketManager(client).user_socket()
            async with socket as stream:
                up = True
                self._on_state(True)
                try:
                    await self._receive(stream)
                finally:
                    self._on_state(False)  # REST polling starts now, not after the close
                    await close_promptly(client.ws_api)
        except Exception as exc:  # noqa: BLE001 - any failure means: reconnect
            log.warning("user stream down: %s: %s", type(exc).__name__, exc)
        finally:
            if client.ws_api is not None:
                await close_promptly(client.ws_api)
            with contextlib.suppress(Exception):
                await client.close_connection()
        return up

    async def _receive(self, stream: Any) -> None:
        while not self._thread.stopping.is_set():
            if self._shutdown.is_set():
                log.info("user stream: the server announced a shutdown; reconnecting now")
                return
            try:
                msg = await asyncio.wait_for(stream.recv(), RECV_POLL_S)
            except TimeoutError:
                continue
            if not isinstance(msg, dict):
                continue
            if msg.get("e") == "error":
                log.warning("user stream error: %s %s", msg.get("type"), msg.get("m"))
                return
            try:
                self._on_event(msg)
            except Exception:  # a bad event must not kill the stream
                log.exception("user stream event handler failed")
