"""Run the real ``ratchet`` engine as a subprocess on a config in a temp directory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from persistence.db import open_database
from persistence.repository import Repository

RATCHET = [sys.executable, "-m", "cli.main"]
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(directory: Path, pairs: dict[str, dict[str, str]], *, feed: str = "",
                 defaults: str = "", engine: str = "") -> Path:
    """A paper-mode config with one ``[[pairs]]`` entry per symbol."""
    lines = [
        "[engine]", 'mode = "paper"', 'db_path = "ratchet.db"',
        'paper_state_path = "paper.db"', f"metrics_port = {free_port()}",
        "status_interval_s = 1", engine,
        "[feed]", 'kind = "simulated"', "interval_ms = 50", feed,
        "[defaults]", defaults,
    ]
    for symbol, extra in pairs.items():
        lines += ["[[pairs]]", f'symbol = "{symbol}"']
        lines += [f'{k} = "{v}"' for k, v in extra.items()]
    path = directory / "ratchet.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def start(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [*RATCHET, "run", "-c", str(config), *args], cwd=config.parent,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> str:
    """Stop the engine with ``sig``; return everything it printed."""
    if proc.poll() is None:
        proc.send_signal(sig)
    out, _ = proc.communicate(timeout=timeout)
    return out


def wait_for(predicate: Callable[[], Any], *, timeout: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - the DB may not exist yet
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.1)


def read(db_path: Path, fn: Callable[[Repository], Any]) -> Any:
    """Run ``fn`` on a read-only repository over the engine's DB."""
    db = open_database(db_path, readonly=True)
    try:
        return fn(Repository(db))
    finally:
        db.close()


def write(db_path: Path, fn: Callable[[Repository], Any]) -> Any:
    """Change the DB while the engine is down."""
    db = open_database(db_path)
    try:
        with db.atomic("IMMEDIATE"):
            return fn(Repository(db))
    finally:
        db.close()
