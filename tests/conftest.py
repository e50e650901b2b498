"""Shared fixtures. Actor tests stop every actor after each test."""

from __future__ import annotations

import gzip
from itertools import islice
from pathlib import Path

import pykka
import pytest

REPO = Path(__file__).resolve().parent.parent
BTC_CSV = REPO / "data" / "btc-1m.csv.gz"  # see data/README.md
FIXTURES = REPO / "tests" / "fixtures" / "binance"  # see its README.md


def btc_lines(n: int) -> str:
    """The first ``n`` lines (header included) of the bundled BTC file, as CSV text."""
    with gzip.open(BTC_CSV, "rt") as src:
        return "".join(islice(src, n))


@pytest.fixture(autouse=True)
def _stop_all_actors():
    yield
    pykka.ActorRegistry.stop_all()
