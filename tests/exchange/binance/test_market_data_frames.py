"""The edge's websocket client (``ws_client.WsClient``) against a raw server that sends exactly
the bytes a test chooses: frames of every length encoding, split anywhere, fragmented with a
ping in between, the closing handshake, and what a server must never send."""

from __future__ import annotations

import base64
import hashlib
import socket
import threading

import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from exchange.binance.ws_client import CLOSED, PROTOCOL, REFUSED, Reconnect, WsClient

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(opcode: Opcode, data: bytes, fin: bool = True, mask: bool = False) -> bytes:
    return Frame(opcode, data, fin).serialize(mask=mask, extensions=[])


class RawServer:
    """Accepts one connection, answers its handshake (or ``status``), then sends what the test
    gives to ``send`` and keeps what the client sends in ``received`` (decoded frames)."""

    def __init__(self, status: int = 101) -> None:
        self.status = status
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self.listener.getsockname()[1]}/stream?streams=x@aggTrade"
        self.conn: socket.socket | None = None
        self.received: list[Frame] = []
        self._ready = threading.Event()
        self._reader = Protocol(Side.SERVER, state=State.OPEN)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(4096)
        if self.status != 101:
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            return
        key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key"))
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        self.conn = conn
        self._ready.set()
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            self._reader.receive_data(data)
            self.received += [e for e in self._reader.events_received()
                              if isinstance(e, Frame)]

    def send(self, data: bytes) -> None:
        self._ready.wait(5)
        self.conn.sendall(data)

    def close(self) -> None:
        self.listener.close()
        if self.conn is not None:
            self.conn.close()


@pytest.fixture
def server():
    server = RawServer()
    yield server
    server.close()


def connected(server: RawServer) -> WsClient:
    client = WsClient(server.url, timeout_s=5, poll_s=0.05)
    client.connect()
    return client


def read_until(client: WsClient, count: int, reads: int = 200) -> list[bytes]:
    out: list[bytes] = []
    for _ in range(reads):
        client.receive(out)
        if len(out) >= count:
            break
    return out


def test_messages_of_every_length_encoding_arrive_whole_however_the_bytes_are_split(server):
    client = connected(server)
    messages = [b"x" * 10, b"y" * 126, b"z" * 300, b"w" * 70_000]
    stream = b"".join(frame(Opcode.TEXT, m) for m in messages)

    for cut in range(0, len(stream), 7):  # 7-byte pieces: headers and lengths split too
        server.send(stream[cut:cut + 7])
    got = read_until(client, len(messages), reads=20_000)

    assert got == messages
    client.close()


def test_a_fragmented_message_is_joined_and_a_ping_inside_it_answered(server):
    client = connected(server)

    server.send(frame(Opcode.TEXT, b'{"a":', fin=False) + frame(Opcode.PING, b"hi")
                + frame(Opcode.CONT, b'"b"', fin=False) + frame(Opcode.CONT, b"}"))
    got = read_until(client, 1)
    client.close()
    pongs = [f for f in server.received if f.opcode is Opcode.PONG]

    assert got == [b'{"a":"b"}']
    assert [p.data for p in pongs] == [b"hi"]


def test_binary_messages_are_skipped(server):
    client = connected(server)

    server.send(frame(Opcode.BINARY, b"\x00\x01") + frame(Opcode.TEXT, b"{}"))

    assert read_until(client, 1) == [b"{}"]
    client.close()


def test_a_close_from_the_server_is_answered_and_ends_the_connection(server):
    client = connected(server)
    server.send(frame(Opcode.TEXT, b"{}") + frame(Opcode.CLOSE, b"\x03\xe9going away"))

    out: list[bytes] = []
    with pytest.raises(Reconnect) as ended:
        for _ in range(100):
            client.receive(out)

    assert ended.value.cause == CLOSED and "1001 going away" in str(ended.value)
    assert out == [b"{}"]
    client.abort()


@pytest.mark.parametrize("bad", [
    frame(Opcode.TEXT, b"{}", mask=True),
    bytes([0x81 | 0x40, 2]) + b"{}",  # RSV1 without an extension
    bytes([0x83, 0]),  # opcode 3
    frame(Opcode.CONT, b"{}"),  # continuation of nothing
    bytes([0x09, 1]) + b"p",  # a ping without FIN
], ids=["masked", "reserved-bit", "unknown-opcode", "stray-continuation", "fragmented-ping"])
def test_what_a_server_must_not_send_ends_the_connection(server, bad):
    client = connected(server)
    server.send(bad)

    with pytest.raises(Reconnect) as ended:
        for _ in range(100):
            client.receive([])

    assert ended.value.cause == PROTOCOL
    client.abort()


def test_a_message_over_the_size_limit_ends_the_connection(server):
    client = WsClient(server.url, timeout_s=5, poll_s=0.05, max_message=1000)
    client.connect()
    server.send(frame(Opcode.TEXT, b"x" * 1001))

    with pytest.raises(Reconnect) as ended:
        for _ in range(100):
            client.receive([])

    assert ended.value.cause == PROTOCOL
    client.abort()


def test_a_refused_handshake_is_a_refusal():
    server = RawServer(status=404)
    try:
        with pytest.raises(Reconnect) as refused:
            WsClient(server.url, timeout_s=5).connect()
    finally:
        server.close()

    assert refused.value.cause == REFUSED


def test_nothing_listening_is_a_refusal():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()

    with pytest.raises(Reconnect) as refused:
        WsClient(f"ws://127.0.0.1:{port}/stream", timeout_s=2).connect()

    assert refused.value.cause == REFUSED
