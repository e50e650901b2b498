"""The market-stream generator of ``bench.feed_bench``: a small websocket server in a process of
its own (``python -m bench.feed_generator``), so building and sending frames never competes
with the reader for its interpreter lock.

It speaks what the edge uses of Binance's combined streams: ``/stream?streams=...``,
SUBSCRIBE answered ``{"result": null, "id": N}``, pings answered. Symbols are
``bench.engine_fleet.symbols`` (``P0000USDT`` ...), each an aggTrade stream whose prices walk
by one cent between 50 and 150 (``T`` and ``E``: the wall time the frame was built, in ms).

Commands, one JSON object a line on stdin, each answered by one on stdout:
- ``{"cmd": "wait", "streams": k}``: until the clients carry k streams in all;
- ``{"cmd": "flat", "messages": m}``: m messages round-robin over the subscribed symbols, all
  queued at once (no cut): the readers' maximum;
- ``{"cmd": "burst", "rate": r, "factor": 10, "lead_s": .., "burst_s": .., "tail_s": ..}``:
  r messages a second, ``factor`` x r during the burst; in the burst each symbol gets one
  spike high (500.00 and up) and one spike low (under 10.00), the run's extremes. Answers
  what was sent per symbol and the spikes. Like Binance, a client that falls ``MAX_BACKLOG``
  frames behind what its socket takes is cut (``cut``);
- ``{"cmd": "quit"}``.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import hashlib
import json
import random
import socket
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_BACKLOG = 50_000  # frames, as the sim's cut-off (exchange/sim/ws.py)
TICK_S = 0.002
CHUNK = 2000  # frames per queued chunk in a flat run
TEMPLATE = (b'{"stream":"%s","data":{"e":"aggTrade","E":%d,"s":"%s","a":%d,"p":"%s",'
            b'"q":"1.00000000","f":1,"l":1,"T":%d,"m":false,"M":true}}')
LOW, HIGH = 5000, 15000  # the walk's bounds, in cents


def symbol_name(n: int) -> str:
    return f"P{n:04d}USDT"


def frame(body: bytes) -> bytes:
    size = len(body)
    if size < 126:
        return bytes((0x81, size)) + body
    if size < 65536:
        return b"\x81\x7e" + size.to_bytes(2, "big") + body
    return b"\x81\x7f" + size.to_bytes(8, "big") + body


def cents(value: int) -> bytes:
    return b"%d.%02d" % divmod(value, 100)


class Client:
    def __init__(self, sock: socket.socket, streams: set[str]) -> None:
        self.sock = sock
        self.streams = streams
        self.queue: collections.deque[tuple[bytes, int]] = collections.deque()
        self.backlog = 0
        self.limit: int | None = MAX_BACKLOG
        self.cut = False
        self.closed = False
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.protocol = Protocol(Side.SERVER, state=State.OPEN, max_size=2**20)
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._send, daemon=True).start()

    def put(self, data: bytes, frames: int) -> None:
        with self.lock:
            if self.closed:
                return
            if self.limit is not None and self.backlog + frames > self.limit:
                self.cut = True
                self._close()
                return
            self.queue.append((data, frames))
            self.backlog += frames
        self.wake.set()

    def _send(self) -> None:
        while not self.closed:
            self.wake.wait(0.1)
            self.wake.clear()
            while True:
                with self.lock:
                    if not self.queue:
                        break
                    data, frames = self.queue.popleft()
                try:
                    self.sock.sendall(data)
                except OSError:
                    self._close()
                    return
                with self.lock:
                    self.backlog -= frames

    def _read(self) -> None:
        while not self.closed:
            try:
                data = self.sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            with self.lock:
                self.protocol.receive_data(data)
                events = self.protocol.events_received()
            for event in events:
                if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    self._request(json.loads(event.data))
            with self.lock:
                out = b"".join(self.protocol.data_to_send())  # pongs
            if out:
                self.put(out, 0)
        with self.lock:
            self._close()

    def _request(self, request: dict) -> None:
        params = set(request.get("params") or [])
        if request.get("method") == "SUBSCRIBE":
            self.streams |= params
        elif request.get("method") == "UNSUBSCRIBE":
            self.streams -= params
        with self.lock:
            self.protocol.send_text(json.dumps({"result": None, "id": request.get("id")})
                                    .encode())
            out = b"".join(self.protocol.data_to_send())
        self.put(out, 0)

    def _close(self) -> None:  # holding the lock
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                self.sock.close()
        self.wake.set()


class Generator:
    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.clients: list[Client] = []
        self.joined = 0  # clients accepted so far: a burst re-routes when it changes
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            sock, _ = self.listener.accept()
            try:
                self._handshake(sock)
            except (OSError, ValueError, StopIteration):
                sock.close()

    def _handshake(self, sock: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            data = sock.recv(65536)
            if not data:
                raise ValueError("closed in the handshake")
            request += data
        head, _, rest = request.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        path = lines[0].split(b" ")[1].decode()
        key = next(line.split(b":", 1)[1].strip() for line in lines
                   if line.lower().startswith(b"sec-websocket-key"))
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        query = parse_qs(urlsplit(path).query)
        streams = {s for s in query.get("streams", [""])[0].split("/") if s}
        client = Client(sock, streams)
        if rest:
            client.protocol.receive_data(rest)
        self.clients = [c for c in self.clients if not c.closed] + [client]
        self.joined += 1

    def routes(self) -> list[tuple[bytes, bytes, Client]]:
        """(stream, symbol, client) of every subscribed symbol, in symbol order; a stream two
        clients carry goes to the newer."""
        found: dict[str, Client] = {}
        for client in self.clients:
            if not client.closed:
                found.update(dict.fromkeys(client.streams, client))
        return sorted(((stream.encode(), stream.split("@")[0].upper().encode(), client)
                       for stream, client in found.items()), key=lambda r: r[1])

    def open_clients(self, timeout_s: float = 0) -> dict:
        """How many clients are connected, after waiting up to ``timeout_s`` for none."""
        deadline = time.monotonic() + timeout_s
        while any(not c.closed for c in self.clients) and time.monotonic() < deadline:
            time.sleep(0.02)
        return {"open": sum(not c.closed for c in self.clients)}

    # --- commands ---------------------------------------------------------------------------

    def wait(self, streams: int, timeout_s: float = 120) -> dict:
        deadline = time.monotonic() + timeout_s
        while len(self.routes()) < streams and time.monotonic() < deadline:
            time.sleep(0.02)
        return {"streams": len(self.routes())}

    def flat(self, messages: int) -> dict:
        routes = self.routes()
        walk = [10000] * len(routes)
        by_client: dict[Client, list[bytes]] = collections.defaultdict(list)
        now = int(time.time() * 1000)
        for n in range(messages):
            i = n % len(routes)
            stream, symbol, client = routes[i]
            walk[i] += 1 if (n * 7919) % 3 else -1
            body = TEMPLATE % (stream, now, symbol, n, cents(walk[i]), now)
            by_client[client].append(frame(body))
        began = time.time()
        for client, frames in by_client.items():
            client.limit = None
            for at in range(0, len(frames), CHUNK):
                part = frames[at:at + CHUNK]
                client.put(b"".join(part), len(part))
        return {"sent": messages, "began": began}

    def burst(self, rate: float, factor: float, lead_s: float, burst_s: float,
              tail_s: float, seed: int = 7) -> dict:
        routes = self.routes()
        n_routes = len(routes)
        index = {symbol: i for i, (_, symbol, _) in enumerate(routes)}
        joined = self.joined
        rng = random.Random(seed)
        walk = [rng.randrange(LOW, HIGH) for _ in routes]
        sent = [0] * n_routes
        spiked = [0] * n_routes  # 0: none yet, 1: the high sent, 2: both
        highs = [50000 + i for i in range(n_routes)]
        lows = [999 - i % 900 for i in range(n_routes)]
        for client in self.clients:
            client.limit = MAX_BACKLOG
        cut_before = sum(c.cut for c in self.clients)
        total_s = lead_s + burst_s + tail_s
        began = time.monotonic()
        wall_began = time.time()
        done = 0
        cursor = 0
        behind = 0.0
        while True:
            now = time.monotonic()
            t = now - began
            if t >= total_s:
                break
            in_burst = lead_s <= t < lead_s + burst_s
            if t < lead_s:
                due = rate * t
            elif in_burst:
                due = rate * lead_s + rate * factor * (t - lead_s)
            else:
                due = rate * lead_s + rate * factor * burst_s + rate * (t - lead_s - burst_s)
            count = int(due) - done
            if self.joined != joined:  # a client reconnected: its symbols go to it now
                joined = self.joined
                for stream, symbol, client in self.routes():
                    if symbol in index:
                        routes[index[symbol]] = (stream, symbol, client)
            if count > 0:
                ms = int(time.time() * 1000)
                out: dict[Client, list[bytes]] = collections.defaultdict(list)
                for _ in range(count):
                    i = cursor
                    cursor = (cursor + 1) % n_routes
                    stream, symbol, client = routes[i]
                    if in_burst and spiked[i] < 2:
                        price = highs[i] if spiked[i] == 0 else lows[i]
                        spiked[i] += 1
                    else:
                        step = walk[i] + (1 if rng.random() < 0.5 else -1)
                        walk[i] = step if LOW <= step <= HIGH else walk[i]
                        price = walk[i]
                    out[client].append(frame(TEMPLATE % (stream, ms, symbol, done, cents(price),
                                                         ms)))
                    sent[i] += 1
                    done += 1
                for client, frames in out.items():
                    client.put(b"".join(frames), len(frames))
                behind = max(behind, time.monotonic() - now)
            time.sleep(TICK_S)
        missed = [symbol.decode() for (_, symbol, _), s in zip(routes, spiked, strict=True)
                  if s < 2]
        return {"sent": done, "began": wall_began,
                "per_symbol": {symbol.decode(): n for (_, symbol, _), n in
                               zip(routes, sent, strict=True)},
                "highs": {symbol.decode(): cents(h).decode() for (_, symbol, _), h in
                          zip(routes, highs, strict=True)},
                "lows": {symbol.decode(): cents(low).decode() for (_, symbol, _), low in
                         zip(routes, lows, strict=True)},
                "no_spike": missed, "cut": sum(c.cut for c in self.clients) - cut_before,
                "build_s_max": behind}


def main() -> None:
    generator = Generator()
    print(json.dumps({"port": generator.port}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        name = command.pop("cmd")
        if name == "quit":
            break
        answer = getattr(generator, name)(**command)
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
