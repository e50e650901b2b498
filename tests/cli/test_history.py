"""``ratchet history`` against ``ratchet sim-exchange --prices``: a download of several pages
(2,500 one-minute klines, 1,000 a request), an interrupted download (kill -9, plus a torn last
line) resumed with no minute twice and none missing, a 429 waited out, and the file replays
exactly like the bars it came from."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from cli import history_cmd
from cli.history_cmd import HEADER, WeightGuard, resume_point
from core.errors import InputError
from tests.conftest import REPO, btc_lines
from tests.exchange.binance.simproc import Sim

RATCHET = [sys.executable, "-m", "cli.main"]
BARS = 2500
MINUTE_MS = 60_000


def ratchet(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*RATCHET, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def source_bars(path: Path) -> dict[int, tuple[Decimal, ...]]:
    """open time (epoch ms) -> (open, high, low, close) of the sim's --prices file."""
    bars = {}
    for line in path.read_text().splitlines()[1:]:
        ts, o, h, low, c, _ = line.split(",")
        moment = datetime.fromisoformat(ts).replace(tzinfo=UTC)
        bars[int(moment.timestamp() * 1000)] = tuple(Decimal(v) for v in (o, h, low, c))
    return bars


def downloaded(path: Path) -> list[tuple[int, tuple[Decimal, ...]]]:
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER
    return [(int(row[0]), tuple(Decimal(v) for v in row[1:5]))
            for row in (line.split(",") for line in lines[1:])]


