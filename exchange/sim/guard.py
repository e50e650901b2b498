"""What stands before every ``/api/v3`` request: key, signature, clock and rate limits.

All answers are Binance's: codes, messages, HTTP statuses and ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlencode

MAX_RECV_WINDOW_MS = 60_000
AHEAD_TOLERANCE_MS = 1_000
VIOLATIONS_TO_BAN = 3


@dataclass
class SimError(Exception):
    """A Binance error answer: HTTP ``status`` with ``{"code", "msg"}`` (plus ``data``), or,
    with ``html``, a page that is not JSON at all (the WAF's 403)."""

    status: int
    code: int
    msg: str
    headers: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] | None = None
    html: str | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "msg": self.msg}
        if self.data is not None:
            body["data"] = self.data
        return body


def mandatory(name: str) -> SimError:
    return SimError(
        400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def hmac_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def check_key(api_key: str | None, keys: Mapping[str, str]) -> str:
    """The secret of ``api_key``; -2014 when absent or malformed, -2015 when unknown."""
    if not api_key:
        raise SimError(401, -2014, "API-key format invalid.")
    secret = keys.get(api_key)
    if secret is None:
        raise SimError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    return secret


def check_signature(secret: str, query: str, body: str) -> None:
    """HMAC-SHA256 over ``query`` + ``body`` without the trailing ``signature``; -1022."""
    total = "&".join(part for part in (query, body) if part)
    signed, _, signature = total.rpartition("&signature=")
    if not signature and total.startswith("signature="):
        signed, signature = "", total[len("signature="):]
    if not signature:
        raise mandatory("signature")
    for candidate in (signed, unquote_plus(signed)):
        if hmac.compare_digest(hmac_hex(secret, candidate), signature.lower()):
            return
    raise SimError(400, -1022, "Signature for this request is not valid.")


def check_ws_signature(secret: str, params: Mapping[str, Any]) -> None:
    """WebSocket API: HMAC over the sorted, urlencoded params other than ``signature``."""
    signature = str(params.get("signature", ""))
    payload = urlencode(sorted((k, v) for k, v in params.items() if k != "signature"))
    if not hmac.compare_digest(hmac_hex(secret, payload), signature.lower()):
        raise SimError(400, -1022, "Signature for this request is not valid.")


def check_timestamp(params: Mapping[str, str], server_ms: int) -> None:
    """``timestamp`` within ``recvWindow`` (default 5000) of the server clock; -1021."""
    raw = params.get("timestamp")
    if not raw or not raw.isdigit():
        raise mandatory("timestamp")
    window_raw = params.get("recvWindow", "5000")
    if not window_raw.isdigit():
        raise mandatory("recvWindow")
    window = int(window_raw)
    if window > MAX_RECV_WINDOW_MS:
        raise SimError(400, -1131, "recvWindow must be less than 60000")
    stamp = int(raw)
    if stamp > server_ms + AHEAD_TOLERANCE_MS:
        raise SimError(
            400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."
        )
    if server_ms - stamp > window:
        raise SimError(400, -1021, "Timestamp for this request is outside of the recvWindow.")


class RateLimiter:
    """REQUEST_WEIGHT per minute and ORDERS per 10 s and per day, in fixed windows.

    A request refused again before an earlier 429's ``Retry-After`` has passed is a violation;
    the ``VIOLATIONS_TO_BAN``-th bans the client (418) for ``ban_s``.
    """

    def __init__(self, *, weight_1m: int, orders_10s: int, orders_1d: int, ban_s: int):
        self.weight_1m, self.orders_10s, self.orders_1d, self.ban_s = (
            weight_1m, orders_10s, orders_1d, ban_s)
        self._lock = threading.Lock()
        self._weight: dict[int, int] = {}
        self._orders_10s: dict[int, int] = {}
        self._orders_1d: dict[int, int] = {}
        self._wait_until_ms = 0
        self._banned_until_ms = 0
        self._violations = 0

    def rate_limits(self) -> list[dict[str, Any]]:
        """``exchangeInfo.rateLimits``."""
        return [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": self.weight_1m},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
             "limit": self.orders_10s},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1,
             "limit": self.orders_1d},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
             "limit": 300000},  # since 2026-04-02 (CHANGELOG)
        ]

    def ban(self, now_ms: int, seconds: float) -> None:
        with self._lock:
            self._banned_until_ms = max(self._banned_until_ms, now_ms + int(seconds * 1000))

    def admit(self, now_ms: int, weight: int, *, order: bool) -> None:
        """Count the request, or raise the 429/418 that refuses it."""
        with self._lock:
            if now_ms < self._banned_until_ms:
                raise self._banned(now_ms)
            minute = now_ms // 60_000
            used = self._weight.get(minute, 0) + weight
            self._weight = {minute: used}
            if used > self.weight_1m:
                raise self._too_many(now_ms, (minute + 1) * 60_000, -1003, (
                    f"Too much request weight used; current limit is {self.weight_1m} "
                    "request weight per 1 MINUTE. Please use WebSocket Streams for live "
                    "updates to avoid polling the API."))
            if order:
                self._count_order(now_ms)

    def charge(self, now_ms: int, weight: int) -> None:
        """Add weight after the fact (a failed order request costs 1)."""
        with self._lock:
            minute = now_ms // 60_000
            self._weight[minute] = self._weight.get(minute, 0) + weight

    def headers(self, now_ms: int, *, order: bool) -> dict[str, str]:
        with self._lock:
            out = {"X-MBX-USED-WEIGHT-1M": str(self._weight.get(now_ms // 60_000, 0))}
            if order:
                out["X-MBX-ORDER-COUNT-10S"] = str(self._orders_10s.get(now_ms // 10_000, 0))
                out["X-MBX-ORDER-COUNT-1D"] = str(self._orders_1d.get(now_ms // 86_400_000, 0))
            return out

    def _count_order(self, now_ms: int) -> None:
        ten, day = now_ms // 10_000, now_ms // 86_400_000
        n10, n1d = self._orders_10s.get(ten, 0) + 1, self._orders_1d.get(day, 0) + 1
        if n10 > self.orders_10s:
            raise self._too_many(now_ms, (ten + 1) * 10_000, -1015, (
                f"Too many new orders; current limit is {self.orders_10s} orders per 10 SECOND."))
        if n1d > self.orders_1d:
            raise self._too_many(now_ms, (day + 1) * 86_400_000, -1015, (
                f"Too many new orders; current limit is {self.orders_1d} orders per DAY."))
        self._orders_10s, self._orders_1d = {ten: n10}, {day: n1d}

    def _too_many(self, now_ms: int, until_ms: int, code: int, msg: str) -> SimError:
        if now_ms < self._wait_until_ms:
            self._violations += 1
            if self._violations >= VIOLATIONS_TO_BAN:
                self._violations = 0
                self._banned_until_ms = now_ms + self.ban_s * 1000
                return self._banned(now_ms)
        else:
            self._violations = 0
        self._wait_until_ms = max(self._wait_until_ms, until_ms)
        return SimError(429, code, msg, headers={"Retry-After": _seconds(until_ms - now_ms)})

    def _banned(self, now_ms: int) -> SimError:
        return SimError(
            418, -1003,
            f"Way too much request weight used; IP banned until {self._banned_until_ms}. "
            "Please use WebSocket Streams for live updates to avoid bans.",
            headers={"Retry-After": _seconds(self._banned_until_ms - now_ms)},
        )


def _seconds(delta_ms: int) -> str:
    return str(max(1, math.ceil(delta_ms / 1000)))
