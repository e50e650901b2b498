"""``ratchet run`` under a pseudo-terminal shows the live table with every pair and the latest
order events, and writes the structured log lines to the log file instead of the screen. With
``--log-format`` it behaves as before: log lines on the terminal, no table, no log file."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

from tests.integration import engine

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
FEED = 'volatility_pct = "0.3"'
DEFAULTS = 'trail_pct = "0.5"\nmin_move_pct = "0.05"'
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
HEADER = ("symbol", "price", "highest", "stop", "to stop %", "position", "unrealized",
          "realized", "state", "last event")


def run_in_pty(config: Path, *args: str, seconds: float = 6,
               columns: int = 200) -> tuple[int, str]:
    """``ratchet run --duration`` with stdin, stdout and stderr on one pty of 45 rows and
    ``columns`` cells."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 45, columns, 0, 0))
    proc = subprocess.Popen(
        [*engine.RATCHET, "run", "-c", str(config), "--duration", str(seconds), *args],
        cwd=config.parent, stdin=slave, stdout=slave, stderr=slave, close_fds=True,
        env={**{k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")},
             "PYTHONPATH": str(engine.REPO), "TERM": "xterm-256color"})  # the pty's size
    os.close(slave)
    output = bytearray()
    deadline = time.monotonic() + seconds + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer closed its side
                    break
                if not chunk:
                    break
                output += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return code, ANSI.sub("", output.decode(errors="replace"))


def _config(tmp_path: Path) -> Path:
    return engine.write_config(tmp_path, {s: {} for s in SYMBOLS}, feed=FEED, defaults=DEFAULTS)


def _table_rows(screen: str) -> dict[str, list[str]]:
    """The cells of the last drawn table's rows, by symbol."""
    rows: dict[str, list[str]] = {}
    for line in screen.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃").split("│")]
        if len(cells) == len(HEADER) and cells[0] in SYMBOLS:
            rows[cells[0]] = cells
    return rows


def test_run_on_a_terminal_shows_the_table_and_logs_to_the_file(tmp_path):
    config = _config(tmp_path)

    code, screen = run_in_pty(config)

    assert code == 0, screen[-2000:]
    assert all(name in screen for name in HEADER), screen[-2000:]
    rows = _table_rows(screen)
    assert set(rows) == set(SYMBOLS), screen[-3000:]
    for cells in rows.values():
        assert cells[1] != "-" and cells[8] in {"OPEN", "FLAT", "ENTERING", "EXITING"}
    assert "latest order events" in screen and "STOP_LOSS_LIMIT NEW" in screen
    assert "ts=" not in screen  # no log line on the terminal
    log = (tmp_path / "ratchet.log").read_text()
    lines = log.splitlines()
    assert lines and all(line.startswith("ts=") for line in lines)
    assert any(" event=order " in line and "client_order_id=" in line for line in lines)
    assert (tmp_path / "ratchet.log").stat().st_mode & 0o777 == 0o600


def test_run_with_log_format_on_a_terminal_behaves_as_before(tmp_path):
    config = _config(tmp_path)

    code, screen = run_in_pty(config, "--log-format", "kv", seconds=4)

    assert code == 0, screen[-2000:]
    assert "ts=" in screen and " event=order " in screen  # log lines on the terminal
    assert "to stop %" not in screen  # no table
    assert re.search(r"^BTCUSDT\s+price=", screen, re.MULTILINE)  # the status lines
    assert not (tmp_path / "ratchet.log").exists()


def test_log_file_flag_chooses_where_the_live_view_logs_go(tmp_path):
    config = _config(tmp_path)
    target = tmp_path / "logs" / "engine.log"

    code, screen = run_in_pty(config, "--log-file", str(target), seconds=3)

    assert code == 0, screen[-2000:]
    assert target.read_text().startswith("ts=")
    assert not (tmp_path / "ratchet.log").exists()


NUMBER = re.compile(r"^~?-?\d+\.\d+$")


def test_the_table_fits_80_columns_with_every_value_whole(tmp_path):
    """At 80 columns the narrow layout: whole columns dropped, never a cell cut; prices to
    the tick (0.01), quantities to the step (0.00001), P&L with its quote asset; a stop move
    is one event, old → new."""
    config = _config(tmp_path)

    code, screen = run_in_pty(config, seconds=10, columns=80)

    assert code == 0, screen[-2000:]
    lines = screen.splitlines()
    drawn = [line for line in lines if not line.startswith("ratchet:")]  # plain, wrapped text
    assert all(len(line.rstrip()) <= 80 for line in drawn), max(drawn, key=len)
    assert "…" not in screen  # rich's ellipsis: nothing was cut
    header = next(line.split() for line in reversed(lines)
                  if line.split()[:2] == ["symbol", "price"])
    assert header == ["symbol", "price", "stop", "to", "stop", "%", "position", "P&L", "state"]
    rows = {}
    for line in lines:
        cells = line.split()
        if cells and cells[0] in SYMBOLS:
            rows[cells[0]] = cells
    assert set(rows) == set(SYMBOLS), screen[-3000:]
    for cells in rows.values():
        price, stop, distance, qty = cells[1:5]
        assert re.fullmatch(r"\d+\.\d{2}", price), cells
        assert stop == "-" or re.fullmatch(r"~?\d+\.\d{2}", stop), cells
        assert distance == "-" or NUMBER.match(distance), cells
        assert qty == "-" or re.fullmatch(r"\d+\.\d{5}", qty), cells
        if cells[5] != "-":
            assert NUMBER.match(cells[5]) and cells[6] == "USDT", cells
    moves = re.findall(r"stop (\d+\.\d{2}) → (\d+\.\d{2})", screen)
    assert moves and all(float(new) > float(old) for old, new in moves)  # display
    assert "STOP_LOSS_LIMIT NEW" in screen
    closing = [line for line in lines if line.startswith("ratchet: stopped;")]
    assert closing and "realized P&L" in closing[-1] and closing[-1].rstrip().endswith("USDT")
