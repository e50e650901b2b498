"""Profile the lock-step replay across every actor thread:
``python -m bench.engine_profile [PRICES] [--sort tottime|cumulative] [--top N]``.

cProfile sees only the thread that enables it, so every thread started after ``setprofile``
enables its own profiler on its first event; the stats are merged at the end. The edge (the
main thread's asks) is profiled too.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import threading
import time

from actors.replay import run_replay
from bench.engine_bench import BTC_CSV
from core.prices import read_prices
from core.types import PairSettings


def profile_replay(prices: int) -> tuple[pstats.Stats, float]:
    points = read_prices(BTC_CSV)[:prices]
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()

    def start_thread_profile(frame, event, arg):
        sys.setprofile(None)
        profile = cProfile.Profile()
        with lock:
            profiles.append(profile)
        profile.enable()

    main = cProfile.Profile()
    threading.setprofile(start_thread_profile)
    began = time.perf_counter()
    main.enable()
    try:
        run_replay(points, PairSettings(symbol="BTCUSDT"))
    finally:
        main.disable()
        threading.setprofile(None)
    elapsed = time.perf_counter() - began
    stats = pstats.Stats(main)
    for profile in profiles:
        stats.add(profile)
    return stats, len(points) / elapsed


AREAS = (  # (label, substrings of a function's file or name), the first match wins
    ("blocked on locks: idle actors, waits (not CPU)", ("acquire' of '_thread.lock",)),
    ("pykka", ("/pykka/",)),
    ("threading, queue (stdlib)", ("/threading.py", "/queue.py", "_thread.")),
    ("actors/", ("/actors/",)),
    ("core/", ("/core/",)),
    ("exchange/", ("/exchange/",)),
    ("persistence/, peewee, sqlite3", ("/persistence/", "/peewee", "/playhouse/", "sqlite3")),
    ("dataclasses (replace, __eq__)", ("/dataclasses.py", "<string>")),
)


def by_area(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Own time (tottime) summed per area of the code, largest first."""
    totals: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        where = f"{filename}:{name}"
        label = next((label for label, keys in AREAS if any(k in where for k in keys)),
                     "other (decimal, builtins, ...)")
        totals[label] = totals.get(label, 0.0) + tottime
    return sorted(totals.items(), key=lambda kv: kv[1], reverse=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engine_profile")
    parser.add_argument("prices", nargs="?", type=int, default=20_000)
    parser.add_argument("--sort", default="tottime", choices=("tottime", "cumulative"))
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)
    stats, rate = profile_replay(args.prices)
    print(f"{args.prices} prices at {rate:.0f} prices/s under the profiler (all threads)")
    print("own time by area, all threads (µs per price):")
    for label, seconds in by_area(stats):
        print(f"  {seconds / args.prices * 1e6:8.1f}  {label}")
    stats.sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
