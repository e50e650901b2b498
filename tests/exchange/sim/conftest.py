"""A sim server per test, reached through python-binance's real ``Client`` over loopback."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from decimal import Decimal

import pytest
from binance.client import Client

from exchange.sim.guard import hmac_hex
from exchange.sim.server import SimConfig, SimServer

KEY, SECRET = "test-key", "test-secret"


def make_client(url: str, key: str = KEY, secret: str = SECRET, timeout: float = 5) -> Client:
    client = Client(key, secret, ping=False, requests_params={"timeout": timeout})
    client.API_URL = f"{url}/api"
    return client


def control(url: str, path: str, body: dict | None = None):
    """Call a /sim control endpoint (POST with a body, else GET)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}/sim/{path}", data=data, method=(
        "GET" if body is None else "POST"))
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture
def start_sim(tmp_path):
    """Start sims with a paused price path; stops them after the test."""
    servers: list[SimServer] = []

    def start(**overrides) -> SimServer:
        overrides.setdefault("state", tmp_path / f"sim{len(servers)}.db")
        overrides.setdefault("api_key", KEY)
        overrides.setdefault("api_secret", SECRET)
        overrides.setdefault("interval_ms", 60_000)
        server = SimServer(SimConfig(**overrides)).start()
        server.driver.pause(True)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def sim(start_sim) -> SimServer:
    return start_sim()


@pytest.fixture
def client(sim) -> Client:
    return make_client(sim.url)


# A 0.01 BTC buy pays 0.1 % in BTC (Binance's rule): 0.00999 BTC arrive.
NET_QTY = "0.00999"


def buy_btc(client: Client, qty: str = "0.01", client_id: str = "buy-1") -> dict:
    return client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET",
                               quantity=qty, newClientOrderId=client_id)


def place_stop(client: Client, client_id: str = "stop-1", qty: str = NET_QTY,
               stop: str = "48000", limit: str = "47900") -> dict:
    return client.create_order(
        symbol="BTCUSDT", side="SELL", type="STOP_LOSS_LIMIT", timeInForce="GTC",
        quantity=qty, price=limit, stopPrice=stop, newClientOrderId=client_id,
    )


def signed(url: str, method: str, path: str, **params: str) -> tuple[int, dict, dict]:
    """A raw signed request, written by hand as Binance's docs describe it: the parameters
    urlencoded (in the query for GET/DELETE, the form body otherwise) with ``timestamp`` and
    the HMAC-SHA256 ``signature`` last. Returns (status, JSON body, headers)."""
    params = {**params, "timestamp": str(int(time.time() * 1000))}
    query = urllib.parse.urlencode(params)
    payload = f"{query}&signature={hmac_hex(SECRET, query)}"
    full = f"{url}/api/v3/{path}"
    data = None
    if method in ("GET", "DELETE"):
        full += "?" + payload
    else:
        data = payload.encode()
    request = urllib.request.Request(full, data=data, method=method,
                                     headers={"X-MBX-APIKEY": KEY})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), dict(err.headers)


def public(url: str, path: str, **params: str) -> tuple[int, object, dict]:
    """A plain GET of a public endpoint: (status, JSON body, headers)."""
    query = urllib.parse.urlencode(params)
    request = urllib.request.Request(f"{url}/api/v3/{path}" + (f"?{query}" if query else ""))
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), dict(err.headers)


def wait_until(predicate: Callable[[], object], *, timeout: float = 10, what: str = "it"):
    """Poll ``predicate`` until it is truthy (returned) or ``timeout`` seconds pass (fail)."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return value


D = Decimal
