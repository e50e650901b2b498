"""Smoke tests of the engine benchmarks: each runs at a tiny size and prints well-formed lines.

Timings are never asserted; only the shape of each JSON line and the correctness checks the
benchmarks carry (no lost high or low, replay equal to the backtest).
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

import pytest

from bench.engine_bench import (
    BENCH,
    Sizes,
    ingest,
    latency,
    naive_engine,
    position_hours,
    replay,
    rss,
)
from bench.engine_fleet import Fleet
from core.backtest import simulate
from core.prices import read_prices
from core.symbols import paper_filters
from core.types import PairSettings
from tests.conftest import BTC_CSV

TINY = Sizes(pairs=4, ingest_rounds=6, repeats=2, latency_seconds=0.2, load_fractions=(0.5, 0.1),
             rss_pairs=4, replay_prices=400)
KEYS = {"bench", "metric", "value", "unit", "baseline", "ratio"}


def assert_lines(records: list[dict], printed: str, metrics: list[str]) -> None:
    lines = [json.loads(line) for line in printed.splitlines()]
    assert lines == records
    assert [r["metric"] for r in records] == metrics
    for r in records:
        assert r.keys() >= KEYS
        assert r["bench"] == BENCH
        assert isinstance(r["value"], float | int)
        assert r["ratio"] is None or r["ratio"] == pytest.approx(r["value"] / r["baseline"],
                                                                 rel=1e-2)


@pytest.fixture(scope="module")
def points():
    return read_prices(BTC_CSV)[:TINY.replay_prices]


@pytest.fixture
def fleet(tmp_path):
    fleet = Fleet.open(tmp_path, TINY.pairs)
    yield fleet
    fleet.close()


def test_ingest_prints_both_consumers_and_loses_no_high_or_low(fleet, capsys):
    records, max_rate = ingest(TINY, fleet)

    assert_lines(records, capsys.readouterr().out,
                 ["ingest_prices_per_s", "ingest_prices_per_s", "lost_extremes"])
    assert max_rate > 0
    assert records[-1]["value"] == 0
    assert all(r["extremes_kept"] for r in records[:2])
    assert all(r["baseline_deliveries"] == r["prices"] for r in records[:2])


def test_latency_prints_p50_and_p99_at_each_fraction_of_the_given_load(fleet, capsys):
    records = latency(TINY, fleet, max_rate=2000.0)

    assert_lines(records, capsys.readouterr().out, ["tick_to_decision_p50",
                                                    "tick_to_decision_p99"] * 2)
    assert [r["load_prices_per_s"] for r in records] == [1000.0, 1000.0, 200.0, 200.0]
    assert all(r["samples"] > 0 and r["baseline_samples"] > 0 for r in records)
    assert [r.get("target") for r in records] == [None, "< 5 ms", None, None]


def test_rss_prints_kib_per_pair_actor_against_an_idle_actor(capsys):
    records = rss(TINY)

    assert_lines(records, capsys.readouterr().out, ["rss_per_pair_actor"])
    assert records[0]["unit"] == "KiB" and records[0]["baseline"] is not None


def test_replay_prints_speed_and_churn_and_matches_the_backtest(points, capsys):
    records = replay(points, PairSettings(symbol="BTCUSDT"))

    assert_lines(records, capsys.readouterr().out,
                 ["replay_prices_per_s"] + ["orders_per_position_hour"] * 3)
    assert records[0]["matches_backtest"] is True
    assert [r["min_move_pct"] for r in records[1:]] == ["0.2", "0.5", "1"]
    assert all(r["orders_sent"] > 0 and r["baseline_orders_sent"] > 0 for r in records[1:])


def test_naive_engine_is_the_backtest_without_a_min_move_step(points):
    settings = PairSettings(symbol="BTCUSDT", trail_pct=Decimal("0.5"))
    no_step = simulate(points, replace(settings, min_move_pct=Decimal(0)), paper_filters(settings))

    naive = naive_engine(points, settings)

    assert len(naive.trades) > 1
    assert naive.orders_sent == no_step.orders_sent
    assert [(t["entry_time"], t["exit_time"]) for t in naive.trades] == \
        [(t.entry_time, t.exit_time) for t in no_step.trades]


def test_position_hours_sum_entry_to_exit_of_every_trade():
    times = {"a": Decimal(0), "b": Decimal(1800), "c": Decimal(9000)}
    trades = [{"entry_time": "a", "exit_time": "b"}, {"entry_time": "b", "exit_time": "c"}]

    assert position_hours(trades, times) == 2.5
