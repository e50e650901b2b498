"""``GET /api/v3/klines`` on the sim (exchange/sim/klines.py): Binance's bar shape, limit,
startTime/endTime and weight, from the --prices file or from the random walk it has run."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from exchange.sim.server import SimConfig, SimServer
from tests.conftest import btc_lines

BARS = 1500
MINUTE = 60_000
FIRST = int(datetime(2021, 12, 31, 23, 1, tzinfo=UTC).timestamp() * 1000)  # the file's first bar


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    prices = Path(tmp_path_factory.mktemp("klines")) / "btc.csv"
    prices.write_text(btc_lines(BARS + 1))
    with SimServer(SimConfig(symbols=("BTCUSDT", "ETHUSDT"), prices=prices)) as sim:
        yield sim, prices


def klines(sim, **params):
    response = requests.get(sim.url + "/api/v3/klines", params=params, timeout=10)
    return response.status_code, response.json(), response.headers


def test_bars_have_binances_shape_and_the_files_prices(server):
    sim, prices = server
    status, bars, _ = klines(sim, symbol="BTCUSDT", interval="1m", startTime=FIRST, limit=2)
    first_row = prices.read_text().splitlines()[1].split(",")

    assert status == 200 and len(bars) == 2
    bar = bars[0]
    assert len(bar) == 12 and bar[0] == FIRST and bar[6] == FIRST + MINUTE - 1
    assert [Decimal(v) for v in bar[1:5]] == [Decimal(v) for v in first_row[1:5]]
    assert all(isinstance(v, str) for v in bar[1:6]) and isinstance(bar[8], int)
    assert bars[1][0] == FIRST + MINUTE


def test_limit_defaults_to_500_and_is_at_most_1000(server):
    sim, _ = server

    assert len(klines(sim, symbol="BTCUSDT", interval="1m", startTime=FIRST)[1]) == 500
    assert len(klines(sim, symbol="BTCUSDT", interval="1m", startTime=FIRST,
                      limit=5000)[1]) == 1000


def test_start_and_end_select_by_open_time_inclusive(server):
    sim, _ = server
    end = FIRST + 9 * MINUTE

    _, between, _ = klines(sim, symbol="BTCUSDT", interval="1m", startTime=FIRST + 1,
                           endTime=end)
    _, last_three, _ = klines(sim, symbol="BTCUSDT", interval="1m", endTime=end, limit=3)
    _, latest, _ = klines(sim, symbol="BTCUSDT", interval="1m", limit=1)

    assert [b[0] for b in between] == [FIRST + i * MINUTE for i in range(1, 10)]
    assert [b[0] for b in last_three] == [end - 2 * MINUTE, end - MINUTE, end]
    assert latest[0][0] == FIRST + (BARS - 1) * MINUTE


def test_a_longer_interval_aggregates_its_minutes(server):
    sim, _ = server
    # The file starts at 23:01, so the 23:00 hour bar holds the 59 minutes 23:01..23:59.
    _, minutes, _ = klines(sim, symbol="BTCUSDT", interval="1m", startTime=FIRST, limit=59)
    _, (hour,), _ = klines(sim, symbol="BTCUSDT", interval="1h", endTime=FIRST, limit=1)
    _, (next_hour,), _ = klines(sim, symbol="BTCUSDT", interval="1h", startTime=FIRST, limit=1)

    assert hour[0] == FIRST - MINUTE and hour[8] == sum(m[8] for m in minutes)
    assert Decimal(hour[1]) == Decimal(minutes[0][1])
    assert Decimal(hour[2]) == max(Decimal(m[2]) for m in minutes)
    assert Decimal(hour[3]) == min(Decimal(m[3]) for m in minutes)
    assert Decimal(hour[4]) == Decimal(minutes[-1][4])
    assert next_hour[0] == FIRST + 59 * MINUTE  # the first open time >= startTime


def test_each_request_weighs_2(server):
    sim, _ = server
    before = int(klines(sim, symbol="BTCUSDT", interval="1m", limit=1)[2]["X-MBX-USED-WEIGHT-1M"])

    after = int(klines(sim, symbol="BTCUSDT", interval="1m", limit=1000)[2]
                ["X-MBX-USED-WEIGHT-1M"])

    assert after - before == 2


@pytest.mark.parametrize(("params", "code"), [
    ({"symbol": "BTCUSDT", "interval": "7m"}, -1120),
    ({"symbol": "NOPEUSDT", "interval": "1m"}, -1121),
    ({"interval": "1m"}, -1102),
    ({"symbol": "BTCUSDT"}, -1102),
], ids=["interval", "symbol", "no-symbol", "no-interval"])
def test_bad_requests_get_binances_errors(server, params, code):
    status, body, _ = klines(server[0], **params)

    assert status == 400 and body["code"] == code


def test_without_prices_the_random_walk_is_recorded_by_the_minute():
    with SimServer(SimConfig(symbols=("BTCUSDT",), interval_ms=20)) as sim:
        deadline = time.monotonic() + 10
        bars = []
        while not bars or bars[-1][8] < 20:
            assert time.monotonic() < deadline
            time.sleep(0.05)
            bars = klines(sim, symbol="BTCUSDT", interval="1m")[1]

    assert bars and all(b[0] % MINUTE == 0 for b in bars)
    assert Decimal(bars[-1][2]) >= Decimal(bars[-1][4]) >= Decimal(bars[-1][3]) > 0
