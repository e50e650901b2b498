"""What each Binance failure means for the caller (DESIGN.md §4), table-driven."""

from __future__ import annotations

import json

import pytest
import requests
from binance.exceptions import BinanceAPIException, BinanceRequestException

from core.errors import (
    AuthError,
    OrderRejected,
    RetryableVenueError,
    StatusUnknown,
    UnknownOrder,
    VenueBanned,
)
from exchange.binance.errors import ClockSkew, MalformedResponse, error_data, map_error


def api_error(status: int, code: int | None, msg: str = "x", headers=None, data=None):
    """A BinanceAPIException over a real requests.Response, as python-binance raises it."""
    response = requests.Response()
    response.status_code = status
    body = {} if code is None else {"code": code, "msg": msg}
    if data is not None:
        body["data"] = data
    response._content = json.dumps(body).encode() if body else b"<html>Bad Gateway</html>"
    response.headers.update(headers or {})
    return BinanceAPIException(response, status, response.text)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        pytest.param(requests.ReadTimeout(), StatusUnknown, id="read-timeout"),
        pytest.param(requests.ConnectionError(), StatusUnknown, id="connection-lost"),
        pytest.param(api_error(502, None), StatusUnknown, id="http-502-html"),
        pytest.param(api_error(503, -1008, "overloaded"), StatusUnknown, id="http-503"),
        pytest.param(api_error(408, -1007, "Timeout waiting"), StatusUnknown, id="code-1007"),
        pytest.param(BinanceRequestException("Invalid Response: <"), MalformedResponse,
                     id="unreadable-2xx"),
        pytest.param(api_error(400, -2011, "Unknown order sent."), UnknownOrder, id="cancel-2011"),
        pytest.param(api_error(400, -2013, "Order does not exist."), UnknownOrder,
                     id="query-2013"),
        pytest.param(api_error(429, -1003, headers={"Retry-After": "7"}), RetryableVenueError,
                     id="http-429"),
        pytest.param(api_error(418, -1003, headers={"Retry-After": "120"}), VenueBanned,
                     id="http-418"),
        pytest.param(api_error(400, -1021, "Timestamp outside recvWindow"), ClockSkew,
                     id="clock-skew"),
        pytest.param(api_error(400, -2010, "insufficient balance"), OrderRejected,
                     id="new-order-rejected"),
        pytest.param(api_error(400, -1013, "Filter failure: LOT_SIZE"), OrderRejected,
                     id="filter-failure"),
        pytest.param(api_error(401, -2014, "API-key format invalid."), AuthError,
                     id="bad-key-format"),
        pytest.param(api_error(401, -2015, "Invalid API-key"), AuthError, id="rejected-key"),
        pytest.param(api_error(400, -1022, "Signature invalid"), AuthError, id="bad-signature"),
        pytest.param(api_error(400, -1102, "Mandatory parameter"), OrderRejected,
                     id="other-4xx"),
    ],
)
def test_failure_maps_to_the_error_the_caller_must_handle(exc, expected):
    err = map_error(exc, endpoint="order")

    assert type(err) is expected


@pytest.mark.parametrize(
    ("exc", "retry_after"),
    [
        pytest.param(api_error(429, -1003, headers={"Retry-After": "7"}), 7.0, id="429-header"),
        pytest.param(api_error(418, -1003, headers={"Retry-After": "300"}), 300.0,
                     id="418-header"),
        pytest.param(api_error(418, -1003), 120.0, id="418-default-two-minutes"),
    ],
)
def test_retry_after_is_read_from_the_header(exc, retry_after):
    assert map_error(exc).retry_after_s == retry_after


@pytest.mark.parametrize("code", [-2014, -2015, -1022])
def test_auth_errors_say_exactly_one_line(code):
    err = map_error(api_error(401, code, "whatever Binance says"))

    assert str(err) == "invalid API key or secret"
    assert err.exit_code == 2


def test_error_keeps_code_and_http_status():
    err = map_error(api_error(400, -2010, "Account has insufficient balance"))

    assert (err.code, err.http_status) == (-2010, 400)
    assert "\n" not in str(err)


def test_cancel_replace_409_body_yields_both_halves():
    data = {"cancelResult": "SUCCESS", "newOrderResult": "FAILURE"}

    assert error_data(api_error(409, -2021, "partially failed", data=data)) == data


def test_error_without_data_yields_none():
    assert error_data(api_error(400, -2010)) is None
