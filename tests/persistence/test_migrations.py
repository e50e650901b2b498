"""Numbered migrations recorded in user_version: new, v1 -> v2, legacy kv, newer refused."""

from __future__ import annotations

import json
import sqlite3
import stat

import pytest

from core.errors import SchemaTooNew, StoreError
from persistence import migrations
from persistence.db import SCHEMA_VERSION, open_database
from persistence.repository import Repository
from tests.persistence.helpers import file_digests, order, position


def _schema(db) -> list[tuple[str, str]]:
    return db.execute_sql(
        "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name").fetchall()


def _indices(db) -> set[str]:
    return {n for (n,) in db.execute_sql(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'idx_%'")}


def test_a_new_file_is_created_private_in_wal_mode_at_the_current_version(tmp_path):
    # Arrange
    path = tmp_path / "var" / "new.db"

    # Act
    db = open_database(path)

    # Assert
    assert migrations.user_version(db) == SCHEMA_VERSION == 2
    assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute_sql("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert {"idx_orders_position", "idx_positions_updated"} <= _indices(db)
    for p in (path, path.with_name("new.db-wal"), path.with_name("new.db-shm")):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    db.close()


def test_an_empty_file_is_migrated_to_the_current_version(tmp_path):
    # Arrange
    path = tmp_path / "empty.db"
    path.touch()

    # Act
    db = open_database(path)

    # Assert
    assert migrations.user_version(db) == SCHEMA_VERSION
    assert Repository(db).counts() == {"positions": 0, "orders": 0, "trades": 0, "kv": 0}
    db.close()


def test_v1_database_is_migrated_to_v2_keeping_its_rows(tmp_path):
    # Arrange: a store left at v1 (tables, no indices) holding rows
    path = tmp_path / "v1.db"
    db = open_database(path, migrate=False)
    migrations.migrate(db, target=1)
    Repository(db).save_position(position("p1"))
    Repository(db).save_order(order("o1"))
    assert _indices(db) == set()
    db.close()

    # Act
    db = open_database(path)

    # Assert
    assert migrations.user_version(db) == 2
    assert {"idx_orders_position", "idx_positions_updated"} <= _indices(db)
    assert Repository(db).load_position("p1") == position("p1")
    assert [o.client_order_id for o in Repository(db).list_orders(position_id="p1")] == ["o1"]
    db.close()


def test_migrating_twice_changes_nothing(tmp_path):
    # Arrange
    db = open_database(tmp_path / "twice.db")
    schema = _schema(db)

    # Act
    result = migrations.migrate(db)

    # Assert
    assert result == (2, 2)
    assert _schema(db) == schema
    db.close()


def _legacy_kv_store(path, rows: dict[str, str]) -> None:
    """The seed's store: only ``kv``, user_version 0."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT, updated_at TEXT)")
    conn.executemany("INSERT INTO kv VALUES (?, ?, '2022-01-01T00:00:00Z')", rows.items())
    conn.commit()
    conn.close()


def test_legacy_kv_positions_are_imported_and_the_kv_rows_kept(tmp_path):
    # Arrange
    path = tmp_path / "legacy.db"
    a, b = position("a", seq=4), position("b", symbol="ETHUSDT")
    _legacy_kv_store(path, {
        "position:a": json.dumps(a.to_json()),
        "position:b": json.dumps(b.to_json()),
        "last_reconcile": "{}",
    })

    # Act
    db = open_database(path)
    repo = Repository(db)

    # Assert
    assert migrations.user_version(db) == SCHEMA_VERSION
    assert repo.load_position("a") == a
    assert repo.list_positions(symbol="ETHUSDT") == [b]
    assert repo.counts() == {"positions": 2, "orders": 0, "trades": 0, "kv": 3}
    assert repo.kv_get("position:a") == json.dumps(a.to_json())
    db.close()


def test_legacy_row_that_is_not_json_refuses_the_migration_and_leaves_the_file(tmp_path):
    # Arrange
    path = tmp_path / "legacy.db"
    _legacy_kv_store(path, {"position:a": json.dumps(position("a").to_json()),
                            "position:bad": "not json"})
    before = file_digests(tmp_path)

    # Act
    with pytest.raises(StoreError, match="position:bad"):
        open_database(path).close()

    # Assert: the v1 step rolled back whole
    db = open_database(path, readonly=True)
    assert migrations.user_version(db) == 0
    assert {n for (n,) in db.execute_sql("SELECT name FROM sqlite_master")} == {
        "kv", "sqlite_autoindex_kv_1"}
    db.close()
    assert file_digests(tmp_path)[path.name] == before[path.name]


def test_a_newer_schema_is_refused_and_left_byte_identical(tmp_path):
    # Arrange
    path = tmp_path / "newer.db"
    open_database(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = file_digests(tmp_path)

    # Act
    with pytest.raises(SchemaTooNew, match="schema version 3"):
        open_database(path)

    # Assert
    assert file_digests(tmp_path) == before
