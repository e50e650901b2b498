"""Running the real ``ratchet`` on bad input: one child process per case, its stderr, its exit
code, and sha256 of every input file before and after."""

from __future__ import annotations

import ctypes
import hashlib
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from persistence.db import SCHEMA_VERSION, open_database
from persistence.repository import Repository
from tests.persistence.helpers import order, position

REPO = Path(__file__).resolve().parents[2]
RATCHET = [sys.executable, "-m", "cli.main"]
SECRET_ENV = ("RATCHET_API_KEY", "RATCHET_API_SECRET", "RATCHET_DB_PASSWORD", "DB_PASSWORD")


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV}
    return {**env, "PYTHONPATH": str(REPO), **(extra or {})}


def digests(directory: Path) -> dict[str, str]:
    """sha256 of every file under ``directory``, by relative path."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None,
        preexec: Callable[[], None] | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RATCHET, *args], cwd=cwd, env=child_env(env), capture_output=True,
                          text=True, timeout=timeout, preexec_fn=preexec)


# --- what a child may not do --------------------------------------------------------------------


def drop_dac_override() -> None:
    """In the child: root loses CAP_DAC_OVERRIDE/READ_SEARCH at exec, so file modes bind it
    as they bind any other user (a read-only directory is read-only)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, cap_dac_override, cap_dac_read_search = 24, 1, 2
    for cap in (cap_dac_override, cap_dac_read_search):
        if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def file_size_limit(max_bytes: int) -> Callable[[], None]:
    """In the child: no file may grow past ``max_bytes`` (a full disk for every write);
    SIGXFSZ is ignored so a write fails with EFBIG instead of killing the process."""

    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return preexec


# --- DB files ------------------------------------------------------------------------------------


def sound_db(path: Path, password: str | None = None) -> None:
    db = open_database(path, password=password)
    repo = Repository(db)
    with repo.transaction():
        for i in range(50):
            repo.save_position(position(f"p{i}"))
            repo.save_order(order(f"rt-p{i}-1", pid=f"p{i}"))
    db.close()


def truncated_db(path: Path) -> None:
    sound_db(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 100])


def newer_db(path: Path) -> None:
    sound_db(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
