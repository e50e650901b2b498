"""Reading typed values out of a parsed TOML table, each error one line naming the file and
the dotted key (``ratchet.toml: pairs[2].trail_pct must be > 0 (got -1)``). The sections of
the config are ``core.config``'s; this is what every section uses."""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from core.errors import ConfigError

ENV_API_KEY = "RATCHET_API_KEY"
ENV_API_SECRET = "RATCHET_API_SECRET"
SECRET_KEYS = frozenset({"api_key", "api_secret"})


class Reader:
    """Typed reads of one TOML document from ``source``; relative paths resolve against the
    directory of the file."""

    def __init__(self, source: str, env: Mapping[str, str], need_keys: bool = True,
                 need_pairs: bool = True):
        self.source = source
        self.need_keys = need_keys
        self.need_pairs = need_pairs
        self.base_dir = Path(os.path.abspath(Path(source).parent))
        self.env = env

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {key} {problem}")

    # checks

    def table(self, data: dict[str, Any], name: str) -> dict[str, Any]:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(name, f"must be a table ([{name}])")
        return value

    def check_secrets(self, t: dict[str, Any], where: str) -> None:
        for key in t:
            if key in SECRET_KEYS:
                raise ConfigError(
                    f"{self.source}: {dotted(where, key)} is not allowed: secrets come from "
                    f"the environment ({ENV_API_KEY}, {ENV_API_SECRET})"
                )

    def check_keys(self, t: dict[str, Any], where: str, allowed: Any) -> None:
        self.check_secrets(t, where)
        for key in t:
            if key not in allowed:
                raise ConfigError(f"{self.source}: unknown key {dotted(where, key)}")

    def decimal(self, t: dict[str, Any], key: str, name: str, default: Decimal | None, *,
                gt: Decimal | int | None = None, ge: Decimal | int | None = None,
                lt: Decimal | int | None = None) -> Decimal:
        if name not in t:
            assert default is not None
            return default
        raw = t[name]
        if isinstance(raw, bool) or not isinstance(raw, Decimal | int | str):
            raise self.fail(key, f"must be a number (got {show(raw)})")
        try:
            value = Decimal(raw.strip()) if isinstance(raw, str) else Decimal(raw)
        except InvalidOperation:
            raise self.fail(key, f"must be a number (got {show(raw)})") from None
        if not value.is_finite():
            raise self.fail(key, f"must be a finite number (got {show(raw)})")
        if gt is not None and not value > gt:
            raise self.fail(key, f"must be > {gt} (got {show(raw)})")
        if ge is not None and not value >= ge:
            raise self.fail(key, f"must be >= {ge} (got {show(raw)})")
        if lt is not None and not value < lt:
            raise self.fail(key, f"must be < {lt} (got {show(raw)})")
        return value

    def integer(self, t: dict[str, Any], key: str, name: str, default: int) -> int:
        if name not in t:
            return default
        raw = t[name]
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise self.fail(key, f"must be an integer (got {show(raw)})")
        return raw

    def boolean(self, t: dict[str, Any], key: str, name: str, default: bool) -> bool:
        if name not in t:
            return default
        raw = t[name]
        if not isinstance(raw, bool):
            raise self.fail(key, f"must be true or false (got {show(raw)})")
        return raw

    def string(self, t: dict[str, Any], key: str, name: str, default: str, *,
               nonempty: bool = False) -> str:
        if name not in t:
            return default
        raw = t[name]
        if not isinstance(raw, str):
            raise self.fail(key, f"must be a string (got {show(raw)})")
        if nonempty and not raw.strip():
            raise self.fail(key, "must not be empty")
        return raw

    def choice(self, t: dict[str, Any], key: str, name: str, options: list[str],
               default: Any) -> Any:
        if name not in t:
            return default
        raw = t[name]
        if raw not in options:
            shown = " | ".join(f'"{o}"' for o in options)
            raise self.fail(key, f"must be one of {shown} (got {show(raw)})")
        return raw

    def path(self, t: dict[str, Any], key: str, name: str, default: Path | None) -> Any:
        if name not in t:
            return default if default is None else self.resolve(default)
        return self.resolve(Path(self.string(t, key, name, "", nonempty=True)))

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else Path(os.path.normpath(self.base_dir / path))

    def url(self, t: dict[str, Any], key: str, name: str, schemes: tuple[str, ...]) -> str | None:
        if name not in t:
            return None
        from urllib.parse import urlsplit

        value = self.string(t, key, name, "", nonempty=True)
        try:
            parts = urlsplit(value)
            ok = parts.scheme in schemes and bool(parts.hostname)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            ok = False
        if not ok:
            shown = " or ".join(f"{s}://" for s in schemes)
            raise self.fail(key, f"must be a {shown} URL (got {show(value)})")
        return value.rstrip("/")


def dotted(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def show(value: Any) -> str:
    """A value as TOML would spell it, for error messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return str(value)
