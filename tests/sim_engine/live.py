"""What the live-venue tests read from a running engine besides its DB: its metrics."""

from __future__ import annotations

import tomllib
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families


def metric(config: Path, name: str, **labels: str) -> float | None:
    """One sample of the engine's ``/metrics`` (None when absent or not answering)."""
    port = tomllib.loads(config.read_text())["engine"]["metrics_port"]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def unprotected(config: Path, symbol: str) -> float | None:
    return metric(config, "ratchet_position_unprotected", symbol=symbol)


def buys_on_sim(sim) -> list[dict]:
    """Our BUY orders the sim filled."""
    return [o for o in sim.orders() if o["clientOrderId"].startswith("rt-")
            and o["side"] == "BUY" and o["status"] == "FILLED"]
