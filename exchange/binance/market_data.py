"""Trades of many symbols from one combined stream, through python-binance's socket manager.

``BinanceMarketData`` subscribes ``/stream?streams=<sym>@trade/...`` with
``BinanceSocketManager.multiplex_socket`` on a thread of its own, and hands each trade to
``on_trade(symbol, price, ts)`` with ``price`` a Decimal parsed from Binance's string and
``ts`` the trade time in epoch seconds. The stream URL is set on the manager instance, so
several feeds (real, testnet, a sim) can run in one process. If the socket gives up, the
thread reconnects from scratch with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from core.errors import VenueError
from exchange.binance.dto import TradeEventDTO
from exchange.binance.sockets import LoopThread, close_promptly, pause
from exchange.binance.translate import ms_to_s

log = logging.getLogger("ratchet.binance.market_data")

TradeCallback = Callable[[str, Decimal, Decimal], None]

RECV_POLL_S = 0.25
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0
# Errors the socket's own read loop recovers from by reconnecting; anything else ends it.
_TRANSIENT = frozenset({"ConnectionClosedError", "ConnectionClosedOK", "BinanceWebsocketClosed",
                        "IncompleteReadError", "gaierror"})


def stream_url_for(base_url: str | None) -> str | None:
    """The market-stream root beside a REST base URL (``http://h:p`` → ``ws://h:p/``);
    ``None`` for Binance's own hosts (and no base URL), whose streams python-binance knows."""
    if not base_url:
        return None
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if host.endswith((".binance.com", ".binance.vision", ".binance.us")):
        return None
    return f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}/"


def stream_names(symbols: Sequence[str], kind: str = "trade") -> list[str]:
    """Binance combined-stream names: lower-case symbol, ``@``, stream kind."""
    return [f"{s.lower()}@{kind}" for s in symbols]


class BinanceMarketData:
    """Start with ``start()``; ``stop()`` ends the thread. ``connected`` tells whether the
    socket is up. ``stream_url`` is the root, e.g. ``ws://127.0.0.1:PORT/`` (``None``: Binance,
    or its testnet with ``testnet=True``)."""

    def __init__(
        self, symbols: Sequence[str], *, stream_url: str | None, on_trade: TradeCallback,
        kind: str = "trade", testnet: bool = False,
    ) -> None:
        if not symbols:
            raise ValueError("BinanceMarketData needs at least one symbol")
        self.symbols = tuple(symbols)
        self.stream_url = None if stream_url is None else stream_url.rstrip("/") + "/"
        self.on_trade = on_trade
        self.kind = kind
        self.testnet = testnet
        self._connected = threading.Event()
        self._thread: LoopThread | None = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = LoopThread("binance-market-data", self._main)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._thread is not None:
            self._thread.stop(timeout_s)
            self._thread = None
        self._connected.clear()

    async def _main(self) -> None:
        assert self._thread is not None
        stopping = self._thread.stopping
        backoff = BACKOFF_MIN_S
        while not stopping.is_set():
            came_up = await self._session(stopping)
            backoff = BACKOFF_MIN_S if came_up else min(backoff * 2, BACKOFF_MAX_S)
            await pause(backoff, stopping)

    async def _session(self, stopping: threading.Event) -> bool:
        from binance import AsyncClient, BinanceSocketManager  # aiohttp: loaded when streaming

        client = AsyncClient(testnet=self.testnet, loop=asyncio.get_running_loop())
        came_up = False
        try:
            manager = BinanceSocketManager(client)
            if self.stream_url is not None:
                manager.STREAM_URL = self.stream_url
            socket = manager.multiplex_socket(stream_names(self.symbols, self.kind))
            async with socket as stream:
                came_up = True
                self._connected.set()
                try:
                    await self._receive(stream, stopping)
                finally:
                    await close_promptly(stream)
        except Exception as exc:  # noqa: BLE001 - any failure means: reconnect
            log.warning("market data down: %s: %s", type(exc).__name__, exc)
        finally:
            self._connected.clear()
            with contextlib.suppress(Exception):
                await client.close_connection()
        return came_up

    async def _receive(self, stream: Any, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                msg = await asyncio.wait_for(stream.recv(), RECV_POLL_S)
            except TimeoutError:
                continue
            if not isinstance(msg, dict):
                continue
            if msg.get("e") == "error":
                if msg.get("type") in _TRANSIENT:
                    continue
                log.warning("market data error: %s %s", msg.get("type"), msg.get("m"))
                return
            self._handle(msg)

    def _handle(self, msg: dict[str, Any]) -> None:
        data = msg.get("data", msg)  # combined frames wrap the payload
        if not isinstance(data, dict) or data.get("e") not in ("trade", "aggTrade"):
            return
        try:
            trade = TradeEventDTO.parse(data)
        except VenueError as exc:
            log.warning("unreadable trade frame: %s", exc)
            return
        try:
            self.on_trade(trade.s, trade.p, ms_to_s(trade.T))
        except Exception:
            log.exception("on_trade failed")
