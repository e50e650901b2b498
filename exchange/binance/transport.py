"""The one request path of the python-binance adapter (``exchange.binance.exchange``), and the
helpers that set its client up.

Every REST call goes through ``_call``, which checks the send gate (nothing is sent while
banned or backing off), waits for the order pacer (nothing is sent that the venue's ORDERS or
weight limits would refuse), times the request, reads the ``X-MBX-*`` usage headers and maps a
failure to the ``core.errors`` tree (``errors.map_error``). A -1021 (clock skew) resyncs the
timestamp offset from ``/api/v3/time`` and retries once; nothing else is retried here: the
Gateway decides (DESIGN.md §4).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import requests
from binance.exceptions import BinanceAPIException

from core.errors import VenueBanned, VenueError
from exchange.binance.dto import ServerTimeDTO
from exchange.binance.errors import ClockSkew, map_error

log = logging.getLogger("ratchet.binance")
T = TypeVar("T")

# The python-binance calls that place an order: the venue counts them in its ORDERS windows.
ORDER_PLACEMENTS = frozenset({"create_order", "cancel_replace_order"})


class Metrics(Protocol):
    """What the adapter reports; ``telemetry.metrics`` provides it. Optional."""

    def exchange_request(self, endpoint: str, seconds: float) -> None: ...
    def exchange_error(self, code: str) -> None: ...
    def weight_used(self, n: int) -> None: ...
    def banned(self, on: bool) -> None: ...
    def unreadable_event(self) -> None: ...
    def missed_events(self, n: int) -> None: ...
    def user_stream_stale(self, stale: bool) -> None: ...


def plain(value: Decimal) -> str:
    """A Decimal as Binance wants it: no exponent, no trailing zeros (``1E-5`` → ``0.00001``)."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def pin_environment(session: requests.Session, url: str) -> None:
    """Read proxy and CA-bundle settings from the environment once, not on every request.

    requests re-scans ``os.environ`` for each request when ``trust_env`` is on (about 1 ms,
    several under load); the same settings, read at start, are kept on the session instead.
    """
    session.proxies.update(requests.utils.get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False


def ws_api_url_for(base_url: str) -> str | None:
    """The WebSocket API URL beside a REST base URL (``http://h:p`` → ``ws://h:p/ws-api/v3``).

    ``None`` for Binance's own hosts, whose WebSocket API lives elsewhere: python-binance
    knows those URLs (production, or testnet with ``testnet=True``).
    """
    base = base_url.rstrip("/")
    scheme, _, rest = base.partition("://")
    host = urlsplit(base).hostname or ""
    if host.endswith((".binance.com", ".binance.vision", ".binance.us")):
        return None
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ws-api/v3"


class ClientPool:
    """python-binance ``Client``s, one per request in flight: a ``Client`` keeps the last
    response on itself (the usage headers are read from it), so two requests may not share one.
    Boot reconciliation sends its queries and stops side by side; the Gateway, one at a time.
    ``MAX_CLIENTS`` bounds the requests in flight; more wait for a free client."""

    MAX_CLIENTS = 16  # boot reconciliation's READERS and SENDERS

    def __init__(self, first: Any, make: Callable[[], Any]) -> None:
        self._make = make
        self._all = [first]
        self._free = queue.LifoQueue()
        self._free.put(first)
        self._lock = threading.Lock()

    @contextmanager
    def client(self) -> Iterator[Any]:
        try:
            client = self._free.get_nowait()
        except queue.Empty:
            with self._lock:
                grow = len(self._all) < self.MAX_CLIENTS
                if grow:
                    client = self._make()
                    client.timestamp_offset = self._all[0].timestamp_offset
                    self._all.append(client)
            if not grow:
                client = self._free.get()
        try:
            yield client
        finally:
            self._free.put(client)

    def set_offset(self, offset_ms: int) -> None:
        """The signing clock offset, for every client (python-binance adds it to time.time)."""
        with self._lock:
            for client in self._all:
                client.timestamp_offset = offset_ms

    def close(self) -> None:
        with self._lock:
            for client in self._all:
                client.close_connection()


class RequestPath:
    """The request path, mixed into ``BinanceExchange``: it needs ``_clients`` (a
    ``ClientPool``), ``gate``, ``meter``, ``pacer``, ``_lock``, ``_metrics`` and
    ``_ban_reported``."""

    def _call(
        self, endpoint: str, fn: Callable[..., T], /, *,
        salvage: Callable[[BinanceAPIException], Any] | None = None, **params: Any,
    ) -> T:
        """Send one request with a free client: ``fn`` names the ``Client`` method (a method of
        ``self.client``). ``salvage`` may turn an API error into a result (cancelReplace)."""
        name = fn.__name__
        with self._clients.client() as client:
            try:
                return self._send(endpoint, client, getattr(client, name), salvage, params)
            except ClockSkew:
                self._resync_with(client)
                return self._send(endpoint, client, getattr(client, name), salvage, params)

    def _send(self, endpoint: str, client: Any, fn: Callable[..., Any], salvage,
              params: dict) -> Any:
        self.gate.check()
        self.pacer.before_request()
        if getattr(fn, "__name__", "") in ORDER_PLACEMENTS:
            self.pacer.before_order()
        started = time.perf_counter()
        try:
            result = fn(**params)
        except Exception as exc:
            elapsed = time.perf_counter() - started
            if isinstance(exc, BinanceAPIException):
                self._observe(getattr(exc.response, "headers", None))
                if salvage is not None and (salvaged := salvage(exc)) is not None:
                    self._count_error(str(exc.code))
                    self._timed(endpoint, elapsed)
                    return salvaged
            err = map_error(exc, endpoint=endpoint)
            self._on_error(err)
            self._timed(endpoint, elapsed)
            raise err from exc
        self._timed(endpoint, time.perf_counter() - started)
        if self._ban_reported:
            self._ban_reported = False
            if self._metrics is not None:
                self._metrics.banned(False)
        self._observe(getattr(client.response, "headers", None))
        return result

    def _on_error(self, err: VenueError) -> None:
        label = str(err.code) if err.code is not None else (
            str(err.http_status) if err.http_status is not None else type(err).__name__)
        self._count_error(label)
        if isinstance(err, VenueBanned):
            self.gate.ban(err.retry_after_s)
            log.error("binance ban (418): nothing is sent for %.0f s", err.retry_after_s)
            self._ban_reported = True
            if self._metrics is not None:
                self._metrics.banned(True)
        elif err.http_status == 429:
            self.gate.back_off(getattr(err, "retry_after_s", None) or 1.0)

    def _observe(self, headers: Any) -> None:
        self.pacer.observe(headers)
        weight = self.meter.observe(headers)
        if weight is not None and self._metrics is not None:
            self._metrics.weight_used(weight)

    def _timed(self, endpoint: str, seconds: float) -> None:
        if self._metrics is not None:
            self._metrics.exchange_request(endpoint, seconds)

    def _count_error(self, code: str) -> None:
        if self._metrics is not None:
            self._metrics.exchange_error(code)

    # --- clock and credentials ----------------------------------------------------------------

    def resync_clock(self, *, quiet: bool = False) -> int:
        """Set the signing offset from ``/api/v3/time``; returns it in milliseconds.
        ``quiet``: the caller logs it (connect, once the key is known to work)."""
        with self._clients.client() as client:
            return self._resync_with(client, quiet=quiet)

    def _resync_with(self, client: Any, *, quiet: bool = False) -> int:
        # python-binance signs with time.time() + timestamp_offset, so measure against it.
        before = time.time()
        raw = self._send("time", client, client.get_server_time, None, {})
        after = time.time()
        server = ServerTimeDTO.parse(raw).serverTime
        offset = server - round((before + after) * 500)
        self._clients.set_offset(offset)
        if not quiet:
            log_clock_offset(offset)
        return offset


def log_clock_offset(offset_ms: int) -> None:
    log.info("clock offset to binance: %d ms", offset_ms)
