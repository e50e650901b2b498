"""Order updates through python-binance's user-data socket, on a thread of their own.

python-binance 1.0.37 subscribes over the WebSocket API (``userDataStream.subscribe.signature``)
inside ``BinanceSocketManager.user_socket()``; events arrive as ``{"subscriptionId", "event"}``
frames and the socket hands us the ``event``. The thread owns one asyncio loop and one
``AsyncClient`` whose WebSocket API URL is set per instance (no class attributes are changed,
so several venues can live in one process). When the socket fails it reconnects with backoff,
and ``on_state(False)`` tells the exchange to fall back to REST polling meanwhile.
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
            backoff = BACKOFF_MIN_S if started else min(backoff * 2, BACKOFF_MAX_S)
            await pause(backoff, stopping)

    async def _session(self) -> bool:
        """One subscription, until it fails or we stop. Returns whether it came up."""
        from binance import AsyncClient, BinanceSocketManager  # aiohttp: loaded when streaming

        client = AsyncClient(self._api_key, self._api_secret, testnet=self._testnet,
                             loop=asyncio.get_running_loop())
        if self._ws_api_url:
            client.ws_api = WebsocketAPI(url=self._ws_api_url)
        client.timestamp_offset = self._offset()
        up = False
        try:
            socket = BinanceSocketManager(client).user_socket()
            async with socket as stream:
                up = True
                self._on_state(True)
                await self._receive(stream)
        except Exception as exc:  # noqa: BLE001 - any failure means: reconnect
            log.warning("user stream down: %s: %s", type(exc).__name__, exc)
        finally:
            if up:
                self._on_state(False)
            if client.ws_api is not None:
                await close_promptly(client.ws_api)
            with contextlib.suppress(Exception):
                await client.close_connection()
        return up

    async def _receive(self, stream: Any) -> None:
        while not self._thread.stopping.is_set():
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
