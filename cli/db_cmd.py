"""``ratchet db {migrate,check,backup DEST,vacuum,encrypt,rekey} [-c PATH]``.

The database is ``[engine] db_path`` of the config (``var/ratchet.db`` when the config file does
not exist). The password of an encrypted store comes from ``RATCHET_DB_PASSWORD`` (or
``DB_PASSWORD``); ``encrypt`` and ``rekey`` take the new one from ``RATCHET_DB_NEW_PASSWORD``.
Passwords are never printed or logged.

Exit codes: 0 sound; 1 the store opens but fails ``integrity_check``; 2 it cannot be used as
asked (not SQLite, truncated, wrong password, newer schema, locked, read-only, bad arguments).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from core.config import load_config
from core.errors import EXIT_OK, EXIT_RUNTIME, InputError
from persistence import admin
from persistence.admin import CheckResult
from persistence.db import SCHEMA_VERSION, db_password_from_env

DEFAULT_DB_PATH = Path("var/ratchet.db")
NEW_PASSWORD_ENV = "RATCHET_DB_NEW_PASSWORD"

_PASSWORD_HELP = (
    "The password of an encrypted database is read from RATCHET_DB_PASSWORD (or DB_PASSWORD)."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    from cli.main import add_config_arg

    parser = subparsers.add_parser(
        "db", help="maintain the SQLite store",
        description="Maintain the SQLite store at [engine] db_path. " + _PASSWORD_HELP,
    )
    actions = parser.add_subparsers(dest="db_command", metavar="ACTION")
    actions.required = True

    def action(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text,
                                 description=f"{help_text}. {_PASSWORD_HELP}")
        add_config_arg(sub)
        sub.set_defaults(handler=handler)
        return sub

    action("migrate", _migrate, f"create the database or migrate it to schema v{SCHEMA_VERSION}")
    action("check", _check, "integrity_check, schema version and row counts "
           "(exit 0 sound, 1 damaged, 2 cannot be opened)")
    backup = action("backup", _backup, "online copy through SQLite's backup API, then "
                    "integrity_check on the copy (safe while the engine runs)")
    backup.add_argument("dest", metavar="DEST", help="the copy to create (must not exist)")
    action("vacuum", _vacuum, "rebuild the database file compactly (engine stopped)")
    action("encrypt", _encrypt, "convert a plain database to SQLCipher, with the password "
           f"in {NEW_PASSWORD_ENV}; the original is replaced only once the copy verifies")
    action("rekey", _rekey, "change the password from RATCHET_DB_PASSWORD to "
           f"{NEW_PASSWORD_ENV}; the original is replaced only once the copy verifies")


def _db_path_from_config(config_path: str | Path) -> Path:
    """``[engine] db_path`` of the config; the default path when the file does not exist.
    Only ``[engine]`` matters here: a config without ``[[pairs]]`` is fine."""
    config_path = Path(config_path)
    if not config_path.exists():
        return DEFAULT_DB_PATH
    return Path(load_config(config_path, need_keys=False, need_pairs=False).engine.db_path)


def _new_password() -> str:
    value = os.environ.get(NEW_PASSWORD_ENV, "")
    if not value:
        raise InputError(f"set {NEW_PASSWORD_ENV} to the new database password")
    return value


def _migrate(args: argparse.Namespace) -> int:
    path = _db_path_from_config(args.config)
    before, after = admin.migrate(path, db_password_from_env())
    if before == after:
        print(f"database {path} is at schema version {after}; nothing to migrate")
    else:
        print(f"database {path} migrated from schema version {before} to {after}")
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    result = admin.check(_db_path_from_config(args.config), db_password_from_env())
    _print_check(result)
    return EXIT_OK if result.ok else EXIT_RUNTIME


def _print_check(result: CheckResult) -> None:
    kind = "encrypted" if result.encrypted else "plain"
    version = f"{result.schema_version}"
    if result.schema_version < SCHEMA_VERSION:
        version += f" (this Ratchet uses {SCHEMA_VERSION}: run `ratchet db migrate`)"
    print(f"database: {result.path} ({kind})")
    print(f"schema_version: {version}")
    print(f"integrity_check: {'; '.join(result.integrity)}")
    print("rows: " + " ".join(f"{t}={n}" for t, n in result.counts.items()))


def _backup(args: argparse.Namespace) -> int:
    result = admin.backup(_db_path_from_config(args.config), args.dest, db_password_from_env())
    rows = " ".join(f"{t}={n}" for t, n in result.check.counts.items())
    print(f"backed up {result.source} to {result.dest}: {result.pages} pages, schema version "
          f"{result.check.schema_version}, {rows}; integrity_check of the copy: "
          f"{'; '.join(result.check.integrity)}")
    return EXIT_OK if result.check.ok else EXIT_RUNTIME


def _vacuum(args: argparse.Namespace) -> int:
    path = _db_path_from_config(args.config)
    before, after = admin.vacuum(path, db_password_from_env())
    print(f"vacuumed {path}: {before} bytes before, {after} after")
    return EXIT_OK


def _encrypt(args: argparse.Namespace) -> int:
    path = _db_path_from_config(args.config)
    if db_password_from_env() is not None:
        raise InputError(
            f"a database password is already set, so {path} is taken to be encrypted: "
            "use `ratchet db rekey`, or unset RATCHET_DB_PASSWORD and DB_PASSWORD"
        )
    result = admin.encrypt(path, _new_password())
    print(f"encrypted {path} ({_summary(result)}); "
          f"from now on set RATCHET_DB_PASSWORD to the new password")
    return EXIT_OK


def _rekey(args: argparse.Namespace) -> int:
    path = _db_path_from_config(args.config)
    old = db_password_from_env()
    if old is None:
        raise InputError("set RATCHET_DB_PASSWORD to the current database password")
    result = admin.rekey(path, old, _new_password())
    print(f"rekeyed {path} ({_summary(result)}); "
          f"from now on set RATCHET_DB_PASSWORD to the new password")
    return EXIT_OK


def _summary(result: CheckResult) -> str:
    rows = " ".join(f"{t}={n}" for t, n in result.counts.items())
    return f"schema version {result.schema_version}, {rows}, integrity_check ok"