@pytest.fixture(scope="module")
def prices(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("history") / "btc-2500.csv"
    path.write_text(btc_lines(BARS + 1))
    return path


@pytest.fixture
def sim(tmp_path, prices):
    sim = Sim(tmp_path, "--symbols", "BTCUSDT", "--prices", str(prices), "--latency-ms", "300")
    yield sim
    sim.stop()


def _start(prices: Path) -> str:
    return str(next(iter(source_bars(prices))))


def test_a_multi_page_download_holds_every_minute_once_and_replays_like_its_source(
        tmp_path, sim, prices):
    out = tmp_path / "btc.csv"

    done = ratchet("history", "BTCUSDT", "--interval", "1m", "--start", "2021-12-31",
                   "-o", str(out), "--base-url", sim.url, cwd=tmp_path)
    from_file = ratchet("replay", str(prices), "--symbol", "BTCUSDT", "--report",
                        str(tmp_path / "file.json"), cwd=tmp_path)
    from_download = ratchet("replay", str(out), "--symbol", "BTCUSDT", "--report",
                            str(tmp_path / "download.json"), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert f"wrote {BARS} klines" in done.stdout
    rows = downloaded(out)
    assert dict(rows) == source_bars(prices)
    assert [t for t, _ in rows] == sorted({t for t, _ in rows})  # in order, no duplicate
    assert sim.requests()["GET /api/v3/klines"] >= 3  # 1,000 a page
    assert from_file.returncode == from_download.returncode == 0, from_download.stderr
    # The same prices give the same trades and P&L; only the timestamps' spelling differs.
    assert from_file.stdout.split(":", 1)[1] == from_download.stdout.split(":", 1)[1]
    trades = [json.loads((tmp_path / f"{name}.json").read_text())["trades"]
              for name in ("file", "download")]
    assert [Decimal(t["pnl"]) for t in trades[0]] == [Decimal(t["pnl"]) for t in trades[1]]


def test_an_interrupted_download_resumes_with_no_minute_twice_or_missing(tmp_path, sim, prices):
    out = tmp_path / "btc.csv"
    cmd = [*RATCHET, "history", "BTCUSDT", "--start", _start(prices), "-o", str(out),
           "--base-url", sim.url]
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    first = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and first.poll() is None:
        if out.exists() and out.read_text().count("\n") > 1000:  # the first page is written
            break
        time.sleep(0.01)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    partial = downloaded(out)
    with open(out, "a") as f:
        f.write(f"{partial[-1][0] + MINUTE_MS},4632")  # a row torn in the middle of a write

    resumed = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=120)

    assert 1000 <= len(partial) < BARS
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed after {partial[-1][0]}" in resumed.stdout
    rows = downloaded(out)
    times = [t for t, _ in rows]
    assert len(times) == len(set(times)) == BARS
    assert all(b - a == MINUTE_MS for a, b in zip(times, times[1:], strict=False))
    assert dict(rows) == source_bars(prices)


def test_a_429_is_waited_out_and_the_download_goes_on(tmp_path, sim, prices):
    out = tmp_path / "btc.csv"
    client = history_cmd.make_client(sim.url)
    start = int(_start(prices))
    sim.force("429", count=1, retry_after_s=1)
    t0 = time.monotonic()

    written, last = history_cmd.download(client, "BTCUSDT", "1m", MINUTE_MS, start,
                                         start + (BARS - 1) * MINUTE_MS, out, BARS, None)

    assert time.monotonic() - t0 >= 1  # Retry-After
    assert written == BARS and last == start + (BARS - 1) * MINUTE_MS
    assert dict(downloaded(out)) == source_bars(prices)


def test_the_weight_guard_waits_for_the_next_minute_near_the_limit():
    slept: list[float] = []
    guard = WeightGuard(100, sleep=slept.append, clock=lambda: 1_700_000_010.0)  # hh:mm:30
    response = requests.Response()

    for used in ("10", "88", "89"):
        response.headers["X-MBX-USED-WEIGHT-1M"] = used
        guard.hook(response)

    assert slept == [30.5]  # 89 + 2 > 90% of 100: wait for the minute to roll over
    assert guard.waits == 1


@pytest.mark.parametrize(("content", "expected"), [
    pytest.param(None, None, id="no-file"),
    pytest.param("", None, id="empty"),
    pytest.param(HEADER + "\n", None, id="header-only"),
    pytest.param(HEADER + "\n1000,1,1,1,1,1\n2000,1,1,1,1,1\n", 2000, id="complete"),
    pytest.param(HEADER + "\n1000,1,1,1,1,1\n2000,1,1", 1000, id="torn-last-line"),
])
def test_resume_point_is_the_last_complete_row(tmp_path, content, expected):
    path = tmp_path / "out.csv"
    if content is not None:
        path.write_text(content)

    assert resume_point(path) == expected
    if content is not None and expected == 1000:
        assert path.read_text().endswith("1000,1,1,1,1,1\n")  # the torn row is cut off


def test_a_file_that_is_not_a_history_file_is_refused(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("timestamp,price\n1,100\n")

    with pytest.raises(InputError, match="not a ratchet history file"):
        resume_point(path)


@pytest.mark.parametrize(("args", "needle"), [
    pytest.param(("--start", "yesterday"), "--start 'yesterday'", id="bad-start"),
    pytest.param(("--start", "2024-01-02", "--end", "2024-01-01"), "--end must be after",
                 id="end-before-start"),
    pytest.param(("--start", "2024-01-01", "--interval", "7x"), "--interval 7x", id="interval"),
])
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, args, needle):
    done = ratchet("history", "BTCUSDT", *args, "-o", str(tmp_path / "o.csv"),
                   "--base-url", "http://127.0.0.1:9", cwd=tmp_path)

    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and needle in done.stderr
    assert not (tmp_path / "o.csv").exists()


def test_an_unknown_symbol_is_one_line_and_exit_2(tmp_path, sim):
    done = ratchet("history", "NOPEUSDT", "--start", "2021-12-31", "-o",
                   str(tmp_path / "o.csv"), "--base-url", sim.url, cwd=tmp_path)

    assert done.returncode == 2
    assert done.stderr.strip() == "ratchet: history: NOPEUSDT: Invalid symbol."
    assert not (tmp_path / "o.csv").exists()


def test_a_429_on_the_first_request_is_waited_out_too(tmp_path, sim, prices):
    out = tmp_path / "btc.csv"
    sim.force("429", count=1, retry_after_s=1)

    done = ratchet("history", "BTCUSDT", "--start", _start(prices), "-o", str(out),
                   "--base-url", sim.url, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "HTTP 429" in done.stderr and f"wrote {BARS} klines" in done.stdout
    assert dict(downloaded(out)) == source_bars(prices)
