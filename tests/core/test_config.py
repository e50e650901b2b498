"""Config: a frozen, typed object validated once; every error names the file and the key."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from core.config import (
    Config,
    FeedKind,
    Mode,
    load_config,
    parse_config,
    redacted,
)
from core.errors import EXIT_BAD_INPUT, ConfigError
from core.types import EntryMode

VALID = """
[engine]
mode = "paper"
db_path = "state/r.db"
metrics_port = 9500
client_id_prefix = "rx1"
synchronous = "NORMAL"
log_format = "json"

[exchange]
testnet = false
timeout_s = 2.5

[feed]
kind = "simulated"
seed = 42
interval_ms = 100
volatility_pct = 0.3

[feed.start_prices]
BTCUSDT = 40000
ETHUSDT = "3000.5"

[defaults]
trail_pct = 2
min_move_pct = "0.1"
fee_pct = 0.075

[[pairs]]
symbol = "BTCUSDT"
trail_pct = 1.5
tick = "0.01"
step = "0.00001"

[[pairs]]
symbol = "ETHUSDT"
entry = "adopt"
quote_per_trade = 50
"""

NO_ENV: dict[str, str] = {}
ENV_KEYS = {"RATCHET_API_KEY": "k", "RATCHET_API_SECRET": "s"}


def parse(text: str, env: dict[str, str] | None = None) -> Config:
    return parse_config(text, source="/etc/ratchet/ratchet.toml", env=env or NO_ENV)


def error_of(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text, env)
    message = str(info.value)
    assert "\n" not in message
    return message


MINIMAL = '[[pairs]]\nsymbol = "BTCUSDT"\n'


def test_valid_file_gives_typed_values_with_pair_overrides_on_defaults(tmp_path: Path):
    path = tmp_path / "ratchet.toml"
    path.write_text(VALID)

    cfg = load_config(path, env=NO_ENV)

    assert cfg.engine.mode is Mode.PAPER and cfg.engine.mode == "paper"
    assert cfg.engine.db_path == tmp_path / "state" / "r.db"
    assert cfg.engine.paper_state_path == tmp_path / "state" / "r.paper.db"
    assert cfg.engine.metrics_port == 9500
    assert cfg.engine.synchronous == "NORMAL" and cfg.engine.log_format == "json"
    assert cfg.exchange.timeout_s == Decimal("2.5")
    assert cfg.feed.kind is FeedKind.SIMULATED and cfg.feed.seed == 42
    assert cfg.feed.start_price("ETHUSDT") == Decimal("3000.5")
    assert cfg.feed.start_price("XRPUSDT") == Decimal(100)
    assert cfg.symbols == ("BTCUSDT", "ETHUSDT")
    btc, eth = cfg.pair("BTCUSDT"), cfg.pair("ETHUSDT")
    assert btc.trail_pct == Decimal("1.5") and eth.trail_pct == Decimal(2)
    assert btc.min_move_pct == Decimal("0.1") and btc.fee_pct == Decimal("0.075")
    assert eth.entry is EntryMode.ADOPT and eth.quote_per_trade == Decimal(50)
    assert btc.limit_offset_pct == Decimal("0.5")  # built-in default
    assert cfg.source == path


def test_minimal_file_uses_every_default():
    cfg = parse(MINIMAL)

    assert cfg.engine.mode == "paper"
    assert cfg.engine.db_path == Path("/etc/ratchet/var/ratchet.db")
    assert cfg.engine.paper_state_path == Path("/etc/ratchet/var/ratchet.paper.db")
    assert (cfg.engine.metrics_host, cfg.engine.metrics_port) == ("127.0.0.1", 9464)
    assert cfg.engine.client_id_prefix == "rt"
    assert cfg.engine.status_interval_s == Decimal(5)
    assert cfg.feed.kind == "simulated" and cfg.feed.volatility_pct == Decimal("0.15")
    assert cfg.exchange.recv_window_ms == 5000 and cfg.exchange.live is False
    assert cfg.pair("BTCUSDT").trail_pct == Decimal(3)
    assert (cfg.pair("BTCUSDT").tick, cfg.pair("BTCUSDT").min_notional) == (
        Decimal("0.01"), Decimal(5))


def test_config_is_frozen():
    cfg = parse(MINIMAL)

    with pytest.raises(AttributeError):
        cfg.engine.mode = "binance"  # type: ignore[misc]


def test_decimal_from_toml_number_is_exact():
    cfg = parse('[defaults]\nfee_pct = 0.1\nmin_move_pct = 0.30\n' + MINIMAL)

    assert cfg.defaults.fee_pct == Decimal("0.1")
    assert str(cfg.pair("BTCUSDT").fee_pct) == "0.1"
    assert str(cfg.pair("BTCUSDT").min_move_pct) == "0.30"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("foo = 1\n" + MINIMAL, "ratchet.toml: unknown key foo", id="top-level"),
        pytest.param("[engine]\nfoo = 1\n" + MINIMAL, "ratchet.toml: unknown key engine.foo",
                     id="engine"),
        pytest.param(MINIMAL + "trailpct = 2\n", "ratchet.toml: unknown key pairs[0].trailpct",
                     id="pair-typo"),
        pytest.param("[defaults]\nsymbol = 'X'\n" + MINIMAL,
                     "ratchet.toml: unknown key defaults.symbol", id="symbol-in-defaults"),
        pytest.param("[feed]\nkind = 'binance'\nbogus = 1\n" + MINIMAL,
                     "ratchet.toml: unknown key feed.bogus", id="feed"),
    ],
)
def test_unknown_key_is_an_error_naming_file_and_key(text: str, expected: str):
    assert error_of(text).endswith(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('[[pairs]]\nsymbol = "AAAUSDT"\n[[pairs]]\nsymbol = "BBBUSDT"\n'
                     '[[pairs]]\nsymbol = "CCCUSDT"\ntrail_pct = -1\n',
                     "ratchet.toml: pairs[2].trail_pct must be > 0 (got -1)", id="negative-trail"),
        pytest.param(MINIMAL + "trail_pct = 100\n",
                     "pairs[0].trail_pct must be < 100 (got 100)", id="trail-100"),
        pytest.param(MINIMAL + "trail_pct = 0\n",
                     "pairs[0].trail_pct must be > 0 (got 0)", id="trail-zero"),
        pytest.param("[defaults]\nmin_move_pct = -0.1\n" + MINIMAL,
                     "defaults.min_move_pct must be >= 0 (got -0.1)", id="min-move"),
        pytest.param(MINIMAL + "limit_offset_pct = 100\n",
                     "pairs[0].limit_offset_pct must be < 100", id="limit-offset"),
        pytest.param(MINIMAL + "stop_fill_timeout_s = 0\n",
                     "pairs[0].stop_fill_timeout_s must be > 0", id="timeout"),
        pytest.param(MINIMAL + "fee_pct = -1\n", "pairs[0].fee_pct must be >= 0", id="fee"),
        pytest.param(MINIMAL + "tick = 0\n", "pairs[0].tick must be > 0", id="tick"),
        pytest.param(MINIMAL + "step = '-0.1'\n", "pairs[0].step must be > 0", id="step"),
        pytest.param(MINIMAL + "quote_per_trade = 0\n", "pairs[0].quote_per_trade must be > 0",
                     id="quote-zero"),
        pytest.param(MINIMAL + "entry = 'sometimes'\n",
                     'pairs[0].entry must be one of "always" | "adopt" | "none"', id="entry"),
        pytest.param("[engine]\nmetrics_port = 0\n" + MINIMAL,
                     "engine.metrics_port must be between 1 and 65535 (got 0)", id="port-0"),
        pytest.param("[engine]\nmetrics_port = 70000\n" + MINIMAL,
                     "engine.metrics_port must be between 1 and 65535", id="port-high"),
        pytest.param("[engine]\nclient_id_prefix = 'rt_1'\n" + MINIMAL,
                     "engine.client_id_prefix must be 1 to 8 characters", id="prefix-chars"),
        pytest.param("[engine]\nclient_id_prefix = 'abcdefghi'\n" + MINIMAL,
                     "engine.client_id_prefix must be 1 to 8 characters", id="prefix-long"),
        pytest.param("[engine]\nsynchronous = 'OFF'\n" + MINIMAL,
                     "engine.synchronous must be one of", id="synchronous"),
        pytest.param("[engine]\nlog_format = 'xml'\n" + MINIMAL,
                     "engine.log_format must be one of", id="log-format"),
        pytest.param("[engine]\nstatus_interval_s = 0\n" + MINIMAL,
                     "engine.status_interval_s must be > 0", id="status-interval"),
        pytest.param("[exchange]\nbase_url = 'ftp://x'\n" + MINIMAL,
                     "exchange.base_url must be a http:// or https:// URL", id="base-url"),
        pytest.param("[exchange]\nrecv_window_ms = 0\n" + MINIMAL,
                     "exchange.recv_window_ms must be between 1 and 60000", id="recv-window"),
        pytest.param("[feed]\ninterval_ms = 0\n" + MINIMAL, "feed.interval_ms must be > 0",
                     id="interval"),
        pytest.param("[feed.start_prices]\nBTCUSDT = 0\n" + MINIMAL,
                     "feed.start_prices.BTCUSDT must be > 0", id="start-price"),
        pytest.param("[feed.start_prices]\nbtc = 1\n" + MINIMAL,
                     "feed.start_prices.btc must be an uppercase symbol", id="start-symbol"),
        pytest.param("[feed]\nkind = 'replay'\nseed = 1\n" + MINIMAL,
                     "feed.seed is not an option of the replay feed", id="feed-option-of-kind"),
        pytest.param("[feed]\nkind = 'carrier-pigeon'\n" + MINIMAL, "feed.kind must be one of",
                     id="feed-kind"),
    ],
)
def test_bad_value_is_an_error_naming_the_key(text: str, expected: str):
    message = error_of(text)

    assert message.startswith("/etc/ratchet/ratchet.toml: ")
    assert expected in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(MINIMAL + "trail_pct = true\n",
                     "pairs[0].trail_pct must be a number (got true)", id="bool-as-decimal"),
        pytest.param(MINIMAL + "trail_pct = 'three'\n",
                     'pairs[0].trail_pct must be a number (got "three")', id="word-as-decimal"),
        pytest.param(MINIMAL + "trail_pct = 'nan'\n", "pairs[0].trail_pct must be a finite number",
                     id="nan"),
        pytest.param(MINIMAL + "trail_pct = [1]\n", "pairs[0].trail_pct must be a number",
                     id="array-as-decimal"),
        pytest.param("[engine]\nmetrics_port = '9464'\n" + MINIMAL,
                     'engine.metrics_port must be an integer (got "9464")', id="string-as-int"),
        pytest.param("[engine]\nmetrics_port = 9464.0\n" + MINIMAL,
                     "engine.metrics_port must be an integer (got 9464.0)", id="float-as-int"),
        pytest.param("[engine]\nmetrics_port = true\n" + MINIMAL,
                     "engine.metrics_port must be an integer (got true)", id="bool-as-int"),
        pytest.param("[exchange]\nlive = 'yes'\n" + MINIMAL,
                     'exchange.live must be true or false (got "yes")', id="string-as-bool"),
        pytest.param("[engine]\ndb_path = 5\n" + MINIMAL, "engine.db_path must be a string",
                     id="int-as-path"),
        pytest.param("engine = 1\n" + MINIMAL, "engine must be a table", id="scalar-section"),
        pytest.param("pairs = 'BTCUSDT'\n", "pairs must be an array of tables",
                     id="pairs-not-array"),
    ],
)
def test_wrong_type_is_an_error_naming_the_key(text: str, expected: str):
    assert expected in error_of(text)


def test_unknown_mode_is_an_error():
    message = error_of("[engine]\nmode = 'live'\n" + MINIMAL)

    assert 'engine.mode must be one of "paper" | "binance" (got "live")' in message


def test_empty_pairs_is_an_error():
    assert "pairs must have at least one [[pairs]] entry" in error_of("[engine]\nmode='paper'\n")
    assert "pairs must have at least one" in error_of("pairs = []\n")


def test_duplicate_symbol_is_an_error_naming_both_entries():
    message = error_of(MINIMAL + MINIMAL)

    assert "pairs[1].symbol duplicates pairs[0].symbol (BTCUSDT)" in message


@pytest.mark.parametrize(
    "symbol",
    [pytest.param("btcusdt", id="lowercase"), pytest.param("B", id="too-short"),
     pytest.param("BTC-USDT", id="dash"), pytest.param("A" * 21, id="too-long")],
)
def test_bad_symbol_is_an_error(symbol: str):
    message = error_of(f'[[pairs]]\nsymbol = "{symbol}"\n')

    assert "pairs[0].symbol must be 2 to 20 characters" in message


def test_missing_symbol_is_an_error():
    assert "pairs[0].symbol is required" in error_of("[[pairs]]\ntrail_pct = 2\n")


def test_min_notional_unreachable_names_quote_per_trade():
    message = error_of('[[pairs]]\nsymbol = "BTCUSDT"\nquote_per_trade = 4\nmin_notional = 5\n')

    assert message == ("/etc/ratchet/ratchet.toml: pairs[0].quote_per_trade (4) cannot reach "
                       "min_notional (5)")


def test_min_notional_unreachable_through_defaults_names_the_pair():
    message = error_of("[defaults]\nquote_per_trade = 3\n" + MINIMAL)

    assert "pairs[0].quote_per_trade (3) cannot reach min_notional (5)" in message


def test_missing_file_is_an_error(tmp_path: Path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "ratchet.toml", env=NO_ENV)

    assert str(info.value) == f"{tmp_path / 'ratchet.toml'}: not found"
    assert info.value.exit_code == EXIT_BAD_INPUT


def test_invalid_toml_is_an_error_with_tomllib_message(tmp_path: Path):
    path = tmp_path / "ratchet.toml"
    path.write_text("[engine\nmode = 'paper'\n")

    with pytest.raises(ConfigError) as info:
        load_config(path, env=NO_ENV)

    assert str(info.value).startswith(f"{path}: invalid TOML: ")
    assert "line 1" in str(info.value)


@pytest.mark.parametrize(
    "text",
    [pytest.param("[exchange]\napi_key = 'k'\n" + MINIMAL, id="api-key"),
     pytest.param("[exchange]\napi_secret = 's'\n" + MINIMAL, id="api-secret"),
     pytest.param("[engine]\napi_key = 'k'\n" + MINIMAL, id="in-engine")],
)
def test_secret_in_toml_is_an_error(text: str):
    message = error_of(text)

    assert "secrets come from the environment" in message
    assert "RATCHET_API_KEY" in message


def test_secrets_come_from_env_and_never_show_in_repr():
    env = {"RATCHET_API_KEY": "key-123", "RATCHET_API_SECRET": "secret-456"}

    cfg = parse("[engine]\nmode = 'binance'\n[exchange]\nbase_url = 'http://127.0.0.1:8765'\n"
                + MINIMAL, env)

    assert (cfg.exchange.api_key, cfg.exchange.api_secret) == ("key-123", "secret-456")
    assert "key-123" not in repr(cfg) and "secret-456" not in repr(cfg)


def test_binance_mode_without_env_keys_is_an_error():
    message = error_of("[engine]\nmode = 'binance'\n" + MINIMAL, {"RATCHET_API_KEY": "k"})

    assert message.endswith("binance mode needs RATCHET_API_KEY and RATCHET_API_SECRET in the "
                            "environment")


def test_redacted_is_json_and_hides_secrets():
    env = {"RATCHET_API_KEY": "key-123", "RATCHET_API_SECRET": "secret-456"}
    text = VALID.replace('mode = "paper"', 'mode = "binance"').replace(
        "testnet = false", "base_url = 'http://localhost:1'")
    cfg = parse(text, env)

    text = json.dumps(redacted(cfg))

    out = json.loads(text)
    assert out["exchange"]["api_key"] == "***" and out["exchange"]["api_secret"] == "***"
    assert "key-123" not in text and "secret-456" not in text
    assert out["pairs"][0]["trail_pct"] == "1.5"
    assert out["feed"]["start_prices"] == {"BTCUSDT": "40000", "ETHUSDT": "3000.5"}
    assert out["engine"]["mode"] == "binance"


def test_redacted_shows_unset_secrets_as_none():
    out = redacted(parse(MINIMAL))

    assert out["exchange"]["api_key"] is None and out["exchange"]["api_secret"] is None


def test_redacted_without_pair_settings_names_the_pairs_alone():
    cfg = parse(MINIMAL + "\n[[pairs]]\nsymbol = 'ETHUSDT'\ntrail_pct = 2\n")

    out = redacted(cfg, pair_settings=False)

    assert out["pairs"] == [p.symbol for p in cfg.pairs] and "ETHUSDT" in out["pairs"]
    assert out["engine"] == redacted(cfg)["engine"]


def test_replay_feed_path_is_resolved_against_the_config_directory():
    cfg = parse("[feed]\nkind = 'replay'\npath = 'data/btc.csv'\nspeed = 10\n" + MINIMAL)

    assert cfg.feed.path == Path("/etc/ratchet/data/btc.csv")
    assert cfg.feed.speed == Decimal(10)


def test_settings_for_unconfigured_symbol_uses_defaults():
    cfg = parse("[defaults]\ntrail_pct = 4\n" + MINIMAL)

    assert cfg.settings_for("ETHUSDT").trail_pct == Decimal(4)
    assert cfg.settings_for("ETHUSDT").symbol == "ETHUSDT"
    with pytest.raises(ConfigError):
        cfg.pair("ETHUSDT")
