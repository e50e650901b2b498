"""One upgraded websocket connection, kept as the live venue keeps it.

The frames are handled with the ``websockets`` package's sans-I/O ``Protocol``: reads on the
HTTP handler's thread, writes on one sender thread per connection, so a slow client never
blocks the price path. The hub's watch thread calls ``tick`` on every connection:

- a ping frame every ``ping_s`` (Binance: every 20 s); a connection that has not answered a
  ping with its pong (same payload) within ``pong_timeout_s`` (a minute) is cut. An unsolicited
  pong does not count, as the docs say;
- after ``max_age_s`` (24 hours) the connection is cut, and a ``serverShutdown`` event goes out
  ``shutdown_notice_s`` before (``shutdown``; Binance no longer promises how long before);
- market streams only: more than ``MAX_MESSAGES_PER_S`` incoming messages (ping, pong, JSON
  control message) within one second cut the connection (web-socket-streams.md, "WebSocket
  Limits"; the WebSocket API documents no such limit, its requests are weighted instead).

A cut sends a close frame (1001 for an age or a shutdown, 1008 for a limit) and closes the
TCP connection once it is out.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import InvalidState
from websockets.frames import Opcode
from websockets.protocol import Protocol, Side, State

MAX_BACKLOG = 50_000  # frames queued for one client before it is cut off, as Binance does
MAX_MESSAGES_PER_S = 5  # incoming pings, pongs and JSON messages of a market-stream connection
CLOSE_GOING_AWAY, CLOSE_POLICY = 1001, 1008
COUNTED = frozenset({Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.PONG})


@dataclass(frozen=True, kw_only=True)
class WsLimits:
    """How long connections live and how they are kept alive (seconds)."""

    ping_s: float = 20.0
    pong_timeout_s: float = 60.0
    max_age_s: float = 86_400.0
    shutdown_notice_s: float = 5.0

    def tick_s(self) -> float:
        """How often the watch thread looks: a fraction of the shortest period, within
        10 ms .. 0.5 s."""
        shortest = min(self.ping_s, self.pong_timeout_s, self.max_age_s,
                       self.shutdown_notice_s or self.max_age_s)
        return min(0.5, max(0.01, shortest / 4))


BINANCE_LIMITS = WsLimits()


class WsConn:
    """One upgraded connection: a market stream (``combined`` or raw) or the WebSocket API."""

    def __init__(self, sock: socket.socket, *, combined: bool, api: bool = False,
                 limits: WsLimits = BINANCE_LIMITS) -> None:
        self.sock = sock
        self.combined = combined
        self.api = api
        self.limits = limits
        self.streams: set[str] = set()
        self.subscriptions: set[int] = set()
        self._protocol = Protocol(Side.SERVER, state=State.OPEN, max_size=2**20)
        self._lock = threading.Lock()
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._backlog = 0
        self.closed = False
        now = time.monotonic()
        self.opened_at = now
        self._last_ping = now
        self._pings: dict[bytes, float] = {}  # payload -> when sent, until its pong arrives
        self.pongs = 0  # pings answered
        self._incoming: deque[float] = deque()
        self.cut_at: float | None = None  # a shutdown was announced: cut then
        self.close_code: int | None = None

    # --- sending -------------------------------------------------------------------------

    def send_json(self, payload: dict[str, Any]) -> None:
        with self._lock:
            if self.closed:
                return
            try:
                self._protocol.send_text(json.dumps(payload, separators=(",", ":")).encode())
            except InvalidState:  # the client is closing: nothing more goes out
                return
            self._queue_out()

    def _queue_out(self) -> None:
        data = b"".join(self._protocol.data_to_send())
        if data:
            self._backlog += 1
            if self._backlog > MAX_BACKLOG:
                self.closed = True
                self._outbox.put(None)
                return
            self._outbox.put(data)

    def sender(self) -> None:
        while True:
            data = self._outbox.get()
            if data is None:
                break
            with self._lock:
                self._backlog -= 1
            try:
                self.sock.sendall(data)
            except OSError:
                break
        self.closed = True
        _shutdown(self.sock)

    # --- reading -------------------------------------------------------------------------

    def read_frames(self, on_text: Callable[[str], None]) -> None:
        """Read until the client closes; ``on_text`` gets each text message."""
        while not self.closed:
            try:
                data = self.sock.recv(65536)
            except OSError:
                break
            with self._lock:
                if data:
                    self._protocol.receive_data(data)
                else:
                    self._protocol.receive_eof()
                events = self._protocol.events_received()
                self._queue_out()  # pongs and the closing handshake
            for frame in events:
                if not self._count(frame.opcode):
                    return  # cut: over the message limit
                if frame.opcode is Opcode.PONG:
                    self._on_pong(bytes(frame.data))
                elif frame.opcode is Opcode.TEXT:
                    on_text(frame.data.decode())
            if not data or self._protocol.close_expected():
                break  # closing handshake done or peer gone: close the TCP connection
        self.close()

    def _count(self, opcode: Opcode) -> bool:
        """Count an incoming message of a market stream; False (and cut) when over the
        limit."""
        if self.api or opcode not in COUNTED:
            return True
        now = time.monotonic()
        self._incoming.append(now)
        while self._incoming and self._incoming[0] <= now - 1.0:
            self._incoming.popleft()
        if len(self._incoming) > MAX_MESSAGES_PER_S:
            self.cut(CLOSE_POLICY, "Too many requests")
            return False
        return True

    def _on_pong(self, payload: bytes) -> None:
        """A pong answers its ping and every earlier one; an unsolicited one answers none."""
        with self._lock:
            sent = self._pings.get(payload)
            if sent is not None:
                self._pings = {p: t for p, t in self._pings.items() if t > sent}
                self.pongs += 1

    # --- keeping it alive ----------------------------------------------------------------

    def tick(self, now: float, shutdown_event: dict[str, Any]) -> None:
        """What is due at ``now`` (monotonic): the cut, a shutdown notice at its age, a pong
        overdue, a ping. ``shutdown_event`` is the ``serverShutdown`` event, should one be
        due."""
        if self.closed:
            return
        limits = self.limits
        if self.cut_at is not None and now >= self.cut_at:
            self.cut(CLOSE_GOING_AWAY, "Server shutdown")
            return
        end_of_life = self.opened_at + limits.max_age_s
        if self.cut_at is None and now >= end_of_life - limits.shutdown_notice_s:
            self.shutdown(shutdown_event, max(0.0, end_of_life - now), now=now)
        with self._lock:
            oldest = min(self._pings.values(), default=None)
        if oldest is not None and now - oldest > limits.pong_timeout_s:
            self.cut(CLOSE_POLICY, "Pong timeout")
            return
        if now - self._last_ping >= limits.ping_s:
            self.ping(now)

    def ping(self, now: float) -> None:
        payload = str(int(time.time() * 1000)).encode()
        with self._lock:
            if self.closed:
                return
            self._last_ping = now
            try:
                self._protocol.send_ping(payload)
            except InvalidState:  # the client is closing
                return
            self._pings.setdefault(payload, now)
            self._queue_out()

    def shutdown(self, event: dict[str, Any], notice_s: float, *, now: float | None = None,
                 ) -> None:
        """Send ``serverShutdown`` in this connection's shape and cut it ``notice_s`` later
        (or sooner, if a cut was due sooner)."""
        now = time.monotonic() if now is None else now
        if self.api:
            self.send_json({"event": event})
        elif self.combined:
            self.send_json({"stream": "!serverShutdown", "data": event})
        else:
            self.send_json(event)
        cut_at = now + notice_s
        self.cut_at = cut_at if self.cut_at is None else min(self.cut_at, cut_at)

    def cut(self, code: int, reason: str) -> None:
        """Close from the server side: a close frame, then the TCP connection."""
        with self._lock:
            if self.closed:
                return
            self.close_code = code
            with contextlib.suppress(Exception):  # a closing handshake may be under way
                self._protocol.send_close(code, reason)
                self._queue_out()
            self.closed = True
            self._outbox.put(None)

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                self._outbox.put(None)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
