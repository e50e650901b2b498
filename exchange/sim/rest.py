"""The sim's HTTP server: ``/api/v3`` (guarded, faulty on request) and ``/sim`` (control).

Order of work for an ``/api/v3`` request: count it, wait ``--latency-ms``, answer a forced
fault if one is queued, check the rate limits, then the key, signature and timestamp, then that
every parameter is one the endpoint reads (-1104), let an order request land late (answered
5xx now, applied later: ``exchange.sim.late``), inject a random (or forced cancelReplace)
fault, and finally run the endpoint.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from exchange.sim.api import Api, Endpoint
from exchange.sim.control import Control
from exchange.sim.faults import REPLACE_ONLY, Faults, Late
from exchange.sim.guard import (
    RateLimiter,
    SimError,
    check_key,
    check_signature,
    check_timestamp,
)
from exchange.sim.late import LateOrders
from exchange.sim.params import check_known
from exchange.sim.ws import WsHub

API_PREFIX = "/api/v3/"
SAPI_RESTRICTIONS = "/sapi/v1/account/apiRestrictions"
UNKNOWN_ERROR = SimError(500, -1000, "An unknown error occurred while processing the request.")
UNKNOWN_STATUS = SimError(503, -1007, (
    "Timeout waiting for response from backend server. Send status unknown; execution status "
    "unknown."))
# What Binance's web application firewall answers (rest-api.md: "HTTP 403 return code is used
# when a WAF rule has been violated"): an HTML page from the edge, no JSON, no X-MBX headers.
WAF_PAGE = ("<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n"
            "<center><h1>403 Forbidden</h1></center>\r\n</body>\r\n</html>\r\n")
WAF_BLOCKED = SimError(403, 0, "403 Forbidden", html=WAF_PAGE)
MESSAGE_BUS = SimError(500, -1006, (
    "An unexpected response was received from the message bus. Execution status unknown."))
LATE_ANSWER = {"-1007": UNKNOWN_STATUS, "500": UNKNOWN_ERROR, "-1006": MESSAGE_BUS}
DEFAULT_RECV_WINDOW_MS = 5000


class SimHTTPServer(ThreadingHTTPServer):
    """Holds what every request needs."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, *, api: Api, control: Control, faults: Faults,
                 limiter: RateLimiter, keys: dict[str, str], hub: WsHub, ws_api,
                 late: LateOrders, can_withdraw: bool = False) -> None:
        super().__init__(address, SimHandler)
        self.can_withdraw = can_withdraw
        self.api, self.control, self.faults, self.limiter = api, control, faults, limiter
        self.late = late
        self.keys, self.hub, self.ws_api = keys, hub, ws_api
        self.counts: Counter[str] = Counter()
        self.counts_lock = threading.Lock()


