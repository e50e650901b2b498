"""The bad-input corpus: one row per case. Each runs the real ``ratchet`` in a child process in
a fresh directory holding the case's files, and must end with exactly one line on stderr that
contains ``needle``, exit code ``code`` (2 bad input, 3 safety halt; README, ``core/errors.py``),
and every input file byte-identical.

In ``files`` and ``args``, ``{port}`` becomes a free port and ``{dir}`` the case directory.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.bad_inputs import helpers as h

BAD, HALT, LATER = 2, 3, 75  # LATER: the environment; a restart may succeed
KEYS = {"RATCHET_API_KEY": "corpus-key-4hT8", "RATCHET_API_SECRET": "corpus-secret-9Lw2"}
PAIRS = '[[pairs]]\nsymbol = "BTCUSDT"\n'


def toml(engine: str = "", rest: str = "", pairs: str = PAIRS, db: str = "ratchet.db") -> str:
    """A paper-mode config; ``engine`` adds lines to ``[engine]``."""
    return (f'[engine]\nmode = "paper"\ndb_path = "{db}"\nmetrics_port = {{port}}\n'
            f"{engine}\n{rest}\n{pairs}")


def binance(exchange: str = "") -> str:
    """A binance-mode config; ``exchange`` is the body of ``[exchange]``."""
    return toml(rest=f"[exchange]\n{exchange}\n").replace('"paper"', '"binance"', 1)


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    code: int
    needle: str
    files: dict[str, str | bytes] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None
    preexec: Callable[[], None] | None = None
    hold_lock: bool = False  # run a real engine on ratchet.toml first, holding the DB


RUN = ("run", "-c", "ratchet.toml", "--duration", "5")
CSV_OK = "timestamp,price\n2022-01-01T00:00:00Z,100\n2022-01-01T00:01:00Z,101\n"


def replay(csv: str | bytes, *extra: str) -> Case:
    return Case(("replay", "prices.csv", "--symbol", "BTCUSDT", *extra), BAD, "prices.csv",
                files={"prices.csv": csv})


def run_with(config: str, needle: str, code: int = BAD, **kw) -> Case:
    return Case(RUN, code, needle, files={"ratchet.toml": config}, **kw)


def _with(case: Case, **changes) -> Case:
    from dataclasses import replace

    return replace(case, **changes)


def _db(builder: Callable[[Path], None]) -> Callable[[Path], None]:
    return lambda d: builder(d / "ratchet.db")


def _random_db(d: Path) -> None:
    (d / "ratchet.db").write_bytes(random.Random(7).randbytes(16384))


def _encrypted_db(d: Path) -> None:
    h.sound_db(d / "ratchet.db", password="right-db-pass-Vq3")


def _read_only_dir(d: Path) -> None:
    (d / "ro").mkdir()
    (d / "ro").chmod(0o555)


CONFIG_CASES = [
    pytest.param(run_with(toml(rest="[engin]\n"), "unknown key engin"), id="config-unknown-table"),
    pytest.param(run_with(toml("dbpath = 'x.db'"), "engine.dbpath"), id="config-unknown-engine-key"),
    pytest.param(run_with(toml(pairs=PAIRS + 'trail_pc = "3"\n'), "trail_pc"),
                 id="config-unknown-pair-key"),
    pytest.param(run_with(toml('synchronous = "FULL"\nsynchronus = "OFF"'), "synchronus"),
                 id="config-misspelt-key"),
    pytest.param(run_with(toml().replace("metrics_port = {port}", 'metrics_port = "abc"'),
                          "metrics_port"), id="config-port-wrong-type"),
    pytest.param(run_with(toml(pairs=PAIRS + "trail_pct = true\n"), "trail_pct"),
                 id="config-bool-for-percent"),
    pytest.param(run_with(toml(pairs=PAIRS + 'trail_pct = "abc"\n'), "trail_pct"),
                 id="config-text-for-percent"),
    pytest.param(run_with(toml(pairs=PAIRS + "trail_pct = -1\n"), "trail_pct"),
                 id="config-negative-trail"),
    pytest.param(run_with(toml(pairs=PAIRS + "trail_pct = 0\n"), "trail_pct"),
                 id="config-zero-trail"),
    pytest.param(run_with(toml(rest="[defaults]\nmin_move_pct = -0.2\n"), "min_move_pct"),
                 id="config-negative-min-move"),
    pytest.param(run_with(toml(rest="[defaults]\nquote_per_trade = 0\n"), "quote_per_trade"),
                 id="config-zero-quote"),
    pytest.param(run_with(toml(pairs=PAIRS + "fee_pct = -0.1\n"), "fee_pct"),
                 id="config-negative-fee"),
    pytest.param(run_with(toml(pairs=PAIRS + "trail_pct = 100\n"), "trail_pct"),
                 id="config-trail-100-percent"),
    pytest.param(run_with(toml(pairs=PAIRS + 'entry = "sometimes"\n'), "entry"),
                 id="config-unknown-entry"),
    pytest.param(run_with(toml().replace('"paper"', '"margin"'), "engine.mode"),
                 id="config-unknown-mode"),
    pytest.param(run_with(toml(pairs=""), "pairs"), id="config-no-pairs"),
    pytest.param(run_with(toml(pairs=PAIRS + PAIRS), "BTCUSDT"), id="config-duplicate-symbol"),
    pytest.param(run_with(toml(pairs='[[pairs]]\nsymbol = "btc-usdt"\n'), "symbol"),
                 id="config-bad-symbol"),
    pytest.param(run_with(toml(rest='[feed]\nkind = "carrier-pigeon"\n'), "feed.kind"),
                 id="config-unknown-feed"),
    pytest.param(run_with(toml(rest="[engine\n"), "invalid TOML"), id="config-not-toml"),
    pytest.param(run_with(b"[engine]\nmode = \"paper\xff\"\n", "UTF-8"), id="config-not-utf8"),
    pytest.param(run_with(binance('api_secret = "in-the-file-Zx81"'), "api_secret",
                          env=KEYS), id="config-secret-in-file"),
    pytest.param(Case(("run", "-c", "missing.toml"), BAD, "missing.toml"),
                 id="config-missing-file"),
    pytest.param(Case(("run", "-c", "adir"), BAD, "directory", setup=lambda d: (d / "adir")
                      .mkdir()), id="config-is-a-directory"),
]

CLI_CASES = [
    pytest.param(Case(("fly",), BAD, "invalid choice"), id="cli-unknown-command"),
    pytest.param(Case(("run", "-c", "ratchet.toml", "--turbo"), BAD, "--turbo",
                      files={"ratchet.toml": toml()}), id="cli-unknown-option"),
    pytest.param(Case(("run", "-c", "ratchet.toml", "--duration", "soon"), BAD, "--duration",
                      files={"ratchet.toml": toml()}), id="cli-duration-not-a-number"),
    pytest.param(Case(("replay", "prices.csv"), BAD, "--symbol", files={"prices.csv": CSV_OK}),
                 id="cli-replay-without-symbol"),
    pytest.param(Case(("replay", "prices.csv", "--symbol", "BTCUSDT", "--report",
                       "nowhere/out.json"), BAD, "nowhere", files={"prices.csv": CSV_OK}),
                 id="cli-report-dir-missing"),
    pytest.param(Case(("sim-exchange", "--port", "0", "--fail-rate", "2"), BAD, "--fail-rate"),
                 id="cli-sim-fail-rate"),
    pytest.param(Case(("db",), BAD, "required"), id="cli-db-without-action"),
    pytest.param(Case(("sim-exchange", "--port", "0", "--symbols", "BTCUSDT,btc-usdt"), BAD,
                      "'btc-usdt' is not a symbol"), id="cli-sim-bad-symbol"),
    pytest.param(Case(("sim-exchange", "--port", "0", "--symbols", "BTCUSDT,,ETHUSDT"), BAD,
                      "'' is not a symbol"), id="cli-sim-empty-symbol"),
    pytest.param(Case(("replay", "prices.csv", "--symbol", "GOOG"), BAD, "set quote",
                      files={"prices.csv": CSV_OK}), id="cli-replay-unsplittable-symbol"),
]

REPLAY_CASES = [
    pytest.param(_with(replay(""), needle="empty"), id="csv-empty"),
    pytest.param(_with(replay("timestamp,price\n"), needle="no data rows"), id="csv-header-only"),
    pytest.param(_with(replay("2022-01-01T00:00:00Z,100\n"), needle="header"), id="csv-no-header"),
    pytest.param(_with(replay("time,last\n2022-01-01T00:00:00Z,100\n"), needle="timestamp"),
                 id="csv-wrong-columns"),
    pytest.param(_with(replay("timestamp,price\n2022-01-01T00:00:00Z,abc\n"),
                       needle="bad number"), id="csv-bad-number"),
    pytest.param(_with(replay("timestamp,price\n2022-01-01T00:00:00Z,-5\n"), needle="> 0"),
                 id="csv-negative-price"),
    pytest.param(_with(replay("timestamp,price\nyesterday,100\n"), needle="bad timestamp"),
                 id="csv-bad-timestamp"),
    pytest.param(_with(replay("timestamp,price\n2022-01-02T00:00:00Z,100\n"
                              "2022-01-01T00:00:00Z,101\n"), needle="earlier"),
                 id="csv-time-goes-back"),
    pytest.param(Case(("replay", "adir", "--symbol", "BTCUSDT"), BAD, "directory",
                      setup=lambda d: (d / "adir").mkdir()), id="csv-is-a-directory"),
    pytest.param(_with(replay(b"timestamp,price\n2022-01-01T00:00:00Z,1\xff00\n"),
                       needle="UTF-8"), id="csv-not-utf8"),
    pytest.param(_with(replay("timestamp,open,high,low,close\n1640995200000,100,101,99\n"),
                       needle="columns"), id="csv-short-bar"),
    pytest.param(_with(replay("timestamp,price\n1640995200000,100000000\n"),
                       needle="min_notional"), id="csv-min-notional-unreachable"),
    pytest.param(Case(("replay", "absent.csv", "--symbol", "BTCUSDT"), BAD, "absent.csv"),
                 id="csv-missing-file"),
]

DB_CASES = [
    pytest.param(run_with(toml(), "not a SQLite database", setup=_random_db), id="db-corrupt"),
    pytest.param(run_with(toml(), "truncated", setup=_db(h.truncated_db)), id="db-truncated"),
    pytest.param(run_with(toml(), "newer", setup=_db(h.newer_db)), id="db-newer-schema"),
    pytest.param(run_with(toml(), "wrong password", setup=_encrypted_db,
                          env={"RATCHET_DB_PASSWORD": "wrong-db-pass-Kd7"}),
                 id="db-wrong-password"),
    pytest.param(run_with(toml(), "password", setup=_encrypted_db), id="db-encrypted-no-password"),
    pytest.param(run_with(toml(), "in use by pid", LATER, hold_lock=True),
                 id="db-locked-by-running-engine"),
    pytest.param(Case(("db", "check", "-c", "ratchet.toml"), BAD, "truncated",
                      files={"ratchet.toml": toml()}, setup=_db(h.truncated_db)),
                 id="db-check-truncated"),
    pytest.param(Case(("status", "-c", "ratchet.toml"), BAD, "newer",
                      files={"ratchet.toml": toml()}, setup=_db(h.newer_db)),
                 id="db-status-newer-schema"),
]

ENV_CASES = [
    pytest.param(run_with(binance('base_url = "http://127.0.0.1:9"'), "RATCHET_API_KEY"),
                 id="env-binance-without-keys"),
    pytest.param(run_with(toml(db="ro/ratchet.db"), "ro/ratchet.db",
                          setup=_read_only_dir, preexec=h.drop_dac_override),
                 id="env-read-only-directory"),
    pytest.param(run_with(toml(), "disk I/O error", preexec=h.file_size_limit(8192)),
                 id="env-disk-full-at-start"),
    pytest.param(run_with(toml(db="adir"), "adir",
                          setup=lambda d: (d / "adir").mkdir()), id="env-db-path-is-a-directory"),
    pytest.param(run_with(binance('base_url = "https://api.example.com"'), "--live", BAD,
                          env=KEYS), id="env-remote-url-no-live-flags"),
    pytest.param(run_with(binance('base_url = "https://api.example.com"\nlive = true'),
                          "--live", BAD, env=KEYS), id="env-remote-url-live-config-only"),
    pytest.param(Case((*RUN, "--live"), BAD, "live = true", env=KEYS,
                      files={"ratchet.toml": binance()}), id="env-real-binance-live-flag-only"),
]

ALL = CONFIG_CASES + CLI_CASES + REPLAY_CASES + DB_CASES + ENV_CASES
