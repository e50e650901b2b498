"""Shared fixtures. Actor tests stop every actor after each test."""

from __future__ import annotations

from pathlib import Path

import pykka
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
BTC_CSV = SHARED / "data" / "btc-perp-20211231-20220201_1m.csv"
FIXTURES = SHARED / "fixtures" / "binance"


@pytest.fixture(autouse=True)
def _stop_all_actors():
    yield
    pykka.ActorRegistry.stop_all()
