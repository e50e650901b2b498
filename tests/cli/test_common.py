"""The real-money rule: binance mode against anything but loopback or the testnet."""

from __future__ import annotations

import pytest

from cli.common import is_loopback_url, needs_live_flags
from core.config import Config, parse_config

MINIMAL = '[[pairs]]\nsymbol = "BTCUSDT"\n'


def parse(text: str, env: dict[str, str]) -> Config:
    return parse_config(text, source="/etc/ratchet/ratchet.toml", env=env)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("http://127.0.0.1:8765", True, id="ipv4"),
        pytest.param("http://127.5.0.1/api", True, id="ipv4-range"),
        pytest.param("http://localhost:1", True, id="localhost"),
        pytest.param("http://[::1]:80", True, id="ipv6"),
        pytest.param("https://api.binance.com", False, id="binance"),
        pytest.param("http://127.0.0.1.example.com", False, id="lookalike"),
        pytest.param("not a url", False, id="garbage"),
    ],
)
def test_is_loopback_url(url: str, expected: bool):
    assert is_loopback_url(url) is expected


ENV = {"RATCHET_API_KEY": "k", "RATCHET_API_SECRET": "s"}


@pytest.mark.parametrize(
    ("engine_exchange", "expected"),
    [
        pytest.param("[engine]\nmode = 'paper'\n", False, id="paper"),
        pytest.param("[engine]\nmode = 'binance'\n", True, id="no-base-url"),
        pytest.param("[engine]\nmode = 'binance'\n[exchange]\ntestnet = true\n", False,
                     id="testnet-flag"),
        pytest.param("[engine]\nmode = 'binance'\n[exchange]\nbase_url = 'http://127.0.0.1:9'\n",
                     False, id="sim"),
        pytest.param("[engine]\nmode = 'binance'\n[exchange]\n"
                     "base_url = 'https://testnet.binance.vision'\n", False, id="testnet-host"),
        pytest.param("[engine]\nmode = 'binance'\n[exchange]\n"
                     "base_url = 'https://api.binance.com'\n", True, id="real"),
    ],
)
def test_needs_live_flags_only_for_real_binance(engine_exchange: str, expected: bool):
    assert needs_live_flags(parse(engine_exchange + MINIMAL, ENV)) is expected
