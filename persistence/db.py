"""Opening the SQLite store, and the lock file that keeps a second engine off it.

``open_database`` checks a file before it writes anything to it: it reads the header and then
the schema version through a read-only connection. A file it refuses (not SQLite, truncated,
wrong password, newer schema, read-only) is left byte-identical, and the error is one line
naming the path. Only then does it open the read-write connection (``foreign_keys``,
``busy_timeout``, ``synchronous``) in the calling thread, run the migrations, and switch the
file to WAL (after migrating, so that a migration which fails leaves a legacy file as it was).
"""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from peewee import Database, SqliteDatabase
from peewee import DatabaseError as PeeweeDatabaseError

from core.errors import DatabaseLocked, StoreError, StoreUnavailable, WrongPassword
from persistence import migrations
from persistence.migrations import SCHEMA_VERSION, check_not_newer

__all__ = [
    "SCHEMA_VERSION", "DbLock", "acquire_lock", "check_file", "connect_raw",
    "db_password_from_env", "driver_errors", "open_database", "sqlcipher_dbapi",
]

SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 5000
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
PASSWORD_ENV = ("RATCHET_DB_PASSWORD", "DB_PASSWORD")


def db_password_from_env(env: Mapping[str, str] = os.environ) -> str | None:
    """The SQLCipher password: ``RATCHET_DB_PASSWORD``, else the ADR's ``DB_PASSWORD``."""
    for name in PASSWORD_ENV:
        value = env.get(name)
        if value:
            return value
    return None


def open_database(
    path: str | Path,
    *,
    password: str | None = None,
    readonly: bool = False,
    synchronous: str = "FULL",
    migrate: bool = True,
) -> Database:
    """Open (or create, mode 0600) the store at ``path`` and connect in the calling thread.

    Raises ``SchemaTooNew``, ``WrongPassword`` or ``StoreError``; a refused file is unchanged.
    ``readonly`` opens a ``mode=ro`` URI: it never writes and never migrates, and may run while
    the engine writes (WAL).
    """
    path = Path(path)
    sync = _synchronous(synchronous)
    exists = path.exists()
    if readonly and not exists:
        raise StoreError(f"database {path} does not exist")
    if exists:
        check_file(path, password=password)
    if not readonly:
        _check_writable(path, exists)
        if not exists:
            _create_file(path)
    db = _database(path, password=password, readonly=readonly, synchronous=sync)
    try:
        db.connect()
        if not readonly:
            if migrate:
                migrations.migrate(db, where=str(path))
            # WAL after migrating: a migration that fails leaves a rollback-mode file as it was.
            mode = db.execute_sql("PRAGMA journal_mode = wal").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"database {path} cannot use WAL (journal_mode is {mode})")
    except StoreError:
        db.close()
        raise
    except (*driver_errors(), OSError) as exc:
        db.close()
        raise StoreError(f"database {path} cannot be opened: {_reason(exc)}") from None
    return db


def check_file(path: Path, *, password: str | None) -> int:
    """Check an existing file without writing to it; returns its schema version."""
    header, size = _read_header(path)
    if size == 0:
        return 0  # an empty file is an empty database
    if header.startswith(SQLITE_MAGIC):
        if password is not None:
            raise StoreError(
                f"database {path} is not encrypted, but a database password is set "
                f"(unset {PASSWORD_ENV[0]}, or run `ratchet db encrypt`)"
            )
        _check_size(path, header, size)
    elif password is None:
        raise StoreError(
            f"{path} is not a SQLite database (if it is encrypted, set {PASSWORD_ENV[0]})"
        )
    version = _probe(path, password)
    check_not_newer(version, str(path))
    return version


def connect_raw(path: str | Path, *, password: str | None = None, readonly: bool = False,
                immutable: bool = False) -> Any:
    """A DB-API connection (sqlite3, or sqlcipher3 when ``password`` is set), autocommit.

    ``immutable`` (read-only only) reads without locks or ``-shm``: nothing is created beside
    the file. Use it only when no ``-wal`` exists, i.e. the main file holds every page.
    """
    target = _ro_uri(Path(path), immutable=immutable) if readonly else str(path)
    if password is None:
        conn = sqlite3.connect(target, uri=readonly, isolation_level=None,
                               timeout=BUSY_TIMEOUT_MS / 1000)
        return conn
    dbapi2 = sqlcipher_dbapi()
    conn = dbapi2.connect(target, uri=readonly, isolation_level=None)
    try:
        # SQLCipher otherwise logs a wrong key to stderr; our error is the one line shown.
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(f"PRAGMA key = '{_quote(password)}'")
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    except Exception:
        conn.close()
        raise
    return conn


def driver_errors() -> tuple[type[Exception], ...]:
    """The DB-API error classes of every driver in use (sqlite3, sqlcipher3 if installed)."""
    try:
        return (sqlite3.Error, sqlcipher_dbapi().Error, PeeweeDatabaseError)
    except StoreError:
        return (sqlite3.Error, PeeweeDatabaseError)


# --- the lock file ------------------------------------------------------------------------


