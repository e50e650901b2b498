"""Each command imports what it needs: ``status``, ``db`` and paper mode never load
python-binance, and binance mode loads its REST client without the asyncio client and
websocket managers (they load when a stream starts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

HEAVY = ("binance", "aiohttp", "dateparser", "dateparser.date", "requests",
         "exchange.sim.server", "actors.supervisor", "actors.replay", "pykka",
         "Crypto.Math.Numbers", "cffi")


def _loaded_after(code: str, cwd, watched: tuple[str, ...] = HEAVY) -> set[str]:
    """The watched modules in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = f"import sys, json\n{code}\nprint(json.dumps([m for m in {watched!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.fixture
def paper_dir(tmp_path):
    (tmp_path / "ratchet.toml").write_text(
        '[engine]\nmode = "paper"\ndb_path = "ratchet.db"\n\n[[pairs]]\nsymbol = "BTCUSDT"\n')
    return tmp_path


@pytest.mark.parametrize("argv", [
    ["db", "migrate", "-c", "ratchet.toml"],
    ["db", "check", "-c", "ratchet.toml"],
    ["status", "-c", "ratchet.toml"],
], ids=lambda a: " ".join(a[:2]))
def test_store_commands_load_neither_the_engine_nor_python_binance(paper_dir, argv):
    # Arrange
    _loaded_after(f"from cli.main import main; main({['db', 'migrate', '-c', 'ratchet.toml']!r})",
                  paper_dir)

    # Act
    loaded = _loaded_after(f"from cli.main import main; main({argv!r})", paper_dir)

    # Assert
    assert loaded == set()


def test_paper_run_loads_pykka_but_not_python_binance(paper_dir):
    # Act
    loaded = _loaded_after(
        "from cli.main import build_parser; build_parser(['run'])\n"
        "from core.config import load_config\nfrom cli.common import build_exchange\n"
        "build_exchange(load_config('ratchet.toml')).close()", paper_dir)

    # Assert: the actors load later, while connect waits on the venue
    assert "pykka" in loaded
    assert not loaded & {"binance", "aiohttp", "dateparser", "requests", "actors.replay",
                         "exchange.sim.server"}


def test_binance_mode_loads_the_rest_client_and_not_the_streaming_half(paper_dir):
    # Act
    loaded = _loaded_after(
        "from exchange.binance.exchange import BinanceExchange\n"
        "BinanceExchange(api_key='k', api_secret='s', base_url='http://127.0.0.1:9')",
        paper_dir)

    # Assert: nor pycryptodome's RSA and ECC code (and cffi's C parser): Ratchet signs with HMAC
    assert {"binance", "requests"} <= loaded
    assert not loaded & {"aiohttp", "dateparser.date", "Crypto.Math.Numbers", "cffi"}


def test_pycryptodome_is_whole_for_a_key_that_signs_with_rsa(paper_dir):
    # Act: python-binance's own names for its RSA and Ed25519 keys, used after our REST load
    loaded = _loaded_after(
        "import exchange.binance.exchange\n"
        "from binance.base_client import RSA, ECC, SHA256, pkcs1_15\n"
        "key = RSA.generate(1024)\n"
        "signature = pkcs1_15.new(key).sign(SHA256.new(b'symbol=BTCUSDT'))\n"
        "pkcs1_15.new(key.public_key()).verify(SHA256.new(b'symbol=BTCUSDT'), signature)\n"
        "assert ECC.generate(curve='ed25519').has_private()", paper_dir)

    # Assert
    assert "Crypto.Math.Numbers" in loaded


def test_run_loads_neither_the_live_view_nor_the_actors_before_it_connects(paper_dir):
    # Act: what ``ratchet run`` imports before connect: the live view only with a terminal,
    # the actors (50 ms) while connect waits on the venue
    loaded = _loaded_after("import cli.run_cmd, cli.common", paper_dir,
                           watched=("rich", "cli.live_view", "actors.supervisor"))

    # Assert
    assert loaded == set()


def test_python_binance_is_whole_for_code_that_imports_it_directly(paper_dir):
    # Act: our REST-only load first, then the package's own names, as a test or tool would
    loaded = _loaded_after(
        "import exchange.binance.exchange\n"
        "from binance import AsyncClient, BinanceSocketManager, Client\n"
        "import binance\nassert binance.__version__ and AsyncClient and Client\n"
        "from binance.helpers import date_to_milliseconds\n"
        "assert date_to_milliseconds('1 Jan 2022 UTC') == 1640995200000", paper_dir)

    # Assert
    assert {"binance", "aiohttp", "dateparser.date"} <= loaded


def test_two_threads_starting_streams_at_once_both_get_the_whole_package(paper_dir):
    # Act: the user stream and the market data start on their own threads at the same time
    loaded = _loaded_after(
        "import threading, exchange.binance.exchange\n"
        "got, go = [], threading.Barrier(8)\n"
        "def start():\n"
        "    go.wait()\n"
        "    from binance import AsyncClient, BinanceSocketManager\n"
        "    got.append((AsyncClient, BinanceSocketManager))\n"
        "threads = [threading.Thread(target=start) for _ in range(8)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "assert len(got) == 8, got", paper_dir)

    # Assert
    assert "aiohttp" in loaded
