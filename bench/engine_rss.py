"""RSS per actor, measured in a fresh interpreter so memory freed by earlier benchmarks cannot
hide the cost: ``python -m bench.engine_rss {pair|idle} N`` prints one JSON object.

- ``pair``: N PairActors restored with an OPEN position and three orders each (as after a
  restart), wired like the Supervisor wires them (real ``telemetry.metrics.Metrics``, a
  conflating ``TickSlot``, the shared DBWriter and Gateway), each settled (its stop queried
  through the Gateway). The DBWriter, Gateway and PaperExchange are started before the first
  reading; the pairs' states, slots, metrics and actors are all made after it.
- ``idle``: N minimal actors (``SlotReader``), the cost of a pykka thread with almost nothing.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from actors.conflation import TickSlot
from bench.engine_fleet import Fleet, SlotReader, restored_state, settle, symbols

KIB = 1024


def rss_bytes() -> int:
    """VmRSS of this process, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * KIB
    raise RuntimeError("no VmRSS in /proc/self/status")


def _settled_rss() -> int:
    gc.collect()
    return rss_bytes()


def measure_pairs(n: int) -> dict:
    from telemetry.metrics import Metrics

    with tempfile.TemporaryDirectory(prefix="ratchet-rss-") as tmp:
        fleet = Fleet.open(Path(tmp), n)
        metrics = Metrics()
        try:
            before = _settled_rss()
            states = [restored_state(s, i) for i, s in enumerate(symbols(n))]
            fleet.start_pairs([TickSlot(s) for s in symbols(n)], metrics, states=states)
            fleet.flush()
            after = _settled_rss()
        finally:
            fleet.close()
    return {"kind": "pair", "n": n, "before": before, "after": after,
            "per_actor": (after - before) / n}


def measure_idle(n: int) -> dict:
    import pykka

    before = _settled_rss()
    refs = [SlotReader.start(TickSlot(s)) for s in symbols(n)]
    settle(refs)
    after = _settled_rss()
    pykka.ActorRegistry.stop_all(timeout=60)
    return {"kind": "idle", "n": n, "before": before, "after": after,
            "per_actor": (after - before) / n}


def measure_in_subprocess(kind: str, n: int) -> dict:
    """Run one measurement in a new interpreter (from the repository root) and read its JSON."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-m", "bench.engine_rss", kind, str(n)], cwd=root,
                          capture_output=True, text=True, timeout=600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    kind, n = argv[0], int(argv[1])
    result = measure_pairs(n) if kind == "pair" else measure_idle(n)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
