"""The engine's HTTP endpoint: ``/metrics`` exactly as prometheus_client serves it, and
``/healthz`` beside it on the same port.

``/healthz`` answers 200 only while the engine trades: boot reconciliation is done, every pair
that is not halted has started (at least one pair trades), no market-data connection is stale
(silent for ``[feed] feed_stale_s``), and nothing else the engine watches is failing silently
(a ``concern``: a user-data stream judged silent). Otherwise it answers 503. The body is one
line saying why, e.g. ``ok: reconciled, 3 pairs trading``, ``starting: not reconciled yet`` or
``degraded: market data stale on connection 0 (1024 symbols), prices by REST meanwhile``.
Load balancers, Docker's ``HEALTHCHECK`` and systemd watchers need nothing more.

``/status`` says which engine answers: a JSON object with its DB path (resolved), an instance
id (new at every start), its pid, mode, client id prefix and config file, and each symbol's
tick, step and quote asset. ``ratchet status`` uses a running engine's prices only when that
engine serves the DB it reads (two engines on one host may share a port over time: a paper
run, then a sim run), and prints numbers to the engine's tick and step.

Every other path goes to prometheus_client's own WSGI app (``make_wsgi_app``), so ``/metrics``,
its content negotiation and compression are unchanged.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

HEALTHZ = "/healthz"
STATUS = "/status"
STARTING, TRADING, STOPPING = "starting", "trading", "stopping"


class EngineHealth:
    """What ``/healthz`` reports. The CLI edge moves it: ``trading()`` once boot returned,
    ``stopping()`` when shutdown begins. Pair states come from the metrics (``pair_up``,
    ``pair_halted``), which the pairs and the Supervisor already keep."""

    def __init__(self, pairs: Callable[[], Iterable],
                 stale_feeds: Callable[[], list[tuple[str, int]]] = list) -> None:
        self._pairs = pairs
        self._stale_feeds = stale_feeds  # (connection, symbols) of each stale connection
        self._phase = STARTING
        self._lock = threading.Lock()
        self._concerns: dict[str, str] = {}

    def trading(self) -> None:
        with self._lock:
            self._phase = TRADING

    def stopping(self) -> None:
        with self._lock:
            self._phase = STOPPING

    def concern(self, name: str, reason: str | None) -> None:
        """Raise (with ``reason``) or clear (None) a concern that makes the engine unhealthy."""
        with self._lock:
            if reason is None:
                self._concerns.pop(name, None)
            else:
                self._concerns[name] = reason

    def check(self) -> tuple[bool, str]:
        """(healthy, one line)."""
        with self._lock:
            phase, concerns = self._phase, sorted(self._concerns.values())
        if phase == STARTING:
            return False, "starting: not reconciled yet"
        if phase == STOPPING:
            return False, "stopping"
        pairs = list(self._pairs())
        up = sorted(pm.symbol for pm in pairs if pm.is_up)
        halted = sorted(pm.symbol for pm in pairs if pm.is_halted)
        down = sorted(pm.symbol for pm in pairs if not pm.is_up and not pm.is_halted)
        if down:
            return False, f"degraded: {len(down)} pair(s) not trading: {', '.join(down[:5])}"
        stale = self._stale_feeds()
        if stale:
            names = ", ".join(f"{label} ({symbols} symbols)" for label, symbols in stale[:5])
            return False, (f"degraded: market data stale on connection(s) {names}, prices "
                           "by REST meanwhile")
        if concerns:
            return False, "degraded: " + "; ".join(concerns)
        if not up:
            return False, "halted: no pair is trading" + (
                f" ({len(halted)} halted)" if halted else "")
        line = f"ok: reconciled, {len(up)} pair(s) trading"
        return True, line + (f", {len(halted)} halted" if halted else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineIdentity:
    """Which engine this is, for ``/status``. ``symbols`` answers each symbol's number format
    as strings (``{"tick": "0.01", "step": "0.00001", "quote": "USDT"}``) at request time."""

    db_path: str
    mode: str = ""
    prefix: str = ""
    config: str = ""
    instance: str = field(default_factory=lambda: uuid.uuid4().hex)
    pid: int = field(default_factory=os.getpid)
    started_at: float = field(default_factory=time.time)
    symbols: Callable[[], Mapping[str, Mapping[str, str]]] = dict

    def document(self, health: EngineHealth) -> dict:
        healthy, line = health.check()
        try:
            symbols = {s: dict(v) for s, v in self.symbols().items()}
        except Exception:  # noqa: BLE001 - the identity matters more than the formats
            symbols = {}
        return {"db_path": self.db_path, "instance": self.instance, "pid": self.pid,
                "mode": self.mode, "client_id_prefix": self.prefix, "config": self.config,
                "started_at": self.started_at, "healthy": healthy, "health": line,
                "symbols": symbols}


def app(registry: CollectorRegistry, health: EngineHealth,
        identity: Callable[[], EngineIdentity | None] = lambda: None) -> Callable:
    """The WSGI app: ``/healthz`` and ``/status`` here, everything else prometheus_client's."""
    metrics_app = make_wsgi_app(registry)

    def ratchet_app(environ, start_response):
        path = environ.get("PATH_INFO")
        if path == STATUS:
            engine = identity()
            if engine is None:
                body = b"no engine identity\n"
                status, kind = "404 Not Found", "text/plain; charset=utf-8"
            else:
                body = (json.dumps(engine.document(health), sort_keys=True) + "\n").encode()
                status, kind = "200 OK", "application/json"
        elif path == HEALTHZ:
            healthy, line = health.check()
            body = (line + "\n").encode()
            status = "200 OK" if healthy else "503 Service Unavailable"
            kind = "text/plain; charset=utf-8"
        else:
            return metrics_app(environ, start_response)
        start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body))),
                                ("Cache-Control", "no-store")])
        return [body] if environ.get("REQUEST_METHOD") != "HEAD" else [b""]

    return ratchet_app


class _QuietHandler(WSGIRequestHandler):
    """No access log line per scrape (prometheus_client's server is quiet too)."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def serve(host: str, port: int, wsgi_app: Callable) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``wsgi_app`` on ``host:port`` from a daemon thread, as prometheus_client's
    ``start_http_server`` does (one thread per request, IPv4 or IPv6 by the host)."""
    family, sockaddr = _best_family(host, port)

    class Server(ThreadingWSGIServer):
        address_family = family

    httpd = make_server(sockaddr, port, wsgi_app, Server, handler_class=_QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return httpd, thread


def _best_family(host: str, port: int) -> tuple[int, str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr[0]
