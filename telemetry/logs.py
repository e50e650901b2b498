"""Structured logs on the stdlib ``logging`` module.

One record is one line: ``key=value`` pairs by default, or one JSON object with ``fmt="json"``.
Every line starts with ``ts``, ``level``, ``logger`` and ``event``; the event's fields follow.
Decimals are written as their exact strings, never as floats.

    configure_logging("kv")
    log_order_event(log, "order_accepted", symbol="BTCUSDT", client_order_id="rt7f3a-4",
                    state="NEW", price=Decimal("46319.5"))
    # ts=2026-07-01T12:00:00.000Z level=info logger=ratchet.pair event=order_accepted
    #   symbol=BTCUSDT client_order_id=rt7f3a-4 state=NEW price=46319.5

Records from other libraries (pykka, python-binance, urllib3) get ``event=log`` and their text in
``msg``. As defence in depth, the value of any secret environment variable
(``SECRET_ENV_VARS``) is replaced by ``***`` wherever it would appear in a line.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, TextIO

SECRET_ENV_VARS = ("RATCHET_API_KEY", "RATCHET_API_SECRET", "RATCHET_DB_PASSWORD", "DB_PASSWORD")
REDACTED = "***"

_FIELDS_ATTR = "ratchet_fields"
_EVENT_ATTR = "ratchet_event"
_RESERVED = frozenset({"ts", "level", "logger", "event", "msg", "exc"})
_HANDLER_NAME = "ratchet-structured"


def secret_values() -> list[str]:
    """The non-empty values of the secret env vars, longest first (so no partial leaks)."""
    values = {os.environ.get(name, "") for name in SECRET_ENV_VARS}
    return sorted((v for v in values if v), key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every secret env value replaced by ``***``."""
    return _replace_all(text, secret_values())


def log_event(logger: logging.Logger, event: str, /, *, level: int = logging.INFO,
              **fields: Any) -> None:
    """Log one structured event. ``fields`` become key=value pairs (or JSON members).

    A field named like a reserved key (ts, level, logger, event, msg, exc) is written as
    ``field_<name>`` rather than overwriting it.
    """
    if logger.isEnabledFor(level):
        logger.log(level, event, extra={_EVENT_ATTR: event, _FIELDS_ATTR: fields})


def log_order_event(logger: logging.Logger, event: str, /, *, symbol: str, client_order_id: str,
                    state: Any, level: int = logging.INFO, **fields: Any) -> None:
    """Log an order event: it always carries its symbol, client order id and state."""
    log_event(logger, event, level=level, symbol=symbol, client_order_id=client_order_id,
              state=state, **fields)


class RedactSecrets(logging.Filter):
    """Rewrites a record so that no secret env value survives in its message or fields, for
    whatever formatter the handler has."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = secret_values()
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: the handler reports it, as logging does
            return True
        record.msg, record.args = _replace_all(message, secrets), None
        fields = getattr(record, _FIELDS_ATTR, None)
        if fields:
            setattr(record, _FIELDS_ATTR,
                    {key: _clean(value, secrets) for key, value in fields.items()})
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _replace_all(record.exc_text, secrets)
            record.exc_info = None
        return True


class _StructuredFormatter(logging.Formatter):
    """Collects a record's pairs; subclasses render them as one line."""

    def format(self, record: logging.LogRecord) -> str:
        pairs: dict[str, Any] = {
            "ts": _utc_timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        event = getattr(record, _EVENT_ATTR, None)
        if event is None:
            pairs["event"] = "log"
            pairs["msg"] = record.getMessage()
        else:
            pairs["event"] = event
        for key, value in (getattr(record, _FIELDS_ATTR, None) or {}).items():
            pairs[f"field_{key}" if key in _RESERVED else key] = value
        if record.exc_info:
            pairs["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            pairs["exc"] = record.exc_text
        # Plain values first (an object's str() may hold a secret), then redact, then render:
        # JSON or kv quoting could otherwise escape a secret past the final replace.
        secrets = secret_values()
        pairs = {key: _clean(value, secrets) for key, value in pairs.items()}
        line = self.render(pairs)
        return _replace_all(line, secrets) if secrets else line

    def render(self, pairs: Mapping[str, Any]) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


class KeyValueFormatter(_StructuredFormatter):
    """``key=value`` pairs separated by spaces; values with spaces or quotes are JSON-quoted."""

    def render(self, pairs: Mapping[str, Any]) -> str:
        return " ".join(f"{key}={_kv_value(value)}" for key, value in pairs.items())


class JsonFormatter(_StructuredFormatter):
    """One JSON object per line."""

    def render(self, pairs: Mapping[str, Any]) -> str:
        return json.dumps(pairs, default=str, ensure_ascii=False, separators=(",", ":"))


def configure_logging(fmt: Literal["kv", "json"] = "kv", level: str | int = "INFO",
                      stream: TextIO | None = None) -> logging.Handler:
    """Send every log record to ``stream`` (stderr by default) as structured lines.

    Idempotent: a handler installed by an earlier call is replaced, others are left alone.
    """
    return _install(logging.StreamHandler(stream if stream is not None else sys.stderr), fmt,
                    level)


#: ``configure_file_logging``'s rotation: 10 MiB a file, 5 old files kept.
LOG_FILE_BYTES = 10 * 1024 * 1024
LOG_FILE_BACKUPS = 5


def configure_file_logging(path: str | os.PathLike, fmt: Literal["kv", "json"] = "kv",
                           level: str | int = "INFO", *, max_bytes: int = LOG_FILE_BYTES,
                           backups: int = LOG_FILE_BACKUPS) -> logging.Handler:
    """Send every log record to the file ``path`` instead, the same lines, rotated
    (``RotatingFileHandler``: ``path``, ``path.1`` ... ``path.<backups>``). The file is created
    with mode 0600, like the DB. Replaces the handler of an earlier ``configure_*`` call."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.close(fd)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes,
                                                   backupCount=backups, encoding="utf-8")
    return _install(handler, fmt, level)


def event_of(record: logging.LogRecord) -> tuple[str, Mapping[str, Any]] | None:
    """``(event, fields)`` of a record logged by ``log_event``, or None for any other record."""
    event = getattr(record, _EVENT_ATTR, None)
    if event is None:
        return None
    return event, getattr(record, _FIELDS_ATTR, None) or {}


def _install(handler: logging.Handler, fmt: str, level: str | int) -> logging.Handler:
    if fmt not in ("kv", "json"):
        raise ValueError(f"log format must be 'kv' or 'json', not {fmt!r}")
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler


def _replace_all(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def _utc_timestamp(created: float) -> str:
    moment = datetime.fromtimestamp(created, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _plain(value: Any) -> Any:
    """A JSON-ready form of a field value: Decimals and enums as strings, times as ISO 8601."""
    if isinstance(value, Enum):
        return value.value if isinstance(value.value, str | int) else value.name
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def _clean(value: Any, secrets: list[str]) -> Any:
    """A JSON-ready copy of ``value`` (containers walked) with every secret replaced."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v, secrets) for v in value]
    plain = _plain(value)
    return _replace_all(plain, secrets) if isinstance(plain, str) else plain


def _kv_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
    if text == "" or any(c in text for c in ' "=\\\n\r\t') or not text.isprintable():
        return json.dumps(text, ensure_ascii=False)
    return text
