"""A TCP proxy between the engine and the sim that can make one kind of connection fail quietly,
as a network does: ``silence`` keeps it open but drops what the server sends, ``cut`` closes it
at once. A connection's kind is the path of its first request (``/ws-api/v3``: the user-data
stream; ``/stream``: market data; anything else: REST)."""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field

KINDS = {"/ws-api/": "user", "/stream": "market", "/ws/": "market"}


def kind_of(first: bytes) -> str:
    line = first.split(b"\r\n", 1)[0].decode(errors="replace")
    path = line.split(" ")[1] if line.count(" ") >= 2 else ""
    return next((kind for prefix, kind in KINDS.items() if path.startswith(prefix)), "rest")


@dataclass
class Link:
    kind: str
    client: socket.socket
    server: socket.socket
    silent: bool = False
    closed: bool = False

    def close(self) -> None:
        self.closed = True
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@dataclass
class Proxy:
    """``Proxy(port).start()`` listens on 127.0.0.1 (``url``) and forwards to ``port``."""

    target_port: int
    links: list[Link] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Proxy:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def count(self, kind: str) -> int:
        """Open connections of ``kind``."""
        with self.lock:
            return sum(1 for link in self.links if link.kind == kind and not link.closed)

    def silence(self, kind: str) -> int:
        """Drop what the server sends on the open connections of ``kind``; they stay open.
        Returns how many were silenced."""
        with self.lock:
            links = [link for link in self.links if link.kind == kind and not link.closed]
        for link in links:
            link.silent = True
        return len(links)

    def cut(self, kind: str) -> int:
        """Close the open connections of ``kind`` at once, as a dropped network would."""
        with self.lock:
            links = [link for link in self.links if link.kind == kind and not link.closed]
        for link in links:
            link.close()
        return len(links)

    def stop(self) -> None:
        self.listener.close()
        with self.lock:
            links = list(self.links)
        for link in links:
            link.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._open, args=(client,), daemon=True).start()

    def _open(self, client: socket.socket) -> None:
        try:
            first = client.recv(65536)
            server = socket.create_connection(("127.0.0.1", self.target_port))
        except OSError:
            client.close()
            return
        link = Link(kind_of(first), client, server)
        with self.lock:
            self.links.append(link)
        server.sendall(first)
        threading.Thread(target=self._pipe, args=(link, server, client, True),
                         daemon=True).start()
        self._pipe(link, client, server, False)

    @staticmethod
    def _pipe(link: Link, src: socket.socket, dst: socket.socket, from_server: bool) -> None:
        while not link.closed:
            try:
                data = src.recv(65536)
            except OSError:
                break
            if not data:
                break
            if from_server and link.silent:
                continue  # held open, saying nothing
            try:
                dst.sendall(data)
            except OSError:
                break
        link.close()