class SimHandler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server: SimHTTPServer
    server_version = "ratchet-sim"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: a request log line per call would drown the engine's output."""

    def do_GET(self) -> None:
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self.server.hub.serve(self, self.server.ws_api)
            return
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    # --- dispatch ------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if parts.path.startswith("/sim/"):
            self._control(method, parts.path, body)
            return
        endpoint_name = parts.path[len(API_PREFIX):] if parts.path.startswith(API_PREFIX) else None
        with self.server.counts_lock:
            self.server.counts[f"{method} {parts.path}"] += 1
        if parts.path == SAPI_RESTRICTIONS:
            endpoint = Endpoint(self._restrictions, lambda p: 1, signed=True)
        else:
            endpoint = self.server.api.routes.get((method, endpoint_name or ""))
        if endpoint is None:
            self._send(404, {"code": -1000, "msg": f"Unknown endpoint {method} {parts.path}"})
            return
        now = self.server.api.venue.clock.now_ms
        headers: dict[str, str] = {}
        try:
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
            params.update(parse_qsl(body, keep_blank_values=True))
            result = self._guarded(endpoint, (method, endpoint_name or ""), params,
                                   parts.query, body, headers)
        except SimError as err:
            if err.status == 0:  # a timeout: no answer at all
                self.close_connection = True
                return
            if err.html is not None:  # the WAF's page: nothing reached the API
                self._send_raw(err.status, err.html.encode(), "text/html")
                return
            if endpoint.order_write and err.status in (400, 401, 409):  # failed: weight 1
                self.server.limiter.charge(now(), 1)
            headers.update(err.headers)
            headers.update(self.server.limiter.headers(now(), order=endpoint.places_order))
            self._send(err.status, err.body(), headers)
            return
        headers.update(self.server.limiter.headers(now(), order=endpoint.places_order))
        self._send(200, result, headers)

    def _guarded(self, endpoint: Endpoint, route: tuple[str, str], params: dict[str, str],
                 query: str, body: str, headers: dict[str, str]) -> Any:
        server, now = self.server, self.server.api.venue.clock.now_ms
        if server.faults.latency_ms:
            time.sleep(server.faults.latency_ms / 1000)
        forced = server.faults.take_forced()
        if forced is not None:
            self._forced(forced.kind, forced.retry_after_s)
        server.limiter.admit(now(), endpoint.weight(params), order=endpoint.places_order)
        if endpoint.signed:
            secret = check_key(self.headers.get("X-MBX-APIKEY"), server.keys)
            check_signature(secret, query, body)
            check_timestamp(params, now())
        check_known(route, params, signed=endpoint.signed)
        if endpoint.places_order and (blocked := server.faults.stop_block(params)) is not None:
            self._forced(blocked.kind, blocked.retry_after_s)  # /sim/block
        if endpoint.places_order and (late := server.faults.late_order()) is not None:
            self._land_later(endpoint, params, late)
        if endpoint.order_write:
            replacing = endpoint.handler == server.api.cancel_replace
            fault = server.faults.order_fault(cancel_replace=replacing)
            if fault in REPLACE_ONLY:
                return server.api.cancel_replace(params, fault=fault)
            if fault is not None:
                if server.faults.applied():
                    with contextlib.suppress(SimError):
                        endpoint.handler(params)
                self._fail(fault)
        elif endpoint.read_faults and server.faults.read_fault():
            raise UNKNOWN_ERROR
        return endpoint.handler(params)

    def _land_later(self, endpoint: Endpoint, params: dict[str, str], late: Late) -> None:
        """Answer ``late.answer`` now and apply the request later, inside its recvWindow
        (``timestamp`` was checked; ``recvWindow`` defaults to 5000 as on Binance)."""
        server = self.server
        now = server.api.venue.clock.now_ms()
        deadline = int(params["timestamp"]) + int(
            params.get("recvWindow") or DEFAULT_RECV_WINDOW_MS)
        delay = late.delay_s
        if delay is None:
            delay = server.faults.landing_delay((deadline - now) / 1000)
        server.late.schedule(delay, deadline, lambda: endpoint.handler(params))
        raise LATE_ANSWER[late.answer]

    def _forced(self, kind: str, retry_after_s: int) -> None:
        now = self.server.api.venue.clock.now_ms()
        if kind == "418":
            self.server.limiter.ban(now, retry_after_s)
            self.server.limiter.admit(now, 0, order=False)  # raises the 418
        if kind == "429":
            raise SimError(429, -1003, "Too many requests; forced by /sim/force.",
                           headers={"Retry-After": str(retry_after_s)})
        if kind == "-1021":
            raise SimError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        if kind == "403":
            raise WAF_BLOCKED
        self._fail(kind)

    def _fail(self, kind: str) -> None:
        if kind == "timeout":
            time.sleep(self.server.faults.timeout_s)
            raise SimError(0, 0, "timeout")
        raise UNKNOWN_STATUS if kind == "-1007" else UNKNOWN_ERROR

    def _restrictions(self, params: dict[str, str]) -> dict[str, Any]:
        """``GET /sapi/v1/account/apiRestrictions``: what the key may do."""
        return {
            "ipRestrict": False, "createTime": 1700000000000, "enableReading": True,
            "enableSpotAndMarginTrading": True,
            "enableWithdrawals": self.server.can_withdraw,
            "enableInternalTransfer": False, "enableMargin": False, "enableFutures": False,
            "permitsUniversalTransfer": False, "enableVanillaOptions": False,
            "enableFixApiTrade": False, "enableFixReadOnly": False,
            "enablePortfolioMarginTrading": False,
        }

    def _control(self, method: str, path: str, body: str) -> None:
        try:
            payload = json.loads(body, parse_float=Decimal) if body else {}
            status, result = self.server.control.handle(method, path, payload)
        except SimError as err:
            status, result = err.status, err.body()
        except (ValueError, KeyError, TypeError) as exc:
            status, result = 400, {"code": -1, "msg": f"bad control request: {exc}"}
        self._send(status, result)

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode()
        self._send_raw(status, data, "application/json;charset=UTF-8", headers)

    def _send_raw(self, status: int, data: bytes, content_type: str,
                  headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
