"""Smoke tests of the market-data benchmarks at a tiny size: every line is well formed, and the
correctness the burst lines carry holds (no miss, nothing lost, no reconnect at a low rate).
Timings are never asserted."""

from __future__ import annotations

import json

import pytest

from bench import feed_bench
from bench.engine_fleet import Fleet
from bench.feed_bench import BENCH, Generator, Sizes

TINY = Sizes(pairs=(6,), rates=(500,), factor=4, lead_s=0.3, burst_s=0.6, tail_s=0.6,
             flat_messages=3000, boot_positions=())
KEYS = {"bench", "metric", "value", "unit", "baseline", "ratio"}


def lines(printed: str) -> list[dict]:
    found = [json.loads(line) for line in printed.splitlines() if line.startswith("{")]
    for record in found:
        assert record.keys() >= KEYS
        assert record["bench"] == BENCH
    return found


@pytest.fixture
def gen():
    gen = Generator()
    yield gen
    gen.close()


def test_every_reader_reads_the_whole_flat_stream(gen, capsys):
    bare = feed_bench.readers(TINY, gen)

    records = lines(capsys.readouterr().out)
    readers = [r for r in records if r["metric"] == "reader_msgs_per_s"]
    assert bare > 0
    assert [r["reader"] for r in readers][0] == "bare"
    assert {r["reader"] for r in readers} >= {"edge", "python-binance, queue raised"}
    edge = next(r for r in readers if r["reader"] == "edge")
    assert edge["messages"] == TINY.flat_messages and edge["failures"] == []
    assert [r["metric"] for r in records][-1] == "parse_ns"


def test_a_burst_into_pair_actors_loses_nothing_and_misses_no_spike(gen, tmp_path, capsys):
    fleet = Fleet.open(tmp_path, TINY.pairs[0])
    try:
        floor_ms = feed_bench.actor_floor(fleet, TINY.pairs[0])
        bare = feed_bench.bare_burst(TINY, gen, TINY.rates[0])
        feed_bench.burst(TINY, gen, fleet, TINY.pairs[0], TINY.rates[0], bare, floor_ms)
    finally:
        fleet.close()

    (record,) = lines(capsys.readouterr().out)
    assert record["metric"] == "burst_lag_p99_ms"
    assert (record["reconnects"], record["misses"], record["lost"], record["no_spike"]) == \
        (0, 0, 0, 0)
    assert record["sent"] > 0 and record["tick_to_decision_p99_ms"] is not None
    assert bare["lost"] == 0
