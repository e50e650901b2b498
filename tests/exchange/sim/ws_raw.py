"""A websocket client for tests that shows every frame it receives, pings and close frames
included, and answers the server's pings only when told to (the ``websockets`` package's
sans-I/O ``ClientProtocol`` over a plain socket)."""

from __future__ import annotations

import socket
import time
from collections import deque
from urllib.parse import urlsplit

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri


class RawWs:
    def __init__(self, url: str, *, answer_pings: bool = True, timeout: float = 5) -> None:
        parts = urlsplit(url)
        self.answer_pings = answer_pings
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self.protocol = ClientProtocol(parse_uri(url))
        self.protocol.send_request(self.protocol.connect())
        self.sock.sendall(b"".join(self.protocol.data_to_send()))
        self.response: Response | None = None
        self._frames: deque[Frame] = deque()
        self.eof = False
        while self.response is None and not self.eof:
            self._read()

    def _read(self) -> None:
        data = self.sock.recv(65536)
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
            self.eof = True
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                self.response = event
            else:
                self._frames.append(event)
        out = b"".join(self.protocol.data_to_send())  # pongs, the close reply
        if out and self.answer_pings and not self.eof:
            self.sock.sendall(out)

    def frame(self, timeout: float = 5) -> Frame | None:
        """The next frame, or ``None`` once the server has closed the connection."""
        deadline = time.monotonic() + timeout
        while not self._frames and not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame")
            self.sock.settimeout(left)
            self._read()
        return self._frames.popleft() if self._frames else None

    def frames_until_closed(self, timeout: float = 5) -> list[Frame]:
        """Every frame until the server closes the connection."""
        frames = []
        while (frame := self.frame(timeout)) is not None:
            frames.append(frame)
        return frames

    def until(self, opcode: Opcode, timeout: float = 5) -> Frame:
        """The next frame of ``opcode`` (others are skipped)."""
        while (frame := self.frame(timeout)) is not None:
            if frame.opcode is opcode:
                return frame
        raise AssertionError(f"closed before a {opcode.name} frame")

    def send_text(self, text: str) -> None:
        self.protocol.send_text(text.encode())
        self.sock.sendall(b"".join(self.protocol.data_to_send()))

    def close(self) -> None:
        self.sock.close()