class DbLock:
    """An exclusive ``flock`` on ``<db>.lock``; released by ``release()`` or on process exit."""

    def __init__(self, db_path: Path, lock_path: Path, fd: int):
        self.db_path = db_path
        self.lock_path = lock_path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> DbLock:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def acquire_lock(db_path: str | Path) -> DbLock:
    """Lock the database for this process, or raise ``DatabaseLocked`` naming the holder's pid.

    The lock file is kept after release: deleting it would let two processes lock two
    different files of the same name.
    """
    given = Path(db_path)
    # The lock belongs to the file itself, not to the name it was given: a symlink or a
    # path through a linked directory locks the same lock file as the real path.
    db_path = Path(os.path.realpath(given))
    lock_path = db_path.with_name(db_path.name + ".lock")
    try:
        _ensure_parent(db_path)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise _os_failure(f"cannot lock database {given}", exc, db_path) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        where = str(given) if db_path == given else f"{given} ({db_path})"
        raise DatabaseLocked(f"database {where} is in use by pid {holder}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return DbLock(db_path, lock_path, fd)


# --- helpers ------------------------------------------------------------------------------


def _synchronous(value: str) -> str:
    mode = str(value).upper()
    if mode not in SYNCHRONOUS_MODES:
        raise StoreError(f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}, not {value!r}")
    return mode


def _database(path: Path, *, password: str | None, readonly: bool, synchronous: str) -> Database:
    pragmas: list[tuple[str, Any]] = [("busy_timeout", BUSY_TIMEOUT_MS)]
    if not readonly:
        pragmas += [("foreign_keys", 1), ("synchronous", synchronous)]
    target = _ro_uri(path) if readonly else str(path)
    params: dict[str, Any] = {"pragmas": pragmas}
    if readonly:
        params["uri"] = True
    if password is None:
        return SqliteDatabase(target, timeout=BUSY_TIMEOUT_MS / 1000, **params)
    sqlcipher_dbapi()
    from playhouse.sqlcipher_ext import SqlCipherDatabase

    return SqlCipherDatabase(target, passphrase=password, **params)


def _ro_uri(path: Path, *, immutable: bool = False) -> str:
    return f"file:{quote(str(path.absolute()))}?mode=ro" + ("&immutable=1" if immutable else "")


def sqlcipher_dbapi() -> Any:
    """The sqlcipher3 DB-API module, or a ``StoreError`` saying how to install it."""
    try:
        from sqlcipher3 import dbapi2
    except ImportError:
        raise StoreError(
            "an encrypted database needs sqlcipher3: pip install 'ratchet[encryption]'"
        ) from None
    return dbapi2


def _quote(text: str) -> str:
    return text.replace("'", "''")


def _read_header(path: Path) -> tuple[bytes, int]:
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            return f.read(100), size
    except IsADirectoryError:
        raise StoreError(f"database {path} is a directory") from None
    except OSError as exc:
        raise StoreError(f"database {path} cannot be read: {exc.strerror}") from None


def _check_size(path: Path, header: bytes, size: int) -> None:
    """Refuse a file shorter than its own header says (a truncated copy)."""
    if len(header) < 100:
        raise StoreError(f"database {path} is truncated ({size} bytes)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise StoreError(f"database {path} has a corrupt header")
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        return  # pages may still live in the WAL (e.g. an interrupted checkpoint)
    pages = int.from_bytes(header[28:32], "big")
    header_valid = header[24:28] == header[92:96]
    if size % page_size or (header_valid and pages * page_size > size):
        raise StoreError(f"database {path} is truncated ({size} bytes)")


def _probe(path: Path, password: str | None) -> int:
    """Read the schema and ``user_version`` through a read-only connection.

    Without a ``-wal`` the main file is complete, so it is read as immutable and no ``-wal`` or
    ``-shm`` is left beside a file we refuse.
    """
    immutable = not path.with_name(path.name + "-wal").exists()
    try:
        conn = connect_raw(path, password=password, readonly=True, immutable=immutable)
    except driver_errors() as exc:
        raise StoreError(f"database {path} cannot be opened: {_reason(exc)}") from None
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    except driver_errors() as exc:
        if password is not None and "not a database" in str(exc):
            raise WrongPassword(
                f"wrong password for database {path} (or it is not a Ratchet database)"
            ) from None
        raise StoreError(f"database {path} cannot be read: {_reason(exc)}") from None
    finally:
        conn.close()


def _check_writable(path: Path, exists: bool) -> None:
    try:
        _ensure_parent(path)
    except OSError as exc:
        raise _os_failure(f"cannot create database {path}", exc, path) from None
    if _read_only_filesystem(path):
        raise StoreUnavailable(f"database {path}: its filesystem is mounted read-only")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise StoreError(
            f"database {path}: directory {path.parent} is not writable "
            "(WAL keeps -wal and -shm files beside the database)"
        )
    if exists and not os.access(path, os.R_OK | os.W_OK):
        raise StoreError(f"database {path} is read-only")


def _ensure_parent(path: Path) -> None:
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)


def _create_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise _os_failure(f"cannot create database {path}", exc, path) from None
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
    finally:
        os.close(fd)


# The environment, not the input: a restart once the disk is repaired may succeed.
_UNAVAILABLE_ERRNOS = frozenset({errno.EROFS, errno.ENOSPC, errno.EIO, errno.EDQUOT})


def _os_failure(what: str, exc: OSError, path: Path) -> StoreError | StoreUnavailable:
    """``StoreUnavailable`` for a read-only or full disk or an I/O error, else ``StoreError``."""
    if exc.errno in _UNAVAILABLE_ERRNOS or _read_only_filesystem(path):
        return StoreUnavailable(f"{what}: {exc.strerror}")
    return StoreError(f"{what}: {exc.strerror}")


def _read_only_filesystem(path: Path) -> bool:
    """Whether the filesystem that holds (or would hold) ``path`` is mounted read-only."""
    for candidate in (path, *path.parents):
        try:
            return bool(os.statvfs(candidate).f_flag & os.ST_RDONLY)
        except OSError:
            continue
    return False


def _reason(exc: BaseException) -> str:
    # The error that started it: when a write fails for a full disk SQLite rolls back by
    # itself, and the ROLLBACK that follows fails with "no transaction is active".
    while isinstance(exc.__context__, Exception):
        exc = exc.__context__
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
