"""Config: the assets of a pair (``base``, ``quote``), the paper account (``[paper]``), and
commands that need only ``[engine]``."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.config import parse_config
from tests.core.test_config import ENV_KEYS, MINIMAL, NO_ENV, error_of, parse


def test_pair_assets_are_read_from_base_and_quote():
    cfg = parse('[[pairs]]\nsymbol = "GOOG"\nquote = "USD"\n[[pairs]]\nsymbol = "XAU1"\n'
                'base = "XAU"\nquote = "EUR"\n')

    assert (cfg.pair("GOOG").base, cfg.pair("GOOG").quote) == (None, "USD")
    assert (cfg.pair("XAU1").base, cfg.pair("XAU1").quote) == ("XAU", "EUR")


def test_paper_mode_refuses_a_symbol_it_cannot_split_and_says_to_set_quote():
    message = error_of('[[pairs]]\nsymbol = "GOOG"\n')

    assert "pairs[0].quote is needed" in message
    assert "set quote" in message


def test_binance_mode_takes_assets_from_the_venue_so_any_symbol_parses():
    cfg = parse('[engine]\nmode = "binance"\n[[pairs]]\nsymbol = "GOOG"\n', ENV_KEYS)

    assert cfg.pair("GOOG").quote is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('[[pairs]]\nsymbol = "BTCUSDT"\nquote = "usdt"\n',
                     "pairs[0].quote must be an uppercase asset", id="lowercase-quote"),
        pytest.param('[[pairs]]\nsymbol = "BTCUSDT"\nbase = 5\n',
                     "pairs[0].base must be a string", id="number-base"),
        pytest.param('[paper]\nbalances = "lots"\n' + MINIMAL,
                     "paper.balances must be a table", id="balances-not-a-table"),
        pytest.param('[paper]\nbalances = { USDT = -1 }\n' + MINIMAL,
                     "paper.balances.USDT must be >= 0", id="negative-balance"),
        pytest.param('[paper]\nbalances = { usdt = 1 }\n' + MINIMAL,
                     "paper.balances.usdt must be an uppercase asset", id="lowercase-asset"),
        pytest.param('[paper]\nfunds = 1\n' + MINIMAL, "unknown key paper.funds",
                     id="unknown-paper-key"),
    ],
)
def test_bad_asset_settings_name_the_key(text, expected):
    assert expected in error_of(text)


def test_paper_balances_are_read_per_asset():
    cfg = parse('[paper]\nbalances = { EUR = "500", BTC = 0.05 }\n' + MINIMAL)

    assert dict(cfg.paper.balances) == {"EUR": Decimal(500), "BTC": Decimal("0.05")}


def test_db_commands_need_only_the_engine_table():
    cfg = parse_config('[engine]\ndb_path = "x.db"\n', source="/etc/r/ratchet.toml",
                       env=NO_ENV, need_pairs=False)

    assert cfg.pairs == ()
    assert "at least one [[pairs]]" in error_of('[engine]\ndb_path = "x.db"\n')
