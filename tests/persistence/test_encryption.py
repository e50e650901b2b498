"""SQLCipher: round trip, wrong password, ``ratchet db encrypt`` then ``ratchet db rekey``."""

from __future__ import annotations

import stat

import pytest

from core.errors import StoreError, WrongPassword
from persistence import admin
from persistence.db import SQLITE_MAGIC, db_password_from_env, open_database
from persistence.repository import Repository
from tests.persistence.helpers import (
    file_digests,
    fill,
    order,
    position,
    run_main,
    write_config,
)


def _header(path) -> bytes:
    return path.read_bytes()[:16]


def test_encrypted_store_round_trips_and_its_header_is_not_sqlite(tmp_path):
    # Arrange
    path = tmp_path / "secret.db"
    db = open_database(path, password="correct horse")
    Repository(db).save_position(position("p1", seq=7))
    db.close()

    # Act
    db = open_database(path, password="correct horse")
    loaded = Repository(db).load_position("p1")
    db.close()

    # Assert
    assert loaded == position("p1", seq=7)
    assert _header(path) != SQLITE_MAGIC
    assert b"BTCUSDT" not in path.read_bytes()


def test_wrong_password_is_refused_and_the_file_is_unchanged(tmp_path):
    # Arrange
    path = tmp_path / "secret.db"
    open_database(path, password="correct horse").close()
    before = file_digests(tmp_path)

    # Act
    with pytest.raises(WrongPassword, match=str(path)):
        open_database(path, password="battery staple")

    # Assert
    assert file_digests(tmp_path) == before


def test_encrypted_store_without_a_password_is_refused(tmp_path):
    # Arrange
    path = tmp_path / "secret.db"
    open_database(path, password="correct horse").close()

    # Act / Assert
    with pytest.raises(StoreError, match="RATCHET_DB_PASSWORD"):
        open_database(path)


def test_password_comes_from_ratchet_db_password_else_db_password():
    assert db_password_from_env({"RATCHET_DB_PASSWORD": "a", "DB_PASSWORD": "b"}) == "a"
    assert db_password_from_env({"DB_PASSWORD": "b"}) == "b"
    assert db_password_from_env({"RATCHET_DB_PASSWORD": ""}) is None


def test_db_encrypt_then_rekey_keeps_every_row(tmp_path, capsys, monkeypatch):
    # Arrange: a plain store with rows
    path = tmp_path / "ratchet.db"
    db = open_database(path)
    repo = Repository(db)
    repo.save_position(position("p1"))
    repo.save_order(order("o1"))
    repo.record_fill(fill("1"))
    db.close()
    config = write_config(tmp_path, path)

    # Act: encrypt
    encrypted = run_main(["db", "encrypt", "-c", str(config)], capsys, monkeypatch,
                         {"RATCHET_DB_NEW_PASSWORD": "first password"})

    # Assert
    assert encrypted.returncode == 0, encrypted
    assert "first password" not in encrypted.stdout + encrypted.stderr
    assert _header(path) != SQLITE_MAGIC
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert admin.check(path, "first password").counts == {
        "positions": 1, "orders": 1, "trades": 1, "kv": 0}

    # Act: rekey
    rekeyed = run_main(["db", "rekey", "-c", str(config)], capsys, monkeypatch,
                       {"RATCHET_DB_PASSWORD": "first password",
                        "RATCHET_DB_NEW_PASSWORD": "second password"})

    # Assert
    assert rekeyed.returncode == 0, rekeyed
    assert "password" not in rekeyed.stdout.replace("the new password", "")
    with pytest.raises(WrongPassword):
        open_database(path, password="first password")
    db = open_database(path, password="second password")
    assert Repository(db).load_position("p1") == position("p1")
    assert Repository(db).list_fills() == [fill("1")]
    db.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ratchet.db", "ratchet.db.lock", "ratchet.toml"]


def test_rekey_with_a_wrong_current_password_leaves_the_file(tmp_path):
    # Arrange
    path = tmp_path / "ratchet.db"
    open_database(path, password="right password").close()
    before = file_digests(tmp_path)

    # Act
    with pytest.raises(WrongPassword):
        admin.rekey(path, "wrong password", "new password")

    # Assert
    after = file_digests(tmp_path)
    assert {name: after[name] for name in before} == before
    assert set(after) - set(before) == {"ratchet.db.lock"}
