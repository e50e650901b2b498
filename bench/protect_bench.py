"""Protection first under the order budget (issue 27): a mass stop-out and re-entry.

``pairs`` open positions (their stops on the sim, the engine reconciled), the sim at its
default limits (ORDERS 100 per 10 s) and ``latency_ms`` a request. Every stop fills at once
(one price under them all); with ``entry = "always"`` every pair then buys again and places its
first stop: ``2 × pairs`` orders under a budget of 100 per 10 s. The sim's orders are sampled
every half second: a position whose BUY filled and that has neither an open stop nor a sale
holds coins with no stop. Printed, for the Gateway's order classes (protection, moves, entries)
beside the same run with its order before them (``[engine] order_priority = "fifo"``: stops,
sales and buys first come first served):

- ``longest_bare_s``: the longest any position held coins with no stop (goal: below one 10 s
  window);
- ``rate_limited``: 429s answered meanwhile (must be 0);
- ``rebought``: positions bought again within the run (``seconds``).

``RATCHET_BENCH_QUICK=1``: 40 pairs at 10 orders per 10 s.
"""

from __future__ import annotations

import time
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bench import emit, run_in_workdir
from bench import sim_harness as harness
from bench.sim_fleet import Fleet

BENCH = "protect"
SETTINGS = {"trail_pct": "5", "limit_offset_pct": "0.5", "quote_per_trade": "50",
            "stop_fill_timeout_s": "600"}


@dataclass(frozen=True, slots=True)
class Sizes:
    pairs: int = 400
    orders_10s: int = 100
    latency_ms: int = 20
    watch_s: float = 150.0


QUICK = Sizes(pairs=40, orders_10s=10, watch_s=60.0)


@dataclass(frozen=True, slots=True)
class Outcome:
    longest_bare_s: float
    rebought: int
    rate_limited: int
    seconds: float


def bare(sim) -> tuple[set[str], set[str]]:
    """(positions holding coins with no stop, positions that bought) from the sim's orders."""
    bought, covered = set(), set()
    for o in harness.ours(sim.orders()):
        pid = o["clientOrderId"].split("-")[1]
        if o["side"] == "BUY" and o["status"] == "FILLED":
            bought.add(pid)
        elif o["side"] == "SELL" and o["status"] in ("NEW", "PARTIALLY_FILLED", "FILLED"):
            covered.add(pid)
    return bought - covered, bought


def stop_out(sizes: Sizes, directory: Path, priority: str) -> Outcome:
    directory.mkdir(parents=True)
    fleet = Fleet(size=sizes.pairs)
    sim = harness.start_sim(directory, *fleet.sim_args(), "--orders-10s", str(sizes.orders_10s),
                            latency_ms=sizes.latency_ms)
    proc = None
    try:
        db = directory / "ratchet.db"
        fleet.prepare(db, sim)
        config = harness.write_config(directory, sim.url, fleet.symbols, defaults=SETTINGS,
                                      engine_keys={"order_priority": f'"{priority}"'})
        proc = harness.start_engine(config)
        harness.settled(db, sim, fleet.symbols, timeout=120)
        sim.reset_requests()
        for symbol in fleet.symbols:  # every stop (95 / 94.52) fills at once at 94.8
            sim.price(symbol, "94.8")
        since: dict[str, float] = {}
        longest, started = 0.0, time.monotonic()
        rebought: set[str] = set()
        turn = 0
        while time.monotonic() - started < sizes.watch_s:
            turn += 1  # prices keep coming, a batch of symbols a turn: pairs buy again
            for symbol in fleet.symbols[turn * 40 % len(fleet.symbols):][:40]:
                sim.price(symbol, "94.8")
            now = time.monotonic()
            held_bare, bought = bare(sim)
            rebought = bought
            for pid in held_bare:
                since.setdefault(pid, now)
            for pid in list(since):
                if pid not in held_bare:
                    longest = max(longest, now - since.pop(pid))
            longest = max([longest, *(now - t for t in since.values())])
            if len(rebought) >= sizes.pairs and not since:
                break
            time.sleep(0.5)
        seconds = time.monotonic() - started
        limited = sum(_metric(config, "ratchet_exchange_errors_total", code=code)
                      for code in ("429", "-1015", "-1003"))
    finally:
        if proc is not None:
            harness.stop_engine(proc)
        sim.stop()
    return Outcome(longest_bare_s=longest, rebought=len(rebought),
                   rate_limited=int(limited), seconds=seconds)  # a count


def _metric(config: Path, name: str, **labels: str) -> float:
    """One sample of the engine's ``/metrics`` (0 when absent)."""
    port = tomllib.loads(config.read_text())["engine"]["metrics_port"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and s.labels == labels)


def run(sizes: Sizes, workdir: Path) -> None:
    classes = stop_out(sizes, workdir / "classes", "classes")
    fifo = stop_out(sizes, workdir / "fifo", "fifo")
    for name, outcome in (("classes", classes), ("fifo", fifo)):
        emit(bench=BENCH, metric=f"longest_bare_s_{name}", value=outcome.longest_bare_s,
             unit="s", baseline=fifo.longest_bare_s if name == "classes" else None,
             better="lower", pairs=sizes.pairs, orders_10s=sizes.orders_10s,
             latency_ms=sizes.latency_ms, goal_s=10, rebought=outcome.rebought,
             rate_limited=outcome.rate_limited, seconds=outcome.seconds)


def main() -> None:
    run_in_workdir(BENCH, run, Sizes(), QUICK)


if __name__ == "__main__":
    main()
