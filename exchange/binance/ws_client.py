"""A websocket client for market streams: a blocking socket, read in large chunks.

Why not python-binance's socket, or the ``websockets`` clients. ``make bench`` reads one
loopback stream with each (``feed`` lines ``reader_msgs_per_s``, with their CPU a message):
python-binance's ``ReconnectingWebsocket`` JSON-decodes each message, formats a debug line
for it and passes it through an ``asyncio.Queue`` of 100 (past that it drops the connection),
and costs several times the bare reader (the ``websockets`` asyncio client and
``json.loads``); ``websockets``' sans-I/O frame parser is cheaper than the bare reader but
still the larger part of a message's cost once the JSON is gone. Market-stream frames are
simple (server to client: unmasked, no extension negotiated, text), so this client decodes
them itself: one ``recv`` brings up to ``RECV_BYTES`` (thousands of messages), and finding the
frames in it is a few integer operations each.

``websockets`` still does everything else: the opening handshake (``ClientProtocol`` builds
the request and checks the answer, ``Sec-WebSocket-Accept`` included) and every frame we send
(masked, as a client must): text, ping, pong and close. Fragmented messages, control frames
between fragments, pings (answered at once) and the closing handshake are handled; a masked
frame, a reserved bit, an unknown opcode or a message over ``max_message`` ends the
connection.

Every failure is a ``Reconnect`` carrying its cause (a bounded label for the metrics).
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import time
from urllib.parse import urlsplit

from websockets.client import ClientProtocol
from websockets.http11 import Response
from websockets.uri import parse_uri

RECV_BYTES = 1 << 20
MAX_MESSAGE = 1 << 20
MAX_HEADERS = 1 << 16

# Causes of a Reconnect (label values of ratchet_feed_reconnects_total).
REFUSED, CLOSED, PROTOCOL, NETWORK = "refused", "closed", "protocol", "network"

_TEXT, _BINARY, _CONTINUATION, _CLOSE, _PING, _PONG = 1, 2, 0, 8, 9, 10


class Reconnect(Exception):
    """The connection cannot go on: close it and open a new one. ``cause`` says why."""

    def __init__(self, cause: str, detail: str) -> None:
        super().__init__(f"{cause}: {detail}")
        self.cause = cause


class WsClient:
    """One connection. ``connect()``, then ``receive(out)`` in a loop from one thread; ``send_*``
    from that thread; ``abort()`` from any thread unblocks it."""

    def __init__(self, url: str, *, timeout_s: float, poll_s: float = 0.25,
                 max_message: int = MAX_MESSAGE) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.max_message = max_message
        self.last_rx = 0.0  # time.monotonic() of the last frame received
        self.closed = False
        self._sock: socket.socket | None = None
        self._protocol = ClientProtocol(parse_uri(url), max_size=max_message)
        self._buf = b""
        self._fragments: list[bytes] | None = None
        self._fragment_op = 0

    # --- opening and closing ----------------------------------------------------------------

    def connect(self) -> None:
        parts = urlsplit(self.url)
        secure = parts.scheme == "wss"
        host = parts.hostname or ""
        port = parts.port or (443 if secure else 80)
        try:
            sock = socket.create_connection((host, port), timeout=self.timeout_s)
        except OSError as exc:
            raise Reconnect(REFUSED, f"cannot connect to {host}:{port}: {exc}") from None
        if self.closed:  # aborted while connecting
            _close_quietly(sock)
            raise Reconnect(CLOSED, "aborted")
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if secure:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            self._sock = sock
            self._handshake(sock)
        except BaseException:
            self._sock = None
            _close_quietly(sock)
            raise
        sock.settimeout(self.poll_s)
        self.last_rx = time.monotonic()

    def _handshake(self, sock: socket.socket) -> None:
        protocol = self._protocol
        protocol.send_request(protocol.connect())
        try:
            sock.sendall(b"".join(protocol.data_to_send()))
            head = b""
            while b"\r\n\r\n" not in head:
                if len(head) > MAX_HEADERS:
                    raise Reconnect(REFUSED, "handshake answer too long")
                data = sock.recv(65536)
                if not data:
                    raise Reconnect(REFUSED, "closed during the handshake")
                head += data
        except OSError as exc:
            raise Reconnect(REFUSED, f"handshake failed: {exc}") from None
        end = head.index(b"\r\n\r\n") + 4
        protocol.receive_data(head[:end])
        events = protocol.events_received()
        if protocol.handshake_exc is not None or not events or \
                not isinstance(events[0], Response):
            raise Reconnect(REFUSED, f"handshake refused: {protocol.handshake_exc}")
        self._buf = head[end:]

    def close(self) -> None:
        """Send a close frame (best effort) and close the socket."""
        with contextlib.suppress(Exception):
            if not self.closed:
                self._protocol.send_close(1000)
                self._flush()
        self.abort()

    def abort(self) -> None:
        """Close the socket now; a ``receive`` blocked in another thread returns."""
        self.closed = True
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            _close_quietly(sock)

    # --- sending ------------------------------------------------------------------------------

    def send_text(self, text: str) -> None:
        self._protocol.send_text(text.encode())
        self._flush()

    def send_ping(self, payload: bytes = b"") -> None:
        self._protocol.send_ping(payload)
        self._flush()

    def _flush(self) -> None:
        data = b"".join(self._protocol.data_to_send())
        sock = self._sock
        if not data or sock is None:
            return
        try:
            sock.sendall(data)
        except OSError as exc:
            raise Reconnect(NETWORK, f"send failed: {exc}") from None

    # --- receiving ----------------------------------------------------------------------------

    def more(self) -> bool:
        """Bytes are waiting: the next ``receive`` returns at once."""
        sock = self._sock
        if sock is None:
            return False
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        try:
            return bool(select.select([sock], [], [], 0)[0])
        except (OSError, ValueError):
            return False

    def receive(self, out: list[bytes]) -> int:
        """Read once (up to ``poll_s``) and append every complete text message to ``out``.
        Returns the bytes read (0 when nothing came). Raises ``Reconnect`` when the connection
        is over."""
        sock = self._sock
        if sock is None:
            raise Reconnect(CLOSED, "connection closed")
        try:
            data = sock.recv(RECV_BYTES)
        except TimeoutError:
            return 0
        except OSError as exc:
            raise Reconnect(CLOSED if self.closed else NETWORK, f"receive failed: {exc}") \
                from None
        if not data:
            raise Reconnect(CLOSED, "closed by the server")
        buf = self._buf + data if self._buf else data
        end = len(buf)
        pos = 0
        max_message = self.max_message
        while end - pos >= 2:
            b0 = buf[pos]
            length = buf[pos + 1]
            if length & 0x80 or b0 & 0x70:
                raise Reconnect(PROTOCOL, "masked frame or reserved bit from the server")
            length &= 0x7F
            start = pos + 2
            if length == 126:
                if end - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                start = pos + 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2:pos + 10], "big")
                start = pos + 10
            if length > max_message:
                raise Reconnect(PROTOCOL, f"message of {length} bytes")
            if end - start < length:
                break
            pos = start + length
            if b0 == 0x81:  # FIN + text: nearly every frame
                out.append(buf[start:pos])
            else:
                self._frame(b0, buf[start:pos], out)
        self._buf = buf[pos:] if pos < end else b""
        self.last_rx = time.monotonic()
        return len(data)

    def _frame(self, b0: int, payload: bytes, out: list[bytes]) -> None:
        fin, op = b0 & 0x80, b0 & 0x0F
        if op >= _CLOSE and (not fin or len(payload) > 125):
            raise Reconnect(PROTOCOL, "fragmented or long control frame")
        if op == _PING:
            self._protocol.send_pong(payload)
            self._flush()
        elif op == _PONG:
            pass
        elif op == _CLOSE:
            with contextlib.suppress(Exception):
                self._protocol.send_close(1000)
                self._flush()
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            raise Reconnect(CLOSED, f"closed by the server ({code} "
                                    f"{payload[2:].decode(errors='replace')})".rstrip())
        elif op in (_TEXT, _BINARY):
            if self._fragments is not None:
                raise Reconnect(PROTOCOL, "new message inside a fragmented one")
            if fin:
                if op == _TEXT:
                    out.append(payload)
            else:
                self._fragments, self._fragment_op = [payload], op
        elif op == _CONTINUATION:
            if self._fragments is None:
                raise Reconnect(PROTOCOL, "continuation without a message")
            self._fragments.append(payload)
            if sum(map(len, self._fragments)) > self.max_message:
                raise Reconnect(PROTOCOL, "fragmented message too long")
            if fin:
                message, self._fragments = b"".join(self._fragments), None
                if self._fragment_op == _TEXT:
                    out.append(message)
        else:
            raise Reconnect(PROTOCOL, f"unknown opcode {op}")


def _close_quietly(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
