"""Every bad store gives one line on stderr, exit 2, and leaves every file byte-identical.

The matrix calls the CLI's ``main`` in this process (it is what the ``ratchet`` script runs);
the cases that need another user's view of a read-only directory, and one smoke test, run the
real command in a child process.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys

import pytest

from persistence.db import SCHEMA_VERSION, open_database
from persistence.repository import Repository
from tests.conftest import REPO
from tests.persistence.helpers import (
    child_env,
    file_digests,
    order,
    position,
    ratchet,
    run_main,
    write_config,
)


def _sound_store(path) -> None:
    db = open_database(path)
    repo = Repository(db)
    with repo.transaction():
        for i in range(200):
            repo.save_position(position(f"p{i}"))
            repo.save_order(order(f"o{i}", pid=f"p{i}"))
    db.close()


def _random_bytes(path, env):
    path.write_bytes(random.Random(7).randbytes(16384))


def _truncated(path, env):
    _sound_store(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 100])


def _text_file(path, env):
    path.write_text("this is a shopping list, not a database\n" * 50)


def _newer_schema(path, env):
    _sound_store(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()


def _wrong_password(path, env):
    db = open_database(path, password="the-right-one")
    Repository(db).save_position(position("p1"))
    db.close()
    env["RATCHET_DB_PASSWORD"] = "a-wrong-one"


CASES = {
    "random-bytes": (_random_bytes, "not a SQLite database"),
    "truncated": (_truncated, "truncated"),
    "text-file": (_text_file, "not a SQLite database"),
    "newer-schema": (_newer_schema, "newer than this Ratchet"),
    "wrong-password": (_wrong_password, "wrong password"),
}


def _assert_refused(result, db_path, before, after, reason, code=2):
    assert result.returncode == code, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert str(db_path) in lines[0] and reason in lines[0]
    assert {name: after[name] for name in before} == before  # byte-identical
    assert set(after) - set(before) <= {db_path.name + ".lock"}


@pytest.mark.parametrize("command", ["check", "migrate"])
@pytest.mark.parametrize("case", list(CASES))
def test_bad_store_is_refused_in_one_line_with_exit_2_and_left_untouched(
        tmp_path, case, command, capsys, monkeypatch):
    # Arrange
    make, reason = CASES[case]
    store = tmp_path / "store"
    store.mkdir()
    db_path = store / "ratchet.db"
    env: dict[str, str] = {}
    make(db_path, env)
    config = write_config(tmp_path, db_path)
    before = file_digests(store)

    # Act
    result = run_main(["db", command, "-c", str(config)], capsys, monkeypatch, env)

    # Assert
    _assert_refused(result, db_path, before, file_digests(store), reason)


@pytest.mark.parametrize("command", ["migrate", "vacuum"])
def test_store_held_by_another_process_is_refused_naming_its_pid(tmp_path, command, capsys,
                                                                 monkeypatch):
    # Arrange
    db_path = tmp_path / "store" / "ratchet.db"
    db_path.parent.mkdir()
    _sound_store(db_path)
    config = write_config(tmp_path, db_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from persistence.db import acquire_lock; "
         "lock = acquire_lock(sys.argv[1]); print('locked', flush=True); sys.stdin.read()",
         str(db_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO, env=child_env())
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = file_digests(db_path.parent)

        # Act
        result = run_main(["db", command, "-c", str(config)], capsys, monkeypatch)

        # Assert
        _assert_refused(result, db_path, before, file_digests(db_path.parent),
                        f"is in use by pid {holder.pid}", code=75)  # a restart may succeed
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)


@pytest.mark.parametrize("existing", [True, False], ids=["existing-db", "new-db"])
def test_store_in_a_read_only_directory_is_refused(tmp_path, existing):
    # Arrange
    store = tmp_path / "ro"
    store.mkdir()
    db_path = store / "ratchet.db"
    if existing:
        _sound_store(db_path)
    config = write_config(tmp_path, db_path)
    before = file_digests(store)
    os.chmod(store, 0o555)
    try:
        # Act
        result = ratchet("db", "migrate", "-c", str(config), honour_file_modes=True)
    finally:
        os.chmod(store, 0o755)

    # Assert
    _assert_refused(result, db_path, before, file_digests(store), str(db_path))
    assert set(file_digests(store)) == set(before)


def test_check_of_a_damaged_store_that_opens_exits_1(tmp_path, capsys, monkeypatch):
    # Arrange: an index that no longer matches its table
    db_path = tmp_path / "ratchet.db"
    _sound_store(db_path)
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET sql = replace(sql, '(state)', '(order_id)') "
                 "WHERE name = 'idx_orders_state'")
    conn.commit()
    conn.close()
    config = write_config(tmp_path, db_path)

    # Act
    result = run_main(["db", "check", "-c", str(config)], capsys, monkeypatch)

    # Assert
    assert result.returncode == 1, result
    assert "missing from index idx_orders_state" in result.stdout


def test_check_of_a_sound_store_prints_version_and_counts_and_exits_0(tmp_path, capsys,
                                                                      monkeypatch):
    # Arrange
    db_path = tmp_path / "ratchet.db"
    _sound_store(db_path)
    config = write_config(tmp_path, db_path)

    # Act
    result = run_main(["db", "check", "-c", str(config)], capsys, monkeypatch)

    # Assert
    assert result.returncode == 0, result
    assert "integrity_check: ok" in result.stdout
    assert f"schema_version: {SCHEMA_VERSION}" in result.stdout
    assert "positions=200 orders=200 trades=0 kv=0" in result.stdout


def test_the_ratchet_command_itself_refuses_a_random_file_with_exit_2(tmp_path):
    # Arrange
    db_path = tmp_path / "store" / "ratchet.db"
    db_path.parent.mkdir()
    _random_bytes(db_path, {})
    config = write_config(tmp_path, db_path)
    before = file_digests(db_path.parent)

    # Act
    result = ratchet("db", "check", "-c", str(config))

    # Assert
    _assert_refused(result, db_path, before, file_digests(db_path.parent),
                    "not a SQLite database")
