"""``ratchet db backup`` copies a store online while another process keeps writing to it."""

from __future__ import annotations

import signal
import subprocess
import sys

from persistence import admin
from persistence.db import open_database
from persistence.repository import Repository
from tests.conftest import REPO
from tests.persistence.helpers import child_env, run_main, write_config


def test_online_backup_while_another_process_writes_passes_integrity_check(
        tmp_path, capsys, monkeypatch):
    # Arrange: an engine-like process holds the lock and commits through a DBWriter non-stop
    db_path = tmp_path / "live.db"
    config = write_config(tmp_path, db_path)
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.persistence.crash_child", str(db_path), "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
        env=child_env())
    try:
        for _ in range(50):
            assert writer.stdout.readline(), "the writer stopped"

        # Act
        result = run_main(["db", "backup", str(tmp_path / "copy.db"), "-c", str(config)],
                          capsys, monkeypatch)
        acks_after = [writer.stdout.readline() for _ in range(50)]
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.communicate(timeout=30)

    # Assert: the copy is sound and is one consistent snapshot; the writer never stopped
    assert result.returncode == 0, result
    assert "integrity_check of the copy: ok" in result.stdout
    check = admin.check(tmp_path / "copy.db")
    assert check.ok and check.counts["orders"] >= 50
    copy = open_database(tmp_path / "copy.db", readonly=True)
    repo = Repository(copy)
    orders = {o.client_order_id[1:] for o in repo.list_orders()}
    fills = {f.exchange_trade_id[1:] for f in repo.list_fills()}
    copy.close()
    assert orders == fills
    assert all(acks_after)
    assert not (tmp_path / "copy.db-wal").exists()


def test_backup_refuses_to_overwrite_an_existing_file(tmp_path, capsys, monkeypatch):
    # Arrange
    db_path = tmp_path / "ratchet.db"
    open_database(db_path).close()
    (tmp_path / "copy.db").write_text("keep me")
    config = write_config(tmp_path, db_path)

    # Act
    result = run_main(["db", "backup", str(tmp_path / "copy.db"), "-c", str(config)],
                      capsys, monkeypatch)

    # Assert
    assert result.returncode == 2
    assert "already exists" in result.stderr
    assert (tmp_path / "copy.db").read_text() == "keep me"


def test_backup_of_an_encrypted_store_is_encrypted_with_the_same_password(tmp_path):
    # Arrange
    db_path = tmp_path / "secret.db"
    open_database(db_path, password="correct horse").close()

    # Act
    result = admin.backup(db_path, tmp_path / "copy.db", "correct horse")

    # Assert
    assert result.check.ok and result.check.encrypted
    assert not (tmp_path / "copy.db").read_bytes().startswith(b"SQLite format 3")
