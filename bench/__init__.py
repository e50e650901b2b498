"""Benchmarks. ``python -m bench`` runs every ``bench/*_bench.py`` module's ``main()``.

Each figure is one JSON object a line with at least ``bench``, ``metric``, ``value``, ``unit``,
``baseline`` and ``ratio`` (value / baseline), measured side by side in the same run. ``emit``
prints one. ``machine()`` describes the machine the figures come from (CPU, cores, memory,
Python, the load average); ``bench/report.py`` (``make bench``) prints it, runs the benchmarks
and writes docs/performance.md from their lines.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """The machine the figures come from: what a reader needs to weigh them."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)  # display
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    return {"bench": "machine", "cpu": cpu or "unknown", "cores": os.cpu_count(),
            "memory_gib": memory_gib, "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}",
            "load_1m": round(load[0], 2) if load[0] is not None else None,  # display
            "quick": bool(os.environ.get("RATCHET_BENCH_QUICK"))}


def emit(*, bench: str, metric: str, value: float, unit: str, baseline: float | None,
         better: str, **extra: Any) -> dict[str, Any]:
    """Print one figure as a JSON line and return it. ``better`` is "higher" or "lower"."""
    ratio = None if not baseline else value / baseline
    record = {"bench": bench, "metric": metric, "value": _round(value), "unit": unit,
              "baseline": _round(baseline), "ratio": _round(ratio), "better": better}
    record.update({k: _round(v) if isinstance(v, float) else v for k, v in extra.items()})
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()
    return record


def _round(x: float | None) -> float | None:
    if x is None:
        return None
    return float(f"{x:.4g}")  # display


def run_in_workdir(name: str, run: Callable[[Any, Path], Any], sizes: Any, quick: Any) -> None:
    """A bench module's ``main``: ``quick`` sizes when ``RATCHET_BENCH_QUICK`` is set, in a
    fresh temp directory (under ``RATCHET_BENCH_DIR`` if set) that is removed afterwards."""
    chosen = quick if os.environ.get("RATCHET_BENCH_QUICK") else sizes
    workdir = Path(tempfile.mkdtemp(prefix=f"ratchet-{name}-bench-",
                                    dir=os.environ.get("RATCHET_BENCH_DIR")))
    try:
        run(chosen, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
