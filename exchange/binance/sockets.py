"""Closing a python-binance websocket without waiting out its read timeout.

``ReconnectingWebsocket.__aexit__`` waits for its read loop to notice it is exiting, and the
loop only looks between messages (up to ``TIMEOUT``, 10 s). Marking the socket as exiting and
closing the connection wakes the loop at once, and it stops instead of reconnecting. Only
public attributes of the socket are used.
"""

from __future__ import annotations

import contextlib
from typing import Any

from binance.ws.constants import WSListenerState


async def close_promptly(socket: Any) -> None:
    """Stop ``socket``'s read loop now; the caller then leaves its ``async with``/closes it."""
    socket.ws_state = WSListenerState.EXITING
    ws = getattr(socket, "ws", None)
    if ws is not None:
        with contextlib.suppress(Exception):
            await ws.close()
