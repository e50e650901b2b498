"""What a new user hits on the first day, each one line with its documented exit code: a busy
metrics port names the port and the key; a venue that does not answer is named; ``history``
that finds no klines says the range; ``-c`` before the command works; ``replay`` of a symbol
without a ``[[pairs]]`` entry says it uses ``[defaults]``; ``min_move_pct`` at or above
``trail_pct`` is refused; ``--version``. Ctrl-C ends ``run`` with one closing line and exit 0,
and a replay with its partial report."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from core import __version__
from core.errors import EXIT_BAD_INPUT, EXIT_UNAVAILABLE
from tests.conftest import REPO, btc_lines
from tests.exchange.binance.simproc import Sim
from tests.integration import engine

RATCHET = [sys.executable, "-m", "cli.main"]
EXIT_INTERRUPTED = 130


def ratchet(*args: str, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RATCHET_")}
    return subprocess.run([*RATCHET, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**base, "PYTHONPATH": str(REPO), **(env or {})})


def paper(directory: Path, extra: str = "", port: int | None = None) -> Path:
    path = directory / "ratchet.toml"
    path.write_text(f'[engine]\ndb_path = "ratchet.db"\nmetrics_port = '
                    f"{port or engine.free_port()}\n{extra}\n[[pairs]]\nsymbol = \"BTCUSDT\"\n")
    return path


def test_a_busy_metrics_port_names_the_port_and_the_key_and_changes_nothing(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config = paper(tmp_path, port=port)

        done = ratchet("run", "-c", str(config), "--duration", "5", cwd=tmp_path)

    assert done.returncode == EXIT_BAD_INPUT, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and f"metrics port {port} on 127.0.0.1 is already in use" in lines[0]
    assert "[engine] metrics_port" in lines[0] and str(config) in lines[0]
    assert not (tmp_path / "ratchet.db").exists()


def test_a_venue_that_does_not_answer_is_named_by_reconcile(tmp_path):
    url = f"http://127.0.0.1:{engine.free_port()}"
    config = tmp_path / "ratchet.toml"
    config.write_text(f'[engine]\nmode = "binance"\ndb_path = "ratchet.db"\n[exchange]\n'
                      f'base_url = "{url}"\ntimeout_s = "1"\n[[pairs]]\nsymbol = "BTCUSDT"\n')

    done = ratchet("reconcile", "--dry-run", "-c", str(config), cwd=tmp_path,
                   env={"RATCHET_API_KEY": "k", "RATCHET_API_SECRET": "s"})

    assert done.returncode == EXIT_UNAVAILABLE, done.stderr
    assert len(done.stderr.splitlines()) == 1 and url in done.stderr


def test_history_that_finds_no_klines_says_the_range_and_writes_nothing(tmp_path):
    sim = Sim(tmp_path)  # its klines start when it does: nothing in 2020
    try:
        done = ratchet("history", "BTCUSDT", "--start", "2020-01-01", "--end", "2020-01-02",
                       "-o", "btc.csv", "--base-url", sim.url, cwd=tmp_path)
    finally:
        sim.stop()

    assert done.returncode == EXIT_BAD_INPUT, done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        f"ratchet: history: no 1m klines of BTCUSDT from 2020-01-01 00:00 to 2020-01-02 00:00 "
        f"(UTC) at {sim.url}: choose another --start/--end (before the symbol was listed?)"]
    assert not (tmp_path / "btc.csv").exists()


def test_config_before_the_command_is_the_same_as_after(tmp_path):
    config = paper(tmp_path)
    done = ratchet("run", "-c", str(config), "--duration", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr

    before = ratchet("-c", str(config), "status", "--json", cwd=tmp_path)
    after = ratchet("status", "--json", "-c", str(config), cwd=tmp_path)
    long_form = ratchet(f"--config={config}", "status", "--json", cwd=tmp_path)

    assert before.returncode == after.returncode == long_form.returncode == 0, before.stderr
    assert json.loads(before.stdout) == json.loads(after.stdout) == json.loads(long_form.stdout)


def test_version(tmp_path):
    done = ratchet("--version", cwd=tmp_path)

    assert done.returncode == 0 and done.stdout.strip() == f"ratchet {__version__}"


def test_replay_of_a_symbol_without_a_pairs_entry_says_it_uses_the_defaults(tmp_path):
    prices = tmp_path / "eth.csv"
    prices.write_text(btc_lines(300))
    config = paper(tmp_path, '[defaults]\ntrail_pct = "2"')

    done = ratchet("replay", str(prices), "--symbol", "ETHUSDT", "-c", str(config), cwd=tmp_path)
    configured = ratchet("replay", str(prices), "--symbol", "BTCUSDT", "-c", str(config),
                         cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"ratchet: ETHUSDT has no [[pairs]] entry in {config}: replaying it with [defaults] "
        "(trail_pct 2, min_move_pct 0.2)"]
    assert configured.returncode == 0 and configured.stderr == ""
    assert done.stdout.rstrip().endswith(" USDT")  # the P&L carries its quote asset


def test_min_move_at_or_above_the_trail_is_refused(tmp_path):
    config = paper(tmp_path, '[defaults]\ntrail_pct = "1"\nmin_move_pct = "2"')
    before = config.read_bytes()

    done = ratchet("run", "-c", str(config), "--duration", "5", cwd=tmp_path)

    assert done.returncode == EXIT_BAD_INPUT
    assert done.stderr.splitlines() == [
        f"ratchet: {config}: defaults.min_move_pct (2) must be below trail_pct (1): the stop "
        "would lag further than the trail"]
    assert config.read_bytes() == before and not (tmp_path / "ratchet.db").exists()


def test_ctrl_c_stops_the_engine_with_one_closing_line_and_exit_0(tmp_path):
    config = engine.write_config(tmp_path, {"BTCUSDT": {}, "ETHUSDT": {}},
                                 defaults='trail_pct = "5"', feed='volatility_pct = "0.05"')
    proc = engine.start(config)
    try:
        engine.wait_for(lambda: "ratchet: paper mode" in (proc.stdout.readline() or ""),
                        timeout=60, what="the boot line")
        engine.wait_for(lambda: len(engine.read(tmp_path / "ratchet.db", lambda r: r.list_positions(
            open_only=True))) == 2, timeout=60, what="two open positions")
        out = engine.stop(proc, signal.SIGINT)
    finally:
        if proc.poll() is None:
            proc.kill()

    assert proc.returncode == 0, out[-2000:]
    closing = out.strip().splitlines()[-1]
    assert closing.startswith("ratchet: stopped; 2 position(s) left under their exchange stops "
                              "(BTCUSDT, ETHUSDT); realized P&L ")
    assert closing.endswith(" USDT")


def test_ctrl_c_during_a_replay_writes_the_partial_report_and_says_so(tmp_path):
    work = tmp_path / "tmp"
    work.mkdir()
    prices = REPO / "data" / "btc-1m.csv.gz"
    proc = subprocess.Popen(
        [*RATCHET, "replay", str(prices), "--symbol", "BTCUSDT", "--report", "r.json",
         "--plot", "r.png"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(work)})
    try:
        # The replay's own work directory appears once prices flow through the actors.
        engine.wait_for(lambda: any(work.glob("ratchet-replay-*/replay.db")), timeout=120,
                        what="the replay under way")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()

    assert proc.returncode == EXIT_INTERRUPTED, err
    report = json.loads((tmp_path / "r.json").read_text())
    seen = report["interrupted"]
    assert 0 < seen["prices"] < seen["of"] == 180_124
    assert seen["last_time"]
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"ratchet: replay interrupted (Ctrl-C) after {seen['prices']} of 180124 prices")
    assert "partial results in r.json and r.png" in lines[0]
    assert out.startswith("replayed ")
