"""Maintenance of the store, for ``ratchet db``: check, migrate, backup, vacuum, encrypt, rekey.

Commands that change the file take the database's lock first, so they refuse to run while an
engine holds it. ``check`` and ``backup`` only read, through a read-only connection, and run
beside a live engine (WAL). ``encrypt`` and ``rekey`` write a new file, verify it, and only
then rename it over the original: a crash or a failed check leaves the original as it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InputError, StoreError
from persistence import migrations
from persistence.db import (
    acquire_lock,
    connect_raw,
    driver_errors,
    open_database,
    sqlcipher_dbapi,
)
from persistence.repository import Repository


@dataclass(frozen=True, slots=True)
class CheckResult:
    path: Path
    encrypted: bool
    schema_version: int
    integrity: tuple[str, ...]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.integrity == ("ok",)


@dataclass(frozen=True, slots=True)
class BackupResult:
    source: Path
    dest: Path
    pages: int
    check: CheckResult


def check(path: str | Path, password: str | None = None) -> CheckResult:
    """``integrity_check``, schema version and row counts. Raises if the file cannot be opened."""
    path = Path(path)
    db = open_database(path, password=password, readonly=True)
    try:
        version = migrations.user_version(db)
        try:
            integrity = tuple(str(r[0]) for r in db.execute_sql("PRAGMA integrity_check"))
            counts = Repository(db).counts()
        except driver_errors() as exc:
            integrity, counts = (str(exc).splitlines()[0],), {}
    finally:
        db.close()
    return CheckResult(path=path, encrypted=password is not None, schema_version=version,
                       integrity=integrity, counts=counts)


def migrate(path: str | Path, password: str | None = None) -> tuple[int, int]:
    """Create or migrate the store. Returns (version before, version after)."""
    path = Path(path)
    with acquire_lock(path):
        db = open_database(path, password=password, migrate=False)
        try:
            return migrations.migrate(db, where=str(path))
        finally:
            db.close()


def backup(path: str | Path, dest: str | Path, password: str | None = None) -> BackupResult:
    """Online copy through SQLite's backup API, then ``integrity_check`` on the copy.

    It reads one consistent snapshot while other processes keep writing (WAL). An encrypted
    store is copied encrypted, with the same password.
    """
    path, dest = Path(path), Path(dest)
    if dest.exists():
        raise InputError(f"backup destination {dest} already exists")
    db = open_database(path, password=password, readonly=True)
    try:
        _create_private(dest)
        try:
            target = connect_raw(dest, password=password)
            try:
                db.connection().backup(target)
                # A backup is one self-contained file: no -wal or -shm beside it.
                target.execute("PRAGMA journal_mode = DELETE")
                pages = int(target.execute("PRAGMA page_count").fetchone()[0])
            finally:
                target.close()
        except BaseException:
            _remove_with_sidecars(dest)
            raise
    except driver_errors() as exc:
        raise StoreError(f"backup of {path} to {dest} failed: {exc}") from None
    finally:
        db.close()
    return BackupResult(source=path, dest=dest, pages=pages, check=check(dest, password))


def vacuum(path: str | Path, password: str | None = None) -> tuple[int, int]:
    """Rebuild the file compactly. Returns its size in bytes (with its WAL) before and after."""
    path = Path(path)
    with acquire_lock(path):
        db = open_database(path, password=password, migrate=False)
        try:
            before = _size_with_wal(path)
            db.execute_sql("VACUUM")
            db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
    return before, _size_with_wal(path)


def encrypt(path: str | Path, new_password: str) -> CheckResult:
    """Convert a plain store into a SQLCipher one. Returns the check of the new file."""
    return _reencrypt(Path(path), None, new_password)


def rekey(path: str | Path, old_password: str, new_password: str) -> CheckResult:
    """Rotate the SQLCipher password. Returns the check of the new file."""
    if not old_password:
        raise InputError("rekey needs the current password in RATCHET_DB_PASSWORD")
    return _reencrypt(Path(path), old_password, new_password)


def _reencrypt(path: Path, old_password: str | None, new_password: str) -> CheckResult:
    if not new_password:
        raise InputError("the new password is empty: set RATCHET_DB_NEW_PASSWORD")
    dbapi2 = sqlcipher_dbapi()
    with acquire_lock(path):
        if not path.exists():
            raise StoreError(f"database {path} does not exist")
        db = open_database(path, password=old_password, migrate=False)
        try:
            version = migrations.user_version(db)
            counts = Repository(db).counts()
            db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
        tmp = path.with_name(path.name + ".reencrypt")
        _remove_with_sidecars(tmp)  # left over from an interrupted run; we hold the lock
        _create_private(tmp)
        try:
            _export(dbapi2, path, old_password, tmp, new_password, version)
            result = check(tmp, new_password)
            if not result.ok or result.schema_version != version or result.counts != counts:
                raise StoreError(
                    f"the re-encrypted copy of {path} did not verify; the original is unchanged"
                )
            _fsync(tmp)
            _drop_empty_wal(path)
            os.replace(tmp, path)
            _fsync(path.parent)
        except BaseException:
            _remove_with_sidecars(tmp)
            raise
        finally:
            for sidecar in _sidecars(tmp):
                with contextlib.suppress(FileNotFoundError):
                    sidecar.unlink()
    return dataclasses.replace(result, path=path)


def _export(dbapi2: Any, source: Path, old_password: str | None, dest: Path,
            new_password: str, version: int) -> None:
    conn = dbapi2.connect(str(source), isolation_level=None)
    try:
        conn.execute("PRAGMA cipher_log_level = NONE")
        if old_password is not None:
            conn.execute("PRAGMA key = '{}'".format(old_password.replace("'", "''")))
        conn.execute("ATTACH DATABASE ? AS target KEY ?", (str(dest), new_password))
        conn.execute("SELECT sqlcipher_export('target')")
        conn.execute(f"PRAGMA target.user_version = {int(version)}")
        conn.execute("DETACH DATABASE target")
    except dbapi2.Error as exc:
        raise StoreError(f"re-encrypting {source} failed: {exc}") from None
    finally:
        conn.close()


def _drop_empty_wal(path: Path) -> None:
    """Before the rename: the old file's WAL must be empty, and its -shm goes with it."""
    wal, shm = _sidecars(path)
    if wal.exists() and wal.stat().st_size > 0:
        raise StoreError(f"database {path} is still in use (its WAL is not empty)")
    for sidecar in (wal, shm):
        with contextlib.suppress(FileNotFoundError):
            sidecar.unlink()


def _sidecars(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _remove_with_sidecars(path: Path) -> None:
    for p in (path, *_sidecars(path)):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _create_private(path: Path) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise InputError(f"{path} already exists") from None
    except OSError as exc:
        raise StoreError(f"cannot create {path}: {exc.strerror}") from None
    os.fchmod(fd, 0o600)
    os.close(fd)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _size_with_wal(path: Path) -> int:
    wal = _sidecars(path)[0]
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
