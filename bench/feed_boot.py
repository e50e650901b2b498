"""Boot and restart of the real engine (``ratchet run``, binance mode) with many open positions
against the sim, up to every stop protected and every market stream subscribed: the
``boot_s`` and ``restart_s`` lines of ``bench.feed_bench``.

The positions are ``bench.sim_fleet.Fleet``'s (one OPEN position with its stop resting on the
sim per symbol, as ``bench.sim_bench`` boots them), the sim's price walk still. ``boot`` is the
first start of the engine on that DB and venue; ``restart`` the next start after a ``kill
-9`` of the running engine. Each line's value is process start to every connection of the
market-data edge having all its streams subscribed (``all N streams subscribed`` in the log:
one connection per 1,024 symbols, subscriptions paced at 4 messages a second); its baseline
is the same start to every stop confirmed open (``event=reconciled``), so the ratio says how
much longer the streams take than protection. Also printed: the boot line (every PairActor
started) and the connections.
"""

from __future__ import annotations

import math
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

from bench import sim_harness as harness
from bench.sim_fleet import SETTINGS, Fleet

SUBSCRIBED = re.compile(r"market data connection (\d+): all (\d+) streams subscribed")
TIMEOUT_S = 180


def _watch(config: Path, connections: int) -> dict:
    """Start the engine; seconds from its start to each mark. Leaves it running."""
    log = config.parent / "engine.log"
    log.unlink(missing_ok=True)
    started = time.perf_counter()
    proc = harness.start_engine(config)
    marks: dict[str, float] = {}
    subscribed: set[str] = set()
    seen = ""
    while not ("boot" in marks and len(subscribed) >= connections):
        if time.perf_counter() - started > TIMEOUT_S or proc.poll() is not None:
            harness.stop_engine(proc, signal.SIGKILL)
            raise RuntimeError(f"engine did not come up:\n{seen[-3000:]}")
        seen = log.read_text() if log.exists() else ""
        now = time.perf_counter() - started
        if "reconciled" not in marks and "event=reconciled" in seen:
            marks["reconciled"] = now
        if "boot" not in marks and "ratchet: binance mode" in seen:
            marks["boot"] = now
        for match in SUBSCRIBED.finditer(seen):
            if match.group(1) not in subscribed:
                subscribed.add(match.group(1))
                if len(subscribed) == connections:
                    marks["streams"] = now
        time.sleep(0.01)
    return {"marks": marks, "proc": proc}


def boot_and_restart(positions: int, workdir: Path, emit: Callable[..., dict]) -> None:
    fleet = Fleet(size=positions)
    directory = workdir / f"boot-{positions}"
    directory.mkdir()
    connections = math.ceil(positions / 1024)
    sim = harness.start_sim(directory, *fleet.sim_args(), "--weight-1m", "100000000")
    try:
        fleet.prepare(directory / "ratchet.db", sim)
        config = harness.write_config(directory, sim.url, fleet.symbols, defaults=SETTINGS)
        for name in ("boot", "restart"):
            run = _watch(config, connections)
            harness.stop_engine(run["proc"], signal.SIGKILL)
            marks = run["marks"]
            emit(metric=f"{name}_s", value=marks["streams"], unit="s",
                 baseline=marks["reconciled"], better="lower", positions=positions,
                 connections=connections, reconciled_s=marks["reconciled"],
                 boot_line_s=marks["boot"], streams_s=marks["streams"],
                 baseline_is="start to every stop confirmed open (reconciled)")
    finally:
        sim.stop()
