"""Websockets on the REST port: market-data streams and the WebSocket API's user data.

The HTTP handler hands over a connection that asks to upgrade. The handshake is answered here;
each connection is an ``exchange.sim.ws_conn.WsConn``, kept alive (pings), aged and cut as the
live venue does by the hub's watch thread.

Paths: ``/stream?streams=a/b`` (combined frames ``{"stream","data"}``), ``/ws/<stream>`` (raw),
``/ws-api/v3`` (requests ``{"id","method","params"}``; user data as
``{"subscriptionId","event"}``).

Binance's limits (web-socket-streams.md, web-socket-api.md): a market-stream connection listens
to at most ``MAX_STREAMS`` streams (a URL naming more is refused, HTTP 400; a SUBSCRIBE going
over is answered with an error and changes nothing: **sim**, the docs do not say how); one
user-data subscription per account per WebSocket API connection (a second: -2035).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from exchange.sim.ws_conn import BINANCE_LIMITS, WsConn, WsLimits

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
STREAM_KINDS = ("trade", "aggTrade", "miniTicker")
MAX_STREAMS = 1024
TOO_MANY_STREAMS = (f"Invalid request: too many streams; a connection may listen to at most "
                    f"{MAX_STREAMS} streams.")  # **sim**
CONN_KINDS = ("user", "market", "all")

# (connection, request id, method, params) -> the response dict to send
WsApiHandler = Callable[["WsConn", Any, str, dict[str, Any]], dict[str, Any]]


class WsHub:
    """Who listens to what; publishing never blocks on a client. ``start`` runs the watch
    thread that pings, ages and cuts the connections; ``now_ms`` is the server clock (the
    ``E`` of a ``serverShutdown``)."""

    def __init__(self, limits: WsLimits = BINANCE_LIMITS,
                 now_ms: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self.limits = limits
        self._now_ms = now_ms
        self._lock = threading.Lock()
        self._conns: set[WsConn] = set()
        self._by_stream: dict[str, set[WsConn]] = {}
        self._users: dict[int, WsConn] = {}
        self._subscription_ids = itertools.count(0)
        self._garble = 0  # executionReports still to send unreadable (POST /sim/garble)
        self._stop = threading.Event()
        self._watch = threading.Thread(target=self._run_watch, name="sim-ws-watch", daemon=True)

    def start(self) -> None:
        self._watch.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watch.is_alive():
            self._watch.join(timeout=2)

    def _run_watch(self) -> None:
        while not self._stop.wait(self.limits.tick_s()):
            with self._lock:
                conns = list(self._conns)
            now = time.monotonic()
            for conn in conns:
                conn.tick(now, self.shutdown_event())

    def shutdown_event(self) -> dict[str, Any]:
        """``serverShutdown`` (web-socket-api.md, web-socket-streams.md)."""
        return {"e": "serverShutdown", "E": self._now_ms()}

    def shutdown(self, kind: str, notice_s: float) -> int:
        """Send ``serverShutdown`` now to the WebSocket API (``user``), market-stream
        (``market``) or ``all`` connections, and cut them ``notice_s`` later. Returns how
        many."""
        if kind not in CONN_KINDS:
            raise ValueError(f"kind must be one of {list(CONN_KINDS)}, not {kind!r}")
        with self._lock:
            conns = [c for c in self._conns
                     if kind == "all" or (kind == "user") == c.api]
        event = self.shutdown_event()
        for conn in conns:
            conn.shutdown(event, notice_s)
        return len(conns)

    def connections(self) -> dict[str, int]:
        """Open connections of each kind, and the pings they have answered."""
        with self._lock:
            users = sum(1 for c in self._conns if c.api)
            return {"user": users, "market": len(self._conns) - users,
                    "pongs": sum(c.pongs for c in self._conns)}

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

    def subscribe_streams(self, conn: WsConn, streams: list[str]) -> bool:
        """Add ``streams``; False (nothing added) if the connection would listen to more than
        ``MAX_STREAMS``."""
        with self._lock:
            if len(conn.streams | set(streams)) > MAX_STREAMS:
                return False
            for stream in streams:
                conn.streams.add(stream)
                self._by_stream.setdefault(stream, set()).add(conn)
            return True

    def unsubscribe_streams(self, conn: WsConn, streams: list[str]) -> None:
        with self._lock:
            for stream in streams:
                conn.streams.discard(stream)
                self._by_stream.get(stream, set()).discard(conn)

    def subscribe_user(self, conn: WsConn) -> int | None:
        """A new user-data subscription on ``conn``, or ``None`` if it already has one (the
        sim has one account, and Binance allows one subscription per account per
        connection)."""
        with self._lock:
            if conn.subscriptions:
                return None
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
        with self._lock:
            self._conns.discard(conn)

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
        if len(set(streams)) > MAX_STREAMS:
            _refuse(handler, 400, {"code": 2, "msg": TOO_MANY_STREAMS})
            return
        key = handler.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        handler.wfile.write((
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        handler.wfile.flush()
        conn = WsConn(handler.connection, combined=combined, api=is_api, limits=self.limits)
        self.subscribe_streams(conn, streams)
        with self._lock:
            self._conns.add(conn)
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
            if self.subscribe_streams(conn, list(params)):
                conn.send_json({"result": None, "id": request_id})
            else:
                conn.send_json({"error": {"code": 2, "msg": TOO_MANY_STREAMS},
                                "id": request_id})
        elif method == "UNSUBSCRIBE":
            self.unsubscribe_streams(conn, list(params))
            conn.send_json({"result": None, "id": request_id})
        elif method == "LIST_SUBSCRIPTIONS":
            conn.send_json({"result": sorted(conn.streams), "id": request_id})
        else:
            conn.send_json({"error": {"code": 2, "msg": f"Invalid request: {method}"},
                            "id": request_id})


def _refuse(handler: Any, status: int, body: dict[str, Any]) -> None:
    """Answer the upgrade request with an HTTP error and a JSON body instead."""
    data = json.dumps(body, separators=(",", ":")).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json;charset=UTF-8")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
