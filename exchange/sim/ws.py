"""Websockets on the REST port: market-data streams and the WebSocket API's user data.

The HTTP handler hands over a connection that asks to upgrade. The handshake is answered here
and the frames are handled with the ``websockets`` package's sans-I/O ``Protocol``, on the
handler's thread (reads) and one sender thread per connection (writes), so a slow client never
blocks the price path.

Paths: ``/stream?streams=a/b`` (combined frames ``{"stream","data"}``), ``/ws/<stream>`` (raw),
``/ws-api/v3`` (requests ``{"id","method","params"}``; user data as
``{"subscriptionId","event"}``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import queue
import socket
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.frames import Opcode
from websockets.protocol import Protocol, Side, State

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
STREAM_KINDS = ("trade", "aggTrade", "miniTicker")
MAX_BACKLOG = 50_000  # frames queued for one client before it is cut off, as Binance does

# (connection, request id, method, params) -> the response dict to send
WsApiHandler = Callable[["WsConn", Any, str, dict[str, Any]], dict[str, Any]]


class WsConn:
    """One upgraded connection."""

    def __init__(self, sock: socket.socket, *, combined: bool) -> None:
        self.sock = sock
        self.combined = combined
        self.streams: set[str] = set()
        self.subscriptions: set[int] = set()
        self._protocol = Protocol(Side.SERVER, state=State.OPEN, max_size=2**20)
        self._lock = threading.Lock()
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._backlog = 0
        self.closed = False

    def send_json(self, payload: dict[str, Any]) -> None:
        with self._lock:
            if self.closed:
                return
            self._protocol.send_text(json.dumps(payload, separators=(",", ":")).encode())
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
                if frame.opcode is Opcode.TEXT:
                    on_text(frame.data.decode())
            if not data or self._protocol.close_expected():
                break  # closing handshake done or peer gone: close the TCP connection
        self.close()

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                self._outbox.put(None)


class WsHub:
    """Who listens to what; publishing never blocks on a client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_stream: dict[str, set[WsConn]] = {}
        self._users: dict[int, WsConn] = {}
        self._subscription_ids = itertools.count(0)
        self._garble = 0  # executionReports still to send unreadable (POST /sim/garble)

    def garble(self, count: int) -> None:
        """Send the next ``count`` executionReports with their status fields missing."""
        with self._lock:
            self._garble = max(0, count)

    def has_user_subscribers(self) -> bool:
        return bool(self._users)

    def publish_market(self, symbol: str, data_for: Callable[[str], dict[str, Any]]) -> None:
        lower = symbol.lower()
        with self._lock:
            targets = [(kind, conn) for kind in STREAM_KINDS
                       for conn in self._by_stream.get(f"{lower}@{kind}", ())]
        for kind, conn in targets:
            data = data_for(kind)
            stream = f"{lower}@{kind}"
            conn.send_json({"stream": stream, "data": data} if conn.combined else data)

    def publish_user(self, event: dict[str, Any]) -> None:
        with self._lock:
            targets = list(self._users.items())
            if self._garble and event.get("e") == "executionReport" and targets:
                self._garble -= 1
                event = {k: v for k, v in event.items() if k not in ("x", "X", "z", "l", "L")}
        for subscription_id, conn in targets:
            conn.send_json({"subscriptionId": subscription_id, "event": event})

    def subscribe_streams(self, conn: WsConn, streams: list[str]) -> None:
        with self._lock:
            for stream in streams:
                conn.streams.add(stream)
                self._by_stream.setdefault(stream, set()).add(conn)

    def unsubscribe_streams(self, conn: WsConn, streams: list[str]) -> None:
        with self._lock:
            for stream in streams:
                conn.streams.discard(stream)
                self._by_stream.get(stream, set()).discard(conn)

    def subscribe_user(self, conn: WsConn) -> int:
        with self._lock:
            subscription_id = next(self._subscription_ids)
            self._users[subscription_id] = conn
            conn.subscriptions.add(subscription_id)
            return subscription_id

    def unsubscribe_user(self, subscription_id: int) -> bool:
        with self._lock:
            conn = self._users.pop(subscription_id, None)
            if conn is not None:
                conn.subscriptions.discard(subscription_id)
            return conn is not None

    def drop(self, conn: WsConn) -> None:
        self.unsubscribe_streams(conn, list(conn.streams))
        for subscription_id in list(conn.subscriptions):
            self.unsubscribe_user(subscription_id)

    def serve(self, handler: Any, api: WsApiHandler) -> None:
        """Upgrade the request of ``handler`` (a BaseHTTPRequestHandler) and serve it."""
        handler.close_connection = True
        parts = urlsplit(handler.path)
        is_api = parts.path.rstrip("/") == "/ws-api/v3"
        if parts.path == "/stream" or parts.path == "/stream/":
            streams = [s for s in parse_qs(parts.query).get("streams", [""])[0].split("/") if s]
            combined = True
        elif parts.path.startswith("/ws/"):
            streams, combined = [s for s in parts.path[4:].split("/") if s], False
        elif is_api:
            streams, combined = [], False
        else:
            handler.send_error(404)
            return
        key = handler.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        handler.wfile.write((
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        handler.wfile.flush()
        conn = WsConn(handler.connection, combined=combined)
        self.subscribe_streams(conn, streams)
        sender = threading.Thread(target=conn.sender, name="sim-ws-send", daemon=True)
        sender.start()
        try:
            conn.read_frames(lambda text: self._on_text(conn, text, api, is_api))
        finally:
            self.drop(conn)
            conn.close()
            sender.join(timeout=2)

    def _on_text(self, conn: WsConn, text: str, api: WsApiHandler, is_api: bool) -> None:
        try:
            message = json.loads(text)
            request_id, method = message.get("id"), message.get("method", "")
            params = message.get("params") or ({} if is_api else [])
        except (ValueError, AttributeError):
            conn.send_json({"id": None, "status": 400,
                            "error": {"code": -1102, "msg": "Malformed request."}})
            return
        if is_api:
            conn.send_json(api(conn, request_id, method, params))
        elif method == "SUBSCRIBE":
            self.subscribe_streams(conn, list(params))
            conn.send_json({"result": None, "id": request_id})
        elif method == "UNSUBSCRIBE":
            self.unsubscribe_streams(conn, list(params))
            conn.send_json({"result": None, "id": request_id})
        elif method == "LIST_SUBSCRIPTIONS":
            conn.send_json({"result": sorted(conn.streams), "id": request_id})
        else:
            conn.send_json({"error": {"code": 2, "msg": f"Invalid request: {method}"},
                            "id": request_id})


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
