"""``ratchet replay`` draws a progress bar on a long file when stderr is a terminal, and prints
exactly what it printed before when it is not."""

from __future__ import annotations

import os
import subprocess

from cli.replay_cmd import PROGRESS_MIN_PRICES
from tests.cli.test_live_view import ANSI
from tests.conftest import REPO, btc_lines
from tests.integration import engine

BARS = PROGRESS_MIN_PRICES // 4 + 10  # four prices a bar: just over the threshold


def _pty_run(cmd: list[str], cwd) -> tuple[int, str]:
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
                            close_fds=True, env={**os.environ, "PYTHONPATH": str(REPO),
                                                 "TERM": "xterm-256color"})
    os.close(slave)
    out = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    code = proc.wait(timeout=300)
    os.close(master)
    return code, ANSI.sub("", out.decode(errors="replace"))


def test_a_long_replay_on_a_terminal_shows_progress(tmp_path):
    prices = tmp_path / "btc.csv"
    prices.write_text(btc_lines(BARS + 1))

    code, screen = _pty_run([*engine.RATCHET, "replay", str(prices), "--symbol", "BTCUSDT"],
                            tmp_path)

    assert code == 0, screen[-1000:]
    assert "replay BTCUSDT" in screen and "%" in screen
    assert f"replayed {BARS * 4} prices of BTCUSDT" in screen


def test_a_replay_off_a_terminal_prints_only_its_summary(tmp_path):
    prices = tmp_path / "btc.csv"
    prices.write_text(btc_lines(BARS + 1))

    done = subprocess.run([*engine.RATCHET, "replay", str(prices), "--symbol", "BTCUSDT"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})

    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith(f"replayed {BARS * 4} prices of BTCUSDT:")
    assert len(done.stdout.splitlines()) == 1
