"""``ratchet db`` commands that succeed, and their argument errors."""

from __future__ import annotations

from persistence.db import SCHEMA_VERSION, open_database
from persistence.repository import Repository
from tests.persistence.helpers import order, run_main, write_config


def test_migrate_creates_the_store_then_finds_nothing_to_do(tmp_path, capsys, monkeypatch):
    # Arrange
    db_path = tmp_path / "var" / "ratchet.db"
    config = write_config(tmp_path, db_path)

    # Act
    first = run_main(["db", "migrate", "-c", str(config)], capsys, monkeypatch)
    second = run_main(["db", "migrate", "-c", str(config)], capsys, monkeypatch)

    # Assert
    assert (first.returncode, second.returncode) == (0, 0)
    assert f"from schema version 0 to {SCHEMA_VERSION}" in first.stdout
    assert "nothing to migrate" in second.stdout
    assert db_path.exists()


def test_without_a_config_file_the_store_is_var_ratchet_db(tmp_path, capsys, monkeypatch):
    # Arrange
    monkeypatch.chdir(tmp_path)

    # Act
    result = run_main(["db", "migrate", "-c", "absent.toml"], capsys, monkeypatch)

    # Assert
    assert result.returncode == 0, result
    assert (tmp_path / "var" / "ratchet.db").exists()


def test_vacuum_keeps_every_row(tmp_path, capsys, monkeypatch):
    # Arrange
    db_path = tmp_path / "ratchet.db"
    db = open_database(db_path)
    repo = Repository(db)
    with repo.transaction():
        for i in range(300):
            repo.save_order(order(f"o{i}"))
    db.close()
    config = write_config(tmp_path, db_path)

    # Act
    result = run_main(["db", "vacuum", "-c", str(config)], capsys, monkeypatch)

    # Assert
    assert result.returncode == 0, result
    db = open_database(db_path, readonly=True)
    assert Repository(db).counts()["orders"] == 300
    db.close()


def test_encrypt_needs_the_new_password_in_its_variable(tmp_path, capsys, monkeypatch):
    # Arrange
    db_path = tmp_path / "ratchet.db"
    open_database(db_path).close()
    config = write_config(tmp_path, db_path)
    before = db_path.read_bytes()

    # Act
    result = run_main(["db", "encrypt", "-c", str(config)], capsys, monkeypatch)

    # Assert
    assert result.returncode == 2
    assert "RATCHET_DB_NEW_PASSWORD" in result.stderr
    assert db_path.read_bytes() == before


def test_encrypt_refuses_when_a_database_password_is_already_set(tmp_path, capsys,
                                                                 monkeypatch):
    # Arrange
    db_path = tmp_path / "ratchet.db"
    open_database(db_path).close()
    config = write_config(tmp_path, db_path)

    # Act
    result = run_main(["db", "encrypt", "-c", str(config)], capsys, monkeypatch,
                      {"RATCHET_DB_PASSWORD": "old", "RATCHET_DB_NEW_PASSWORD": "new"})

    # Assert
    assert result.returncode == 2
    assert "rekey" in result.stderr
    assert db_path.read_bytes().startswith(b"SQLite format 3")


def test_db_commands_need_only_the_engine_table(tmp_path, capsys, monkeypatch):
    db_path = tmp_path / "only-engine.db"
    config = tmp_path / "ratchet.toml"
    config.write_text(f'[engine]\ndb_path = "{db_path}"\n')

    migrated = run_main(["db", "migrate", "-c", str(config)], capsys, monkeypatch)
    checked = run_main(["db", "check", "-c", str(config)], capsys, monkeypatch)

    assert (migrated.returncode, checked.returncode) == (0, 0), (migrated, checked)
    assert db_path.exists()
