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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engine_profile")
    parser.add_argument("prices", nargs="?", type=int, default=20_000)
    parser.add_argument("--sort", default="tottime", choices=("tottime", "cumulative"))
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)
    stats, rate = profile_replay(args.prices)
    print(f"{args.prices} prices at {rate:.0f} prices/s under the profiler (all threads)")
    stats.sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
