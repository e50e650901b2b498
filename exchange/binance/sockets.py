"""Running python-binance websockets on a thread of their own, and stopping them promptly.

``LoopThread`` runs one coroutine on a private asyncio loop. ``stop()`` first asks it to end
(the coroutine watches ``stopping``), then cancels it: a socket that is reconnecting inside
python-binance can sleep for up to a minute and would not look at the flag meanwhile.

``close_promptly`` stops a socket's read loop at once. ``ReconnectingWebsocket.__aexit__``
waits for the loop to notice it is exiting, which it only checks between messages (up to its
``TIMEOUT``, 10 s); marking the socket as exiting and closing the connection wakes it, and it
stops instead of reconnecting. Only public attributes of the socket are used.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from binance.ws.constants import WSListenerState

GRACE_S = 0.5


async def close_promptly(socket: Any) -> None:
    """Stop ``socket``'s read loop now; the caller then leaves its ``async with``/closes it."""
    socket.ws_state = WSListenerState.EXITING
    ws = getattr(socket, "ws", None)
    if ws is not None:
        with contextlib.suppress(Exception):
            await ws.close()


async def pause(seconds: float, stopping: threading.Event, step_s: float = 0.25) -> None:
    """Sleep ``seconds`` unless ``stopping`` is set first."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not stopping.is_set() and loop.time() < end:
        await asyncio.sleep(min(step_s, max(0.0, end - loop.time())))


class LoopThread:
    """A daemon thread running ``main()`` on its own event loop until it returns or is stopped."""

    def __init__(self, name: str, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.stopping = threading.Event()
        self._main = main
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(5)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout_s: float = 5.0) -> None:
        self.stopping.set()
        if not self._thread.is_alive():
            return
        self._thread.join(GRACE_S)
        if self._thread.is_alive() and self._loop is not None and self._task is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._task.cancel)
            self._thread.join(max(0.0, timeout_s - GRACE_S))

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            self._task = loop.create_task(self._main())
            self._ready.set()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._task)
        finally:
            self._ready.set()
            loop.close()
