"""What a failed Binance request means for the caller, as a ``core.errors`` error.

``map_error(exc)`` turns a python-binance ``BinanceAPIException`` / ``BinanceRequestException``
or a raw ``requests`` exception into one error of the tree (DESIGN.md §4):

==========================================  ==============================================
venue answer                                error raised
==========================================  ==============================================
timeout, connection lost, 5xx, 403 (the     ``StatusUnknown``: query by client id first
WAF), -1006, -1007, -1008, unreadable 2xx
body
418                                         ``VenueBanned(retry_after_s)``: stop sending
429 (-1003, -1015)                          ``RetryableVenueError(retry_after_s)``
-1021 (timestamp outside recvWindow)        ``ClockSkew``: resync the offset, retry once
-2011 (cancel), -2013 (query)               ``UnknownOrder``: re-query
-2014, -2015, -1022, HTTP 401               ``AuthError("invalid API key or secret")``
-2010, -1013 and any other 4xx              ``OrderRejected``: record it, never retry as is
==========================================  ==============================================
"""

from __future__ import annotations

import json
from typing import Any

import requests
from binance.exceptions import BinanceAPIException, BinanceRequestException

from core.errors import (
    AuthError,
    OrderRejected,
    RetryableVenueError,
    StatusUnknown,
    UnknownOrder,
    VenueBanned,
    VenueError,
    is_status_unknown,
)

AUTH_MESSAGE = "invalid API key or secret"
DEFAULT_BAN_S = 120.0  # Binance bans an IP for 2 minutes at least
DEFAULT_BACKOFF_S = 1.0

CODE_UNKNOWN_STATUS = -1007
CODE_CLOCK_SKEW = -1021
CODE_INVALID_SIGNATURE = -1022
CODE_TOO_MANY_REQUESTS = -1003
CODE_TOO_MANY_ORDERS = -1015
CODE_FILTER_FAILURE = -1013
CODE_NEW_ORDER_REJECTED = -2010
CODE_CANCEL_REJECTED = -2011
CODE_NO_SUCH_ORDER = -2013
CODE_BAD_API_KEY_FORMAT = -2014
CODE_REJECTED_API_KEY = -2015
CODE_REPLACE_PARTIAL = -2021  # 409: one half of a cancelReplace succeeded
CODE_REPLACE_FAILED = -2022  # 400: the cancel half failed; the new half was not attempted

_AUTH_CODES = frozenset({CODE_INVALID_SIGNATURE, CODE_BAD_API_KEY_FORMAT, CODE_REJECTED_API_KEY})
_UNKNOWN_ORDER_CODES = frozenset({CODE_CANCEL_REJECTED, CODE_NO_SUCH_ORDER})
_RATE_CODES = frozenset({CODE_TOO_MANY_REQUESTS, CODE_TOO_MANY_ORDERS})


class ClockSkew(RetryableVenueError):
    """-1021: our timestamp fell outside recvWindow. Nothing happened on the venue; the
    adapter resyncs its clock offset from ``/api/v3/time`` and retries once."""


class MalformedResponse(StatusUnknown):
    """A 2xx answer that does not have Binance's shape (bad JSON, a float where a decimal
    string belongs). Whatever the request did is unknown: query before anything else."""


def retry_after_s(headers: Any, default: float) -> float:
    """``Retry-After`` in seconds, or ``default`` when absent or unreadable."""
    raw = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(raw)) if raw is not None else default  # seconds, not money
    except (TypeError, ValueError):
        return default


def error_data(exc: BinanceAPIException) -> dict[str, Any] | None:
    """The ``data`` object of an error body (cancelReplace 400/409 carry both halves there)."""
    try:
        body = json.loads(exc.response.text)
    except (AttributeError, TypeError, ValueError):
        return None
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else None


def map_error(exc: BaseException, *, endpoint: str = "") -> VenueError:
    """The ``core.errors`` error a failed request means. Never raises itself."""
    where = f" ({endpoint})" if endpoint else ""
    if isinstance(exc, VenueError):
        return exc
    if isinstance(exc, BinanceAPIException):
        return _map_api_error(exc, where)
    if isinstance(exc, BinanceRequestException):
        return MalformedResponse(f"binance: unreadable response{where}: {exc.message}"[:300])
    if isinstance(exc, requests.Timeout):
        return StatusUnknown(f"binance: no answer in time{where}")
    if isinstance(exc, requests.RequestException):
        return StatusUnknown(f"binance: connection failed{where}: {type(exc).__name__}")
    return StatusUnknown(f"binance: request failed{where}: {type(exc).__name__}: {exc}"[:300])


def _map_api_error(exc: BinanceAPIException, where: str) -> VenueError:
    status = exc.status_code
    code = exc.code if isinstance(exc.code, int) and exc.code != 0 else None
    headers = getattr(exc.response, "headers", None)
    text = f"binance {code if code is not None else status}: {exc.message}{where}"
    kw = {"code": code, "http_status": status}
    if status == 418:
        return VenueBanned(text, retry_after_s=retry_after_s(headers, DEFAULT_BAN_S), **kw)
    if status == 429 or code in _RATE_CODES:
        return RetryableVenueError(
            text, retry_after_s=retry_after_s(headers, DEFAULT_BACKOFF_S), **kw
        )
    if is_status_unknown(code=code, http_status=status):
        # 403 is the WAF in front of the API, whose body is HTML (python-binance reads its code
        # as 0): the request did not reach the matching engine, but like any unclear answer it
        # is settled by asking, never by sending again.
        return StatusUnknown(text, **kw)
    if code == CODE_CLOCK_SKEW:
        return ClockSkew(text, retry_after_s=0.0, **kw)
    if code in _AUTH_CODES or status == 401:
        return AuthError(AUTH_MESSAGE, **kw)
    if code in _UNKNOWN_ORDER_CODES:
        return UnknownOrder(text, **kw)
    return OrderRejected(text, **kw)
